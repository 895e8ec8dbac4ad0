// The REST client: Discord's API v10 paths under /api/v10 on this origin, JSON in and out.

const BASE = "/api/v10";
// How many times a request answered 429 is retried (each after the server's retry_after).
const MAX_RATE_LIMIT_RETRIES = 3;

/** A failed request: `status` (0 when the network failed), Discord's `code` and `message`. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || (status ? `HTTP ${status}` : "The server cannot be reached."));
    this.name = "ApiError";
    this.status = status;
    this.code = body?.code ?? 0;
    this.errors = body?.errors;
  }

  /** The first field error of a 50035 "Invalid Form Body" (its words name the field),
   * else the message. */
  describe() {
    const first = this.errors && findFieldError(this.errors);
    if (!first) return this.message;
    // "Must be between 8 and 128 in length." needs the field's name; most messages have it.
    const field = first.field.split(".").at(-1).replace(/_/g, " ");
    return /^(Must|This field)/.test(first.message) ? `${field[0].toUpperCase()}${field.slice(1)}: ${first.message}` : first.message;
  }
}

function findFieldError(errors, path = []) {
  for (const [key, value] of Object.entries(errors)) {
    if (key === "_errors" && Array.isArray(value) && value.length) {
      return { field: path.join(".") || "body", message: value[0].message };
    }
    if (value && typeof value === "object") {
      const found = findFieldError(value, key === "_errors" ? path : [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  constructor() {
    /** The user token ("Authorization: <token>"), or null when logged out. */
    this.token = null;
  }

  /**
   * One request. Rate limits (429) are waited out and retried a few times, which is safe for
   * sends too because they carry a nonce with enforce_nonce.
   * @returns {Promise<any>} the JSON body, or null for 204
   */
  async request(method, path, { body, query } = {}) {
    const url = new URL(BASE + path, window.location.origin);
    for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) url.searchParams.set(k, v);
    const headers = {};
    if (this.token) headers.Authorization = this.token;
    // A FormData body (a send with files) goes as multipart; the browser writes its boundary.
    const form = body instanceof FormData;
    if (body !== undefined && !form) headers["Content-Type"] = "application/json";
    const payload = body === undefined || form ? body : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, { method, headers, body: payload });
      } catch {
        throw new ApiError(0, null);
      }
      const data = response.status === 204 ? null : await response.json().catch(() => null);
      if (response.ok) return data;
      if (response.status === 429 && attempt < MAX_RATE_LIMIT_RETRIES) {
        const seconds = Number(data?.retry_after ?? response.headers.get("Retry-After") ?? 1);
        await sleep(Math.min(seconds, 60) * 1000 + 50);
        continue;
      }
      throw new ApiError(response.status, data);
    }
  }

  get(path, query) { return this.request("GET", path, { query }); }
  post(path, body = {}) { return this.request("POST", path, { body }); }
  patch(path, body) { return this.request("PATCH", path, { body }); }
  put(path, body) { return this.request("PUT", path, { body }); }
  delete(path) { return this.request("DELETE", path); }

  // -- accounts --
  register(username, password) { return this.post("/auth/register", { username, password }); }
  login(login, password) { return this.post("/auth/login", { login, password }); }
  logout() { return this.post("/auth/logout"); }
  me() { return this.get("/users/@me"); }
  gateway() { return this.get("/gateway"); }

  // -- guilds, channels, members --
  myGuilds() { return this.get("/users/@me/guilds"); }
  createGuild(name) { return this.post("/guilds", { name }); }
  guild(guildId) { return this.get(`/guilds/${guildId}`); }
  channels(guildId) { return this.get(`/guilds/${guildId}/channels`); }
  createChannel(guildId, name, parentId) {
    return this.post(`/guilds/${guildId}/channels`, { name, type: 0, parent_id: parentId || undefined });
  }
  /** The guild's active threads I may see: {threads, members}. */
  activeThreads(guildId) { return this.get(`/guilds/${guildId}/threads/active`); }
  /** A channel's archived public threads, newest archived first: {threads, members, has_more}. */
  archivedThreads(channelId) { return this.get(`/channels/${channelId}/threads/archived/public`); }
  /** A public thread of its own (no starting message). */
  createThread(channelId, name) {
    return this.post(`/channels/${channelId}/threads`, { name, type: 11, auto_archive_duration: 1440 });
  }
  /** A public thread started from a message (its id is the message's). */
  startThread(channelId, messageId, name) {
    return this.post(`/channels/${channelId}/messages/${messageId}/threads`, { name, auto_archive_duration: 1440 });
  }
  members(guildId, limit = 1000) { return this.get(`/guilds/${guildId}/members`, { limit }); }

  // -- invites --
  createInvite(channelId) { return this.post(`/channels/${channelId}/invites`, { max_age: 86400 }); }
  invite(code) { return this.get(`/invites/${encodeURIComponent(code)}`); }
  acceptInvite(code) { return this.post(`/invites/${encodeURIComponent(code)}`); }

  // -- messages --
  messages(channelId, { before, limit = 50 } = {}) { return this.get(`/channels/${channelId}/messages`, { before, limit }); }
  /** Send a message; with `files` (File objects) it goes as Discord's multipart shape:
   * payload_json, whose attachments name each part, and the parts files[0], files[1]... */
  send(channelId, content, nonce, files = []) {
    const payload = { content, nonce, enforce_nonce: true };
    if (!files.length) return this.post(`/channels/${channelId}/messages`, payload);
    const form = new FormData();
    payload.attachments = files.map((f, i) => ({ id: i, filename: f.name }));
    form.append("payload_json", JSON.stringify(payload));
    files.forEach((f, i) => form.append(`files[${i}]`, f, f.name));
    return this.post(`/channels/${channelId}/messages`, form);
  }
  edit(channelId, messageId, content) { return this.patch(`/channels/${channelId}/messages/${messageId}`, { content }); }
  remove(channelId, messageId) { return this.delete(`/channels/${channelId}/messages/${messageId}`); }
  typing(channelId) { return this.post(`/channels/${channelId}/typing`); }
  /** A page of the server's messages I may read with every word of `content`, newest first. */
  search(guildId, content, offset = 0) {
    return this.get(`/guilds/${guildId}/messages/search`, { content, offset: offset || undefined });
  }
  // -- reactions and pins --
  /** An emoji as a path segment: unicode as it is, a custom one as name:id (Discord's form). */
  static emojiPath(emoji) {
    return encodeURIComponent(emoji.id ? `${emoji.name}:${emoji.id}` : emoji.name);
  }
  react(channelId, messageId, emoji) {
    return this.put(`/channels/${channelId}/messages/${messageId}/reactions/${Api.emojiPath(emoji)}/@me`);
  }
  unreact(channelId, messageId, emoji) {
    return this.delete(`/channels/${channelId}/messages/${messageId}/reactions/${Api.emojiPath(emoji)}/@me`);
  }
  /** The first users who reacted with an emoji (for the reaction's tooltip). */
  reactionUsers(channelId, messageId, emoji, limit = 10) {
    return this.get(`/channels/${channelId}/messages/${messageId}/reactions/${Api.emojiPath(emoji)}`, { limit });
  }
  pins(channelId) { return this.get(`/channels/${channelId}/pins`); }
  pin(channelId, messageId) { return this.put(`/channels/${channelId}/pins/${messageId}`); }
  unpin(channelId, messageId) { return this.delete(`/channels/${channelId}/pins/${messageId}`); }

  // -- application commands --
  /** What I may run in a guild: {applications, application_commands, version}. */
  commandIndex(guildId) { return this.get(`/guilds/${guildId}/application-command-index`); }
  /** Run a command (Discord's client route; 204, the bot answers with a message). */
  interact(body) { return this.post("/interactions", body); }

  // -- moderation --
  kick(guildId, userId) { return this.delete(`/guilds/${guildId}/members/${userId}`); }
  ban(guildId, userId) { return this.put(`/guilds/${guildId}/bans/${userId}`, {}); }

  /** Mark a channel read up to a message (the server tells my other sessions). */
  ack(channelId, messageId) { return this.post(`/channels/${channelId}/messages/${messageId}/ack`, { token: null }); }
}
