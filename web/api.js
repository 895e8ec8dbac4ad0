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
    if (body !== undefined) headers["Content-Type"] = "application/json";
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
  members(guildId, limit = 1000) { return this.get(`/guilds/${guildId}/members`, { limit }); }

  // -- invites --
  createInvite(channelId) { return this.post(`/channels/${channelId}/invites`, { max_age: 86400 }); }
  invite(code) { return this.get(`/invites/${encodeURIComponent(code)}`); }
  acceptInvite(code) { return this.post(`/invites/${encodeURIComponent(code)}`); }

  // -- messages --
  messages(channelId, { before, limit = 50 } = {}) { return this.get(`/channels/${channelId}/messages`, { before, limit }); }
  send(channelId, content, nonce) {
    return this.post(`/channels/${channelId}/messages`, { content, nonce, enforce_nonce: true });
  }
  edit(channelId, messageId, content) { return this.patch(`/channels/${channelId}/messages/${messageId}`, { content }); }
  remove(channelId, messageId) { return this.delete(`/channels/${channelId}/messages/${messageId}`); }
  typing(channelId) { return this.post(`/channels/${channelId}/typing`); }
  /** A page of the server's messages I may read with every word of `content`, newest first. */
  search(guildId, content, offset = 0) {
    return this.get(`/guilds/${guildId}/messages/search`, { content, offset: offset || undefined });
  }
  /** Mark a channel read up to a message (the server tells my other sessions). */
  ack(channelId, messageId) { return this.post(`/channels/${channelId}/messages/${messageId}/ack`, { token: null }); }
}
