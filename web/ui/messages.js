// The message list of the current channel: history with infinite scroll upward, live
// inserts/edits/deletes, grouping of consecutive messages, and the screen-reader announcer.

import { h, replaceChildren } from "./dom.js";
import { messageKey, renderMessage, startEditing } from "./message.js";
import { openEmojiPicker } from "./reactions.js";

// Load older messages when the top is nearer than this (px), before the user reaches it.
const LOAD_MARGIN_PX = 400;
// Stay pinned to the bottom on new messages when this close to it (px).
const BOTTOM_SLACK_PX = 60;
// Consecutive messages of one author within this time share a header.
const GROUP_MS = 7 * 60 * 1000;
// How long a message opened from a search stays marked.
const HIGHLIGHT_MS = 3000;

export class MessageList {
  /**
   * @param {{store, actions, announce: (text: string) => void}} deps actions: loadOlder(channelId),
   *   edit(message, text), remove(message, skipConfirm), retry(message), discard(message),
   *   react(message, emoji), unreact(message, emoji), pin(message), unpin(message), openPins()
   */
  constructor({ store, actions, announce }) {
    this.store = store;
    this.actions = actions;
    this.announce = announce;
    this.channelId = null;
    this.guildId = null;
    this.nodes = new Map(); // message key → node
    this.top = h("div", { class: "history-top" });
    this.list = h("div", { class: "message-items" });
    this.el = h("section", { class: "messages", role: "log", "aria-live": "off", "aria-label": "Messages", tabindex: "0" },
      this.top, this.list);
    this.el.addEventListener("scroll", () => this._maybeLoadOlder(), { passive: true });
    store.addEventListener("messages", (ev) => this._onChange(ev.detail));
    store.addEventListener("members", () => this._refreshNames());
    // Roles or overwrites changed: what I may do to messages (react, pin) may have too.
    store.addEventListener("guild", (ev) => { if (ev.detail.guildId === this.guildId) this._refreshNames(); });
  }

  /** Show a channel (its history as the store has it; the app loads the first page). */
  show(channelId, guildId, name) {
    this.channelId = channelId;
    this.guildId = guildId;
    this.name = name;
    this.el.setAttribute("aria-label", `Messages in #${name}`);
    this._renderAll();
    this.scrollToBottom();
  }

  scrollToBottom() {
    this.el.scrollTop = this.el.scrollHeight;
  }

  /** Scroll a message into the middle of the view, mark it for a moment and focus it (a
   * search result opened), so that a screen reader reads it too. */
  reveal(messageId) {
    const node = this.nodes.get(messageId);
    if (!node) return;
    node.scrollIntoView({ block: "center" });
    node.setAttribute("tabindex", "-1");
    node.focus({ preventScroll: true });
    node.classList.add("highlight");
    setTimeout(() => node.classList.remove("highlight"), HIGHLIGHT_MS);
  }

  /** Put the newest own message (if any) in edit mode; true if there was one. */
  editLast() {
    const hist = this.store.histories.get(this.channelId);
    const mine = hist?.messages.filter((m) => m.author.id === this.store.me.id).at(-1);
    if (!mine) return false;
    this.edit(mine);
    return true;
  }

  edit(message) {
    const node = this.nodes.get(message.id);
    if (!node || node.classList.contains("editing")) return;
    startEditing(node, message, {
      onSave: (text) => this.actions.edit(message, text),
      onDone: () => this._replace(this.store.histories.get(this.channelId)?.byId.get(message.id) || message, true),
    });
  }

  // -- rendering ---------------------------------------------------------------------------

  _ctx() {
    const pickReaction = (m, anchor) => {
      const node = this.nodes.get(messageKey(m));
      if (node) openEmojiPicker(node, anchor, (emoji) => this.actions.react(m, emoji));
    };
    return { store: this.store, guildId: this.guildId, actions: { ...this.actions, edit: (m) => this.edit(m), pickReaction } };
  }

  _render(message) {
    const node = renderMessage(message, this._ctx());
    this.nodes.set(messageKey(message), node);
    return node;
  }

  _renderAll() {
    this.nodes.clear();
    const hist = this.channelId ? this.store.histories.get(this.channelId) : null;
    const messages = hist ? [...hist.messages, ...hist.pending.values()] : [];
    replaceChildren(this.list, messages.map((m) => this._render(m)));
    for (const node of this.list.children) regroup(node);
    this._renderTop();
  }

  _renderTop() {
    const hist = this.store.histories.get(this.channelId);
    if (!hist || (hist.loading && !hist.messages.length)) {
      replaceChildren(this.top, h("p", { class: "muted" }, "Loading messages…"));
    } else if (hist.hasMore) {
      replaceChildren(this.top, h("p", { class: "muted" }, hist.loading ? "Loading older messages…" : ""));
    } else {
      replaceChildren(this.top,
        h("h2", { class: "channel-welcome" }, `Welcome to #${this.name}!`),
        h("p", { class: "muted" }, `This is the start of the #${this.name} channel.`));
    }
  }

  _onChange(change) {
    if (change.channelId !== this.channelId) return;
    const atBottom = this._atBottom();
    switch (change.kind) {
      case "reset":
        this._renderAll();
        this.scrollToBottom();
        this._maybeLoadOlder();
        return;
      case "prepend":
        this._prepend(change.messages);
        return;
      case "insert":
        this._insert(change.message, change.next);
        if (atBottom || change.message.author.id === this.store.me?.id) this.scrollToBottom();
        return;
      case "update":
        this._replace(change.message, false);
        return;
      case "remove":
        this._remove(change.key);
        return;
      case "loading":
        this._renderTop();
        return;
      default:
    }
  }

  _prepend(messages) {
    // Keep what the user looks at in place: restore the distance from the bottom.
    const fromBottom = this.el.scrollHeight - this.el.scrollTop;
    this.list.prepend(...messages.map((m) => this._render(m)));
    for (const node of this.list.children) regroup(node);
    this._renderTop();
    this.el.scrollTop = this.el.scrollHeight - fromBottom;
    this._maybeLoadOlder();
  }

  _insert(message, nextKey) {
    const node = this._render(message);
    const before = (nextKey && this.nodes.get(nextKey)) || (message.pending ? null : this.list.querySelector(".message.pending"));
    this.list.insertBefore(node, before);
    regroup(node);
    if (node.nextElementSibling) regroup(node.nextElementSibling);
    if (!message.pending && message.author.id !== this.store.me?.id) {
      this.announce(`${this.store.displayName(message.author, this.guildId)}: ${message.content}`);
    }
  }

  _replace(message, force) {
    const key = messageKey(message);
    const old = this.nodes.get(key);
    if (!old || (old.classList.contains("editing") && !force)) return;
    const node = this._render(message);
    old.replaceWith(node);
    regroup(node);
  }

  _remove(key) {
    const node = this.nodes.get(key);
    if (!node) return;
    this.nodes.delete(key);
    const next = node.nextElementSibling;
    node.remove();
    if (next) regroup(next);
  }

  _refreshNames() {
    // Names and mentions depend on members (nicknames); cheap enough to redraw the list.
    if (!this.channelId || this.list.querySelector(".editing, .emoji-picker")) return;
    const fromBottom = this.el.scrollHeight - this.el.scrollTop;
    this._renderAll();
    this.el.scrollTop = this.el.scrollHeight - fromBottom;
  }

  _atBottom() {
    return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < BOTTOM_SLACK_PX;
  }

  _maybeLoadOlder() {
    const hist = this.store.histories.get(this.channelId);
    if (!hist || !hist.loaded || !hist.hasMore || hist.loading) return;
    if (this.el.scrollTop < LOAD_MARGIN_PX) this.actions.loadOlder(this.channelId);
  }
}

/** Hide the header of a message that follows one of the same author shortly before. */
function regroup(node) {
  const prev = node.previousElementSibling;
  const grouped = Boolean(prev) && prev.dataset.author === node.dataset.author
    && !prev.classList.contains("failed")
    && !node.querySelector(".invocation") // a command's answer says who ran it: never grouped
    && Number(node.dataset.time) - Number(prev.dataset.time) < GROUP_MS;
  node.classList.toggle("grouped", grouped);
}
