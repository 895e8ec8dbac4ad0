// Presences in large guilds (Discord's lazy guilds). In a guild whose GUILD_CREATE said
// `large`, the server sends a user's session only the PRESENCE_UPDATEs of the members it
// subscribed to (op 14), and GUILD_CREATE lists no one but us. So for the guild on screen:
// the first page of its members with their statuses (op 8, presences: true), then op 14 with
// the members the list shows, sent again when they change (debounced, and spaced so that the
// gateway's 120 events a minute are never in reach), and op 8 for the statuses of members
// newly followed whose status we did not get with them. Small guilds need none of it: every
// presence comes. docs/compatibility.md, "Presences in large guilds".

const Op = Object.freeze({ REQUEST_GUILD_MEMBERS: 8, GUILD_SUBSCRIPTIONS: 14 });
// The server's limits: 100 members per guild subscription, 100 user_ids per op 8.
export const MAX_FOLLOWED = 100;
// Wait this long after the list last changed; never send two subscriptions closer than SPACING_MS
// (each change costs up to two gateway events: op 14 and op 8).
const DEBOUNCE_MS = 500;
const SPACING_MS = 3000;

export class MemberSubscriptions {
  /**
   * @param {{send: (op: number, d: object) => boolean}} gateway
   * @param {import("./store.js").Store} store
   */
  constructor(gateway, store) {
    this.gateway = gateway;
    this.store = store;
    this.shown = null; // {guildId, ids}: what the member list shows now
    this._timer = null;
    this._lastSent = 0;
    this.reset();
  }

  /** A new session (READY): the server holds no subscription of ours and we know no status. */
  reset() {
    this.followed = new Map(); // guildId -> Set of the ids op 14 last sent
    this.fresh = new Map(); // guildId -> Set of ids whose status came with a chunk
    this.paged = new Set(); // guilds whose first page of members was asked for
    this._schedule();
  }

  /** The member list now shows `ids` (in its order) of `guildId`. */
  show(guildId, ids) {
    this.shown = guildId ? { guildId, ids } : null;
    this._schedule();
  }

  /** A GUILD_MEMBERS_CHUNK: the statuses of its members are known (those not listed are offline). */
  noteChunk(d) {
    if (!d.presences) return;
    let fresh = this.fresh.get(d.guild_id);
    if (!fresh) this.fresh.set(d.guild_id, (fresh = new Set()));
    for (const m of d.members) if (m.user) fresh.add(m.user.id);
  }

  _schedule() {
    clearTimeout(this._timer);
    const wait = Math.max(DEBOUNCE_MS, this._lastSent + SPACING_MS - Date.now());
    this._timer = setTimeout(() => this._sync(), wait);
  }

  _sync() {
    const shown = this.shown;
    const guild = shown && this.store.guilds.get(shown.guildId);
    if (!guild || !guild.large) return;
    const me = this.store.me?.id;
    if (!this.paged.has(guild.id)) {
      if (!this._send(Op.REQUEST_GUILD_MEMBERS, { guild_id: guild.id, query: "", limit: MAX_FOLLOWED, presences: true })) return;
      this.paged.add(guild.id);
      return; // the chunk re-renders the list, which calls show() again
    }
    const ids = shown.ids.filter((id) => id !== me).slice(0, MAX_FOLLOWED);
    const before = this.followed.get(guild.id) || new Set();
    if (ids.length === before.size && ids.every((id) => before.has(id))) return;
    if (!this._send(Op.GUILD_SUBSCRIPTIONS, { guild_id: guild.id, members: ids })) return;
    this.followed.set(guild.id, new Set(ids));
    const fresh = this.fresh.get(guild.id) || new Set();
    const unknown = ids.filter((id) => !before.has(id) && !fresh.has(id));
    if (unknown.length) this._send(Op.REQUEST_GUILD_MEMBERS, { guild_id: guild.id, user_ids: unknown, presences: true });
  }

  /** RESUMED: the server kept our subscriptions; send what changed while we were away. */
  resumed() {
    this._schedule();
  }

  _send(op, d) {
    // Not connected: nothing is recorded as sent; READY or RESUMED schedules the next try.
    if (!this.gateway.send(op, d)) return false;
    this._lastSent = Date.now();
    return true;
  }
}
