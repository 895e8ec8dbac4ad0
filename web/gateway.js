// The gateway client: Discord Gateway v10 over a browser WebSocket, JSON encoding, no
// compression (a browser gets nothing from zlib-stream on a chat's small frames that is worth
// a streaming inflater). It heartbeats, resumes after a drop and re-identifies when it cannot.

export const Intent = Object.freeze({
  GUILDS: 1 << 0,
  GUILD_MEMBERS: 1 << 1,
  GUILD_PRESENCES: 1 << 8,
  GUILD_MESSAGES: 1 << 9,
  GUILD_MESSAGE_REACTIONS: 1 << 10,
  GUILD_MESSAGE_TYPING: 1 << 11,
  DIRECT_MESSAGES: 1 << 12,
  DIRECT_MESSAGE_REACTIONS: 1 << 13,
  MESSAGE_CONTENT: 1 << 15,
});
export const CLIENT_INTENTS = Object.values(Intent).reduce((a, b) => a | b, 0);

const Op = Object.freeze({
  DISPATCH: 0, HEARTBEAT: 1, IDENTIFY: 2, RESUME: 6, RECONNECT: 7, INVALID_SESSION: 9, HELLO: 10, HEARTBEAT_ACK: 11,
});
// Close codes after which reconnecting cannot help (Discord: "reconnect: false").
const FATAL = new Set([4004, 4010, 4011, 4012, 4013, 4014]);
// Close codes after which the session is gone, though a new one may be identified.
const SESSION_LOST = new Set([4007]);
// Our own close code when we drop a connection to resume: 1000/1001 would end the session.
const CLOSE_TO_RESUME = 4000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 30000;
// A connection that has not said Hello by then is given up (and retried).
const HELLO_TIMEOUT_MS = 10000;

/**
 * One gateway session, kept alive across connections.
 *
 * Events: "dispatch" ({t, d}), "state" ({state: "connecting"|"ready"|"reconnecting"|"closed",
 * delay}), "fatal" ({code, reason}: do not retry; 4004 means the token is no longer valid).
 */
export class Gateway extends EventTarget {
  /**
   * @param {{url: string, token: string, intents?: number}} options url from GET /gateway
   */
  constructor({ url, token, intents = CLIENT_INTENTS }) {
    super();
    this.url = url;
    this.token = token;
    this.intents = intents;
    this.ws = null;
    this.sessionId = null;
    this.resumeUrl = null;
    this.seq = null;
    this.state = "closed";
    this.attempt = 0; // failed connections in a row, for the backoff
    this._stopped = true;
    this._heartbeat = null;
    this._acked = true;
    this._retry = null;
    this._helloTimer = null;
    this._onOnline = () => this._retryNow();
  }

  /** Connect (and keep connecting) until stop(). */
  start() {
    this._stopped = false;
    window.addEventListener("online", this._onOnline);
    this._connect();
  }

  /** Close for good: code 1000 ends the session on the server too. */
  stop() {
    this._stopped = true;
    window.removeEventListener("online", this._onOnline);
    clearTimeout(this._retry);
    this._teardown();
    if (this.ws) this.ws.close(1000, "Logged out");
    this.ws = null;
    this._setState("closed");
  }

  /** Drop the connection and resume on a new one (also what op 7 Reconnect asks for). */
  reconnect() {
    if (this.ws) this.ws.close(CLOSE_TO_RESUME, "Reconnecting");
  }

  /** Send a payload; false (and nothing sent) when the socket is not open. */
  send(op, d) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ op, d }));
    return true;
  }

  // -- connection --------------------------------------------------------------------------

  _connect() {
    this._setState(this.attempt ? "reconnecting" : "connecting");
    // Resume where the session lives (a worker of its own); a new session anywhere.
    const base = this.sessionId && this.resumeUrl ? this.resumeUrl : this.url;
    const url = new URL(base);
    url.searchParams.set("v", "10");
    url.searchParams.set("encoding", "json");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      // A CSP or URL error is thrown synchronously: the resume URL may be the culprit.
      this.resumeUrl = null;
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    this._helloTimer = setTimeout(() => ws.close(CLOSE_TO_RESUME, "No Hello"), HELLO_TIMEOUT_MS);
    ws.onmessage = (ev) => { if (ws === this.ws) this._onPayload(JSON.parse(ev.data)); };
    ws.onclose = (ev) => { if (ws === this.ws) this._onClose(ev, base !== this.url); };
  }

  _onPayload(payload) {
    const { op, d, s, t } = payload;
    if (s !== null && s !== undefined) this.seq = s;
    switch (op) {
      case Op.HELLO:
        clearTimeout(this._helloTimer);
        this._startHeartbeat(d.heartbeat_interval);
        if (this.sessionId) this.send(Op.RESUME, { token: this.token, session_id: this.sessionId, seq: this.seq });
        else this._identify();
        break;
      case Op.HEARTBEAT_ACK:
        this._acked = true;
        break;
      case Op.HEARTBEAT:
        this._beat();
        break;
      case Op.RECONNECT:
        this.reconnect();
        break;
      case Op.INVALID_SESSION:
        this._invalidated(d === true);
        break;
      case Op.DISPATCH:
        this._dispatch(t, d);
        break;
      default:
        break;
    }
  }

  _dispatch(t, d) {
    if (t === "READY") {
      this.sessionId = d.session_id;
      this.resumeUrl = d.resume_gateway_url || null;
    }
    if (t === "READY" || t === "RESUMED") {
      this.attempt = 0;
      this._setState("ready");
    }
    this.dispatchEvent(new CustomEvent("dispatch", { detail: { t, d, resumed: t === "RESUMED" } }));
  }

  _identify() {
    this.send(Op.IDENTIFY, {
      token: this.token,
      intents: this.intents,
      properties: { os: navigator.platform || "web", browser: "Discord Arch Web", device: "Discord Arch Web" },
    });
  }

  /** Op 9: identify anew after a short random wait (Discord asks for 1-5 s, so that a
   * restarted server is not hit by every client in the same instant). */
  _invalidated(resumable) {
    if (!resumable) {
      this.sessionId = null;
      this.seq = null;
    }
    const ws = this.ws;
    setTimeout(() => {
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      if (resumable && this.sessionId) this.send(Op.RESUME, { token: this.token, session_id: this.sessionId, seq: this.seq });
      else this._identify();
    }, 1000 + Math.random() * 2000);
  }

  _startHeartbeat(interval) {
    clearInterval(this._heartbeat);
    clearTimeout(this._heartbeat);
    this._acked = true;
    // The first beat after interval * random, as Discord asks, so reconnecting clients spread out.
    this._heartbeat = setTimeout(() => {
      this._beat();
      this._heartbeat = setInterval(() => this._beat(), interval);
    }, interval * Math.random());
  }

  _beat() {
    if (!this._acked) {
      // No ACK since the last beat: the connection is a zombie. Drop it and resume.
      this.reconnect();
      return;
    }
    this._acked = false;
    this.send(Op.HEARTBEAT, this.seq);
  }

  _teardown() {
    clearTimeout(this._helloTimer);
    clearTimeout(this._heartbeat);
    clearInterval(this._heartbeat);
  }

  _onClose(ev, wasResumeUrl) {
    this._teardown();
    this.ws = null;
    if (this._stopped) return;
    if (FATAL.has(ev.code)) {
      this._stopped = true;
      this._setState("closed");
      this.dispatchEvent(new CustomEvent("fatal", { detail: { code: ev.code, reason: ev.reason } }));
      return;
    }
    if (SESSION_LOST.has(ev.code)) {
      this.sessionId = null;
      this.seq = null;
    }
    // The resume URL did not work: the next try goes to the main URL (still resuming there).
    if (wasResumeUrl && this.state !== "ready") this.resumeUrl = null;
    this._scheduleRetry();
  }

  /** Exponential backoff with jitter: half the step fixed, half random, so a server restart
   * is not met by every client at once, yet no retry comes instantly. */
  _scheduleRetry() {
    const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = step / 2 + Math.random() * (step / 2);
    this.attempt += 1;
    this._setState("reconnecting", delay);
    clearTimeout(this._retry);
    this._retry = setTimeout(() => this._connect(), delay);
  }

  /** The browser is back online: do not wait out the backoff. */
  _retryNow() {
    if (this._stopped || this.ws) return;
    clearTimeout(this._retry);
    this._connect();
  }

  _setState(state, delay = 0) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, delay, attempt: this.attempt } }));
  }
}
