// Gateway dispatches → store updates. One function per event name, looked up in a table.

/** @typedef {import("./store.js").Store} Store */

const handlers = {
  READY(store, d) {
    store.me = { ...store.me, ...d.user };
    store.setPresence(d.user.id, "online");
    store.reads.reset(d.read_state);
  },
  GUILD_CREATE(store, d) {
    if (!d.unavailable) store.upsertGuild(d);
  },
  GUILD_UPDATE(store, d) {
    if (store.guilds.has(d.id)) store.upsertGuild(d);
  },
  GUILD_DELETE(store, d) {
    // unavailable: true is an outage, not a removal; keep what we know.
    if (!d.unavailable) store.removeGuild(d.id);
  },
  CHANNEL_CREATE(store, d) {
    if (d.guild_id) store.upsertChannel(d);
  },
  CHANNEL_UPDATE(store, d) {
    if (d.guild_id) store.upsertChannel(d);
  },
  CHANNEL_DELETE(store, d) {
    if (d.guild_id) store.removeChannel(d);
  },
  THREAD_CREATE(store, d) {
    if (d.guild_id) store.upsertChannel(d);
  },
  THREAD_UPDATE(store, d) {
    if (d.guild_id) store.upsertChannel(d);
  },
  THREAD_DELETE(store, d) {
    if (d.guild_id) store.removeChannel(d);
  },
  THREAD_LIST_SYNC(store, d) {
    store.upsertThreads(d.guild_id, d.threads || []);
  },
  APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE(store, d) {
    store.emit("autocomplete", d); // the "/" picker matches it to its request by nonce
  },
  INTERACTION_MODAL_CREATE(store, d) {
    // A bot answered my interaction with a modal: the app opens it.
    store.emit("modal", { modal: d });
  },
  GUILD_MEMBER_ADD(store, d) {
    store.upsertMember(d.guild_id, d);
  },
  GUILD_MEMBER_UPDATE(store, d) {
    store.upsertMember(d.guild_id, d);
  },
  GUILD_MEMBER_REMOVE(store, d) {
    if (store.me && d.user.id === store.me.id) store.removeGuild(d.guild_id);
    else store.removeMember(d.guild_id, d.user.id);
  },
  GUILD_MEMBERS_CHUNK(store, d) {
    const guild = store.guilds.get(d.guild_id);
    if (guild) store.setMembers(guild, d.members);
    for (const p of d.presences || []) store.setPresence(p.user.id, p.status);
  },
  PRESENCE_UPDATE(store, d) {
    store.setPresence(d.user.id, d.status);
  },
  MESSAGE_CREATE(store, d) {
    store.addMessage(d);
    store.reads.noteMessage(d);
  },
  MESSAGE_ACK(store, d) {
    store.reads.applyAck(d.channel_id, d.message_id, d.mention_count || 0);
  },
  MESSAGE_UPDATE(store, d) {
    store.updateMessage(d);
  },
  MESSAGE_DELETE(store, d) {
    store.removeMessage(d.channel_id, d.id);
  },
  MESSAGE_DELETE_BULK(store, d) {
    for (const id of d.ids) store.removeMessage(d.channel_id, id);
  },
  MESSAGE_REACTION_ADD(store, d) {
    store.react(d.channel_id, d.message_id, d.emoji, d.user_id, 1);
  },
  MESSAGE_REACTION_REMOVE(store, d) {
    store.react(d.channel_id, d.message_id, d.emoji, d.user_id, -1);
  },
  MESSAGE_REACTION_REMOVE_ALL(store, d) {
    store.clearReactions(d.channel_id, d.message_id);
  },
  MESSAGE_REACTION_REMOVE_EMOJI(store, d) {
    store.clearReactions(d.channel_id, d.message_id, d.emoji);
  },
  CHANNEL_PINS_UPDATE(store, d) {
    store.emit("pins", { channelId: d.channel_id });
  },
  GUILD_ROLE_CREATE(store, d) {
    store.setRole(d.guild_id, d.role.id, d.role);
  },
  GUILD_ROLE_UPDATE(store, d) {
    store.setRole(d.guild_id, d.role.id, d.role);
  },
  GUILD_ROLE_DELETE(store, d) {
    store.setRole(d.guild_id, d.role_id, null);
  },
  TYPING_START(store, d) {
    const user = d.member?.user || store.userById(d.user_id, d.guild_id);
    const name = user ? store.displayName(user, d.guild_id) : "Someone";
    store.startTyping(d.channel_id, d.user_id, name);
  },
};

/** Apply one dispatch to the store (unknown events are ignored, as Discord clients do). */
export function applyDispatch(store, t, d) {
  const handler = handlers[t];
  if (handler) handler(store, d);
}
