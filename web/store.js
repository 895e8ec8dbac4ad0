// The client's state: what the server said, in plain Maps, and events saying what changed.
// Nothing here touches the DOM; views listen for the kinds of change they draw.
//
// Events (CustomEvent detail):
//   "guilds"    the guild list changed
//   "guild"     {guildId}: name, channels or roles of one guild changed
//   "members"   {guildId}: members of one guild changed
//   "presence"  {userId}
//   "messages"  {channelId, kind: "reset"|"prepend"|"insert"|"update"|"remove", ...}
//   "typing"    {channelId}
//   "unread"    {channelId}
//   "pins"      {channelId}: the channel's pins changed (CHANNEL_PINS_UPDATE)
//   "modal"     {modal}: a bot opened a modal for me (INTERACTION_MODAL_CREATE)
//   "autocomplete" {nonce, choices}: a bot's choices for an option I am typing

import { compareIds } from "./ids.js";
import { Permission, canModerate, channelPermissions, guildPermissions } from "./permissions.js";
import { ReadStates } from "./readstates.js";

/** Channel types drawn (Discord's numbers). */
export const ChannelType = Object.freeze({ GUILD_TEXT: 0, DM: 1, GUILD_VOICE: 2, GUILD_CATEGORY: 4,
  ANNOUNCEMENT_THREAD: 10, PUBLIC_THREAD: 11, PRIVATE_THREAD: 12 });

/** Whether a channel object is a thread (its parent_id is the text channel it belongs to). */
export function isThread(channel) {
  return channel?.type === ChannelType.PUBLIC_THREAD || channel?.type === ChannelType.PRIVATE_THREAD
    || channel?.type === ChannelType.ANNOUNCEMENT_THREAD;
}
// How long a typing indicator lasts without a new TYPING_START (Discord's client: ~10 s).
export const TYPING_MS = 10000;

/** What tells two emojis apart: a custom emoji's id, else the unicode text. */
export function emojiKey(emoji) {
  return emoji?.id || emoji?.name || "";
}

/** The messages of one channel, oldest first; pending sends (no id yet) after them. */
class History {
  constructor() {
    this.messages = [];
    this.byId = new Map();
    this.pending = new Map(); // nonce → pending message
    this.loaded = false; // the newest page was read: live events may be appended
    this.hasMore = true; // older messages may exist
    this.loading = false;
    this.loadError = false; // an older page failed: no automatic retry until asked
    this.buffer = []; // MESSAGE_CREATEs received while the first page loads
  }
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.me = null;
    this.guilds = new Map();
    this.guildOrder = [];
    this.presences = new Map();
    this.histories = new Map();
    this.typing = new Map(); // channel id → Map(user id → {name, until})
    this.unread = new Set(); // channels drawn bold: kept by ``reads``
    this.reads = new ReadStates(this);
    this.currentChannelId = null;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // -- guilds ------------------------------------------------------------------------------

  /** Add or merge a guild (REST partial guild, full guild or GUILD_CREATE). */
  upsertGuild(data) {
    let guild = this.guilds.get(data.id);
    if (!guild) {
      guild = { id: data.id, name: data.name, icon: null, ownerId: null, roles: new Map(),
        channels: new Map(), members: new Map(), complete: false, large: false };
      this.guilds.set(data.id, guild);
      this.guildOrder.push(data.id);
    }
    guild.name = data.name ?? guild.name;
    guild.icon = data.icon ?? guild.icon;
    guild.ownerId = data.owner_id ?? guild.ownerId;
    if (data.owner === true && this.me) guild.ownerId = this.me.id;
    if (Array.isArray(data.roles)) guild.roles = new Map(data.roles.map((r) => [r.id, r]));
    if (Array.isArray(data.channels)) this.setChannels(guild, data.channels, false);
    if (Array.isArray(data.members)) this.setMembers(guild, data.members, false);
    for (const p of data.presences || []) this.presences.set(p.user.id, p.status);
    if (data.large !== undefined) guild.large = data.large;
    if (data.members) guild.complete = true;
    this.emit("guilds");
    this.emit("guild", { guildId: guild.id });
    this.emit("members", { guildId: guild.id });
    return guild;
  }

  removeGuild(guildId) {
    if (!this.guilds.delete(guildId)) return;
    this.guildOrder = this.guildOrder.filter((id) => id !== guildId);
    this.emit("guilds");
  }

  setChannels(guild, channels, notify = true) {
    const old = guild.channels;
    guild.channels = new Map(channels.map((c) => [c.id, { ...c, guild_id: guild.id }]));
    // Channel lists (REST, GUILD_CREATE) hold no threads: keep those known, of parents still there.
    for (const c of old.values()) {
      if (isThread(c) && guild.channels.has(c.parent_id) && !guild.channels.has(c.id)) guild.channels.set(c.id, c);
    }
    if (notify) this.emit("guild", { guildId: guild.id });
  }

  /** Threads read over REST (GET /guilds/{id}/threads/active) or THREAD_LIST_SYNC. */
  upsertThreads(guildId, threads) {
    const guild = this.guilds.get(guildId);
    if (!guild || !threads.length) return;
    for (const t of threads) guild.channels.set(t.id, { ...guild.channels.get(t.id), ...t, guild_id: guildId });
    this.emit("guild", { guildId });
  }

  /** A channel's threads listed under it: the active ones, oldest first (and `keep`, the
   * open one, even once archived). */
  threadsOf(guildId, parentId, keep = null) {
    const guild = this.guilds.get(guildId);
    if (!guild) return [];
    return [...guild.channels.values()]
      .filter((c) => isThread(c) && c.parent_id === parentId && (!c.thread_metadata?.archived || c.id === keep))
      .sort((a, b) => compareIds(a.id, b.id));
  }

  upsertChannel(channel) {
    const guild = this.guilds.get(channel.guild_id);
    if (!guild) return;
    guild.channels.set(channel.id, { ...guild.channels.get(channel.id), ...channel });
    this.emit("guild", { guildId: guild.id });
  }

  removeChannel(channel) {
    const guild = this.guilds.get(channel.guild_id);
    if (guild && guild.channels.delete(channel.id)) this.emit("guild", { guildId: guild.id });
    this.histories.delete(channel.id);
  }

  /** The text channels of a guild in the order they are listed, grouped by category. */
  channelTree(guildId) {
    const guild = this.guilds.get(guildId);
    if (!guild) return [];
    const byPos = (a, b) => (a.position ?? 0) - (b.position ?? 0) || compareIds(a.id, b.id);
    const all = [...guild.channels.values()];
    const text = all.filter((c) => c.type === ChannelType.GUILD_TEXT);
    const cats = all.filter((c) => c.type === ChannelType.GUILD_CATEGORY).sort(byPos);
    const known = new Set(cats.map((c) => c.id));
    const top = { category: null, channels: text.filter((c) => !known.has(c.parent_id)).sort(byPos) };
    const groups = cats.map((cat) => ({ category: cat, channels: text.filter((c) => c.parent_id === cat.id).sort(byPos) }));
    return [top, ...groups].filter((g) => g.category || g.channels.length);
  }

  channel(channelId) {
    for (const guild of this.guilds.values()) {
      const c = guild.channels.get(channelId);
      if (c) return c;
    }
    return null;
  }

  /** Whether I may manage channels in a guild (owner, or a role with ADMINISTRATOR or
   * MANAGE_CHANNELS); the server decides in the end, this only hides useless buttons. */
  canManageChannels(guildId) {
    return Boolean(guildPermissions(this.guilds.get(guildId), this.me?.id) & Permission.MANAGE_CHANNELS);
  }

  /** Whether I hold `permission` in a channel (its guild's roles and its overwrites; a
   * thread has its parent's). */
  can(channelId, permission) {
    let channel = this.channel(channelId);
    if (isThread(channel)) channel = this.channel(channel.parent_id);
    const guild = channel && this.guilds.get(channel.guild_id);
    return Boolean(guild && channelPermissions(guild, channel, this.me?.id) & permission);
  }

  /** Whether I may kick (KICK_MEMBERS) or ban (BAN_MEMBERS) a member of a guild. */
  canModerate(guildId, userId, permission) {
    return canModerate(this.guilds.get(guildId), this.me?.id, userId, permission);
  }

  /** GUILD_ROLE_CREATE / _UPDATE, or DELETE with `role` null. */
  setRole(guildId, roleId, role) {
    const guild = this.guilds.get(guildId);
    if (!guild) return;
    if (role) guild.roles.set(roleId, role);
    else guild.roles.delete(roleId);
    this.emit("guild", { guildId });
    this.emit("members", { guildId });
  }

  // -- members and presence ----------------------------------------------------------------

  setMembers(guild, members, notify = true) {
    for (const m of members) if (m.user) guild.members.set(m.user.id, m);
    if (notify) this.emit("members", { guildId: guild.id });
  }

  upsertMember(guildId, member) {
    const guild = this.guilds.get(guildId);
    if (!guild || !member.user) return;
    guild.members.set(member.user.id, { ...guild.members.get(member.user.id), ...member });
    this.emit("members", { guildId });
  }

  removeMember(guildId, userId) {
    const guild = this.guilds.get(guildId);
    if (guild && guild.members.delete(userId)) this.emit("members", { guildId });
  }

  setPresence(userId, status) {
    if (this.presences.get(userId) === status) return;
    this.presences.set(userId, status);
    this.emit("presence", { userId });
  }

  status(userId) {
    return this.presences.get(userId) || "offline";
  }

  /** The name shown for a user in a guild: nickname, then display name, then username. */
  displayName(user, guildId) {
    if (!user) return "Unknown";
    const member = guildId ? this.guilds.get(guildId)?.members.get(user.id) : null;
    return member?.nick || user.global_name || user.username;
  }

  userById(userId, guildId) {
    if (this.me && this.me.id === userId) return this.me;
    const guild = guildId && this.guilds.get(guildId);
    return guild?.members.get(userId)?.user || null;
  }

  // -- messages ----------------------------------------------------------------------------

  history(channelId) {
    let h = this.histories.get(channelId);
    if (!h) {
      h = new History();
      this.histories.set(channelId, h);
    }
    return h;
  }

  /** A page read with GET /messages (newest first, as Discord sends it). */
  addPage(channelId, page, { older, limit }) {
    const h = this.history(channelId);
    const limitHit = page.length >= limit; // a short page is the beginning of the channel
    const sorted = [...page].sort((a, b) => compareIds(a.id, b.id));
    if (older) {
      const fresh = sorted.filter((m) => !h.byId.has(m.id));
      for (const m of fresh) h.byId.set(m.id, m);
      h.messages = [...fresh, ...h.messages];
      h.hasMore = limitHit;
      this.emit("messages", { channelId, kind: "prepend", messages: fresh });
      return;
    }
    // The newest page: after a gap (a new session, not a resume) it replaces what we had.
    h.messages = sorted;
    h.byId = new Map(sorted.map((m) => [m.id, m]));
    h.loaded = true;
    h.hasMore = limitHit;
    this.emit("messages", { channelId, kind: "reset" });
    const buffered = h.buffer;
    h.buffer = [];
    for (const m of buffered) this.addMessage(m);
  }

  /** MESSAGE_CREATE, or the answer to our own POST (whichever comes first wins). */
  addMessage(message) {
    const channelId = message.channel_id;
    this.stopTyping(channelId, message.author.id);
    const h = this.histories.get(channelId);
    if (h && message.nonce && h.pending.delete(message.nonce)) {
      this.emit("messages", { channelId, kind: "remove", key: `nonce:${message.nonce}` });
    }
    if (!h || !h.loaded) {
      // Its first page is on the way: keep the event, the page may be older than it.
      if (h && h.loading) h.buffer.push(message);
      return;
    }
    if (h.byId.has(message.id)) {
      this.updateMessage(message);
      return;
    }
    h.byId.set(message.id, message);
    let i = h.messages.length;
    while (i > 0 && compareIds(h.messages[i - 1].id, message.id) > 0) i--;
    h.messages.splice(i, 0, message);
    const next = h.messages[i + 1]?.id ?? null;
    this.emit("messages", { channelId, kind: "insert", message, next });
  }

  /** MESSAGE_UPDATE (partial or whole) or the answer to our PATCH. */
  updateMessage(partial) {
    const h = this.histories.get(partial.channel_id);
    const old = h?.byId.get(partial.id);
    if (!old) return;
    const merged = { ...old, ...partial };
    h.byId.set(merged.id, merged);
    h.messages[h.messages.indexOf(old)] = merged;
    this.emit("messages", { channelId: merged.channel_id, kind: "update", message: merged });
  }

  /** A reaction added or removed (MESSAGE_REACTION_ADD / _REMOVE): its count moves by
   * `delta`, and `me` follows when the reactor is me. An emoji at 0 leaves the message. */
  react(channelId, messageId, emoji, userId, delta) {
    const message = this.histories.get(channelId)?.byId.get(messageId);
    if (!message) return;
    const mine = Boolean(this.me) && userId === this.me.id;
    const key = emojiKey(emoji);
    const reactions = (message.reactions || []).map((r) => ({ ...r }));
    let reaction = reactions.find((r) => emojiKey(r.emoji) === key);
    if (!reaction) {
      if (delta < 0) return;
      reaction = { emoji, count: 0, me: false, count_details: { burst: 0, normal: 0 } };
      reactions.push(reaction);
    }
    if (mine && reaction.me === delta > 0) return; // already so: an echo of what we know
    reaction.count = Math.max(0, reaction.count + delta);
    reaction.count_details = { burst: 0, normal: reaction.count };
    if (mine) reaction.me = delta > 0;
    this.updateMessage({ channel_id: channelId, id: messageId, reactions: reactions.filter((r) => r.count > 0) });
  }

  /** MESSAGE_REACTION_REMOVE_ALL (no emoji) or _REMOVE_EMOJI. */
  clearReactions(channelId, messageId, emoji = null) {
    const message = this.histories.get(channelId)?.byId.get(messageId);
    if (!message) return;
    const reactions = emoji ? (message.reactions || []).filter((r) => emojiKey(r.emoji) !== emojiKey(emoji)) : [];
    this.updateMessage({ channel_id: channelId, id: messageId, reactions });
  }

  removeMessage(channelId, messageId) {
    const h = this.histories.get(channelId);
    const old = h?.byId.get(messageId);
    if (!old) return;
    h.byId.delete(messageId);
    h.messages.splice(h.messages.indexOf(old), 1);
    this.emit("messages", { channelId, kind: "remove", key: messageId });
  }

  /** A send not yet acknowledged: shown at once, replaced by the real message. Its files
   * (File objects) are kept for a retry and named in the meantime. */
  addPending(channelId, nonce, content, files = []) {
    const h = this.history(channelId);
    const message = { id: null, nonce, channel_id: channelId, content, author: this.me,
      timestamp: new Date().toISOString(), edited_timestamp: null, mentions: [], pending: true, failed: false,
      files, attachments: files.map((f) => ({ id: null, filename: f.name, size: f.size, content_type: f.type })) };
    h.pending.set(nonce, message);
    this.emit("messages", { channelId, kind: "insert", message, next: null });
    return message;
  }

  failPending(channelId, nonce, error) {
    const message = this.histories.get(channelId)?.pending.get(nonce);
    if (!message) return;
    message.failed = true;
    message.error = error;
    this.emit("messages", { channelId, kind: "update", message });
  }

  retryPending(channelId, nonce) {
    const message = this.histories.get(channelId)?.pending.get(nonce);
    if (!message) return null;
    message.failed = false;
    this.emit("messages", { channelId, kind: "update", message });
    return message;
  }

  dropPending(channelId, nonce) {
    if (this.histories.get(channelId)?.pending.delete(nonce)) {
      this.emit("messages", { channelId, kind: "remove", key: `nonce:${nonce}` });
    }
  }

  markUnread(channelId) {
    if (channelId === this.currentChannelId || this.unread.has(channelId)) return;
    this.unread.add(channelId);
    this.emit("unread", { channelId });
  }

  markRead(channelId) {
    if (this.unread.delete(channelId)) this.emit("unread", { channelId });
  }

  /** Forget every history but the current channel's (after a new session: events were missed). */
  forgetHistories() {
    for (const id of [...this.histories.keys()]) if (id !== this.currentChannelId) this.histories.delete(id);
  }

  // -- typing ------------------------------------------------------------------------------

  startTyping(channelId, userId, name) {
    if (this.me && userId === this.me.id) return;
    let users = this.typing.get(channelId);
    if (!users) this.typing.set(channelId, (users = new Map()));
    users.set(userId, { name, until: Date.now() + TYPING_MS });
    this.emit("typing", { channelId });
  }

  stopTyping(channelId, userId) {
    if (this.typing.get(channelId)?.delete(userId)) this.emit("typing", { channelId });
  }

  /** Names typing in a channel now (expired entries dropped). */
  typers(channelId) {
    const users = this.typing.get(channelId);
    if (!users) return [];
    const now = Date.now();
    for (const [id, t] of users) if (t.until <= now) users.delete(id);
    return [...users.values()].map((t) => t.name);
  }
}
