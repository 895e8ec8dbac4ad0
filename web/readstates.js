// Read states: what I have read of each channel, which channels hold messages I have not
// seen (drawn bold) and how many of those mention me (a badge). Nothing here touches the DOM
// or the network; the store owns one and the app sends the acks it asks for.
//
// Sources: READY's read_state (the server's record, per user: every tab and device shares
// it), MESSAGE_ACK (another session of mine read a channel), the newest message id of each
// channel (REST channel lists carry last_message_id; MESSAGE_CREATE moves it), and my own
// acks. A channel is unread when its newest message is past what I acknowledged; the open
// channel never is (it is being read), and my own messages never make one unread.

import { compareIds } from "./ids.js";

// Channels whose state is kept at most (the server's READY lists at most 5000 as well).
const CHANNELS_MAX = 5000;

export class ReadStates {
  /** @param {import("./store.js").Store} store whose ``unread`` set and events this drives */
  constructor(store) {
    this.store = store;
    this.acked = new Map(); // channel id → last acknowledged message id
    this.newest = new Map(); // channel id → newest message id known
    this.mentions = new Map(); // channel id → unread mentions (> 0 only)
  }

  /** READY's read_state: the server's record replaces ours (a new session). */
  reset(readState) {
    this.acked.clear();
    this.mentions.clear();
    for (const entry of (readState?.entries || []).slice(0, CHANNELS_MAX)) {
      this.acked.set(entry.id, entry.last_message_id);
      if (entry.mention_count > 0 && entry.id !== this.store.currentChannelId) this.mentions.set(entry.id, entry.mention_count);
    }
    for (const id of new Set([...this.newest.keys(), ...this.mentions.keys()])) this._refresh(id);
    this.store.emit("unread", {});
  }

  /** Channels read over REST: their last_message_id is the newest message each holds. */
  noteChannels(channels) {
    for (const c of channels) if (c.last_message_id) this._noteNewest(c.id, c.last_message_id);
    for (const c of channels) this._refresh(c.id);
    this.store.emit("unread", {});
  }

  /** A message arrived (MESSAGE_CREATE, or the answer to my send). */
  noteMessage(message) {
    // An ephemeral message (flag 64) is mine alone and never stored: nothing to read or ack.
    if (message.flags & 64) return;
    const channelId = message.channel_id;
    this._noteNewest(channelId, message.id);
    const mine = this.store.me && message.author?.id === this.store.me.id;
    if (mine) {
      this._noteAcked(channelId, message.id); // what I wrote I have read
      this.mentions.delete(channelId);
    } else if (channelId !== this.store.currentChannelId && this.mentionsMe(message)) {
      this.mentions.set(channelId, (this.mentions.get(channelId) || 0) + 1);
    }
    this._refresh(channelId);
    this.store.emit("unread", { channelId });
  }

  /** MESSAGE_ACK: a session of mine (maybe this one) read the channel up to ``messageId``;
   * the server's count of the mentions still after it comes along. */
  applyAck(channelId, messageId, mentionCount) {
    this.acked.set(channelId, messageId);
    if (mentionCount > 0 && channelId !== this.store.currentChannelId) this.mentions.set(channelId, mentionCount);
    else this.mentions.delete(channelId);
    this._refresh(channelId);
    this.store.emit("unread", { channelId });
  }

  /** The newest message of the open channel if it still needs acknowledging, else null.
   * Marks it read here at once: the ack is on its way. */
  takeAck(channelId) {
    const newest = this.newest.get(channelId);
    this.mentions.delete(channelId);
    this._refresh(channelId);
    this.store.emit("unread", { channelId });
    if (!newest || compareIds(newest, this.acked.get(channelId) || "0") <= 0) return null;
    this.acked.set(channelId, newest);
    return newest;
  }

  mentionCount(channelId) {
    return this.mentions.get(channelId) || 0;
  }

  /** Whether a message asks for my attention: it mentions me, @everyone/@here or a role of
   * mine (as the server resolved them), or it is a plain message in a DM. */
  mentionsMe(message) {
    const me = this.store.me?.id;
    if (!me || message.author?.id === me) return false;
    if (!message.guild_id) return message.type === 0 || message.type === 19;
    if (message.mention_everyone || (message.mentions || []).some((u) => u.id === me)) return true;
    const roles = this.store.guilds.get(message.guild_id)?.members.get(me)?.roles || [];
    return (message.mention_roles || []).some((r) => roles.includes(r));
  }

  _noteNewest(channelId, messageId) {
    const known = this.newest.get(channelId);
    if (known && compareIds(known, messageId) >= 0) return;
    if (!known && this.newest.size >= CHANNELS_MAX) this.newest.delete(this.newest.keys().next().value);
    this.newest.set(channelId, messageId);
  }

  _noteAcked(channelId, messageId) {
    const known = this.acked.get(channelId);
    if (!known || compareIds(messageId, known) > 0) this.acked.set(channelId, messageId);
  }

  /** Bring the store's ``unread`` set in line with what is known of one channel. */
  _refresh(channelId) {
    const newest = this.newest.get(channelId);
    const unread = channelId !== this.store.currentChannelId && (this.mentions.has(channelId)
      || Boolean(newest && compareIds(newest, this.acked.get(channelId) || "0") > 0));
    if (unread) this.store.unread.add(channelId);
    else this.store.unread.delete(channelId);
  }
}
