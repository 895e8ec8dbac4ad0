// One message: avatar, author, time, content, and (for my own) edit and delete actions.

import { h, hue, initials, replaceChildren } from "./dom.js";
import { icon } from "./icons.js";
import { mentionsMe, renderContent } from "./markup.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

/** The key a message is found by in the list: its id, or its nonce while pending. */
export function messageKey(message) {
  return message.id ?? `nonce:${message.nonce}`;
}

/**
 * Build the node of a message.
 * @param {object} message a Discord message object (or a pending one from the store)
 * @param {{store, guildId, actions: {edit, remove, retry, discard}}} ctx
 */
export function renderMessage(message, ctx) {
  const { store, guildId, actions } = ctx;
  const own = store.me && message.author.id === store.me.id;
  const when = new Date(message.timestamp);
  const name = store.displayName(message.author, guildId);
  const classes = ["message"];
  if (message.pending) classes.push("pending");
  if (message.failed) classes.push("failed");
  if (mentionsMe(message, store.me)) classes.push("mentions-me");
  const node = h("article", {
    class: classes.join(" "),
    dataset: { key: messageKey(message), author: message.author.id, time: String(when.getTime()) },
    "aria-busy": message.pending && !message.failed ? "true" : null,
  },
  h("div", { class: "avatar", "aria-hidden": "true", dataset: { hue: String(hue(message.author.id)) } }, initials(name)),
  h("div", { class: "message-body" },
    h("header", { class: "message-meta" },
      h("span", { class: "author" }, name),
      h("time", { datetime: when.toISOString(), title: fullFormat.format(when) }, timeFormat.format(when)),
    ),
    h("div", { class: "message-content" }, content(message, ctx)),
    message.failed && h("div", { class: "send-error", role: "alert" },
      `Not sent: ${String(message.error || "error").replace(/\.$/, "")}. `,
      h("button", { type: "button", class: "link", on: { click: () => actions.retry(message) } }, "Retry"),
      " · ",
      h("button", { type: "button", class: "link", on: { click: () => actions.discard(message) } }, "Discard"),
    ),
  ),
  own && message.id && h("div", { class: "message-actions", role: "toolbar", "aria-label": "Message actions" },
    h("button", { type: "button", class: "icon-button", title: "Edit", "aria-label": "Edit message", on: { click: () => actions.edit(message) } }, icon("edit")),
    h("button", { type: "button", class: "icon-button danger", title: "Delete", "aria-label": "Delete message",
      on: { click: (ev) => actions.remove(message, ev.shiftKey) } }, icon("trash")),
  ));
  applyHue(node.querySelector(".avatar"));
  return node;
}

function content(message, { store, guildId }) {
  return [
    renderContent(message.content || "", { store, guildId, mentions: message.mentions }),
    message.edited_timestamp && h("span", { class: "edited", title: fullFormat.format(new Date(message.edited_timestamp)) }, " (edited)"),
  ];
}

/** Colour an avatar from its data-hue (a CSSOM write: the CSP allows it, unlike style="..."). */
export function applyHue(el) {
  if (el?.dataset.hue) el.style.setProperty("--hue", el.dataset.hue);
}

/**
 * Turn a message's content into an editor: Enter saves, Shift+Enter is a new line, Escape
 * cancels. `onSave(text)` returns a promise; the editor stays open (with the error) if it fails.
 */
export function startEditing(node, message, { onSave, onDone }) {
  const body = node.querySelector(".message-content");
  const input = h("textarea", { class: "edit-input", "aria-label": "Edit message", rows: 1 });
  input.value = message.content;
  const error = h("div", { class: "send-error", role: "alert", hidden: true });
  const finish = () => onDone();
  const save = async () => {
    const text = input.value.trim();
    if (!text || text === message.content) return finish();
    input.disabled = true;
    try {
      await onSave(text);
      finish();
    } catch (e) {
      input.disabled = false;
      error.hidden = false;
      error.textContent = e.describe ? e.describe() : String(e);
      input.focus();
    }
  };
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      save();
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      finish();
    }
  });
  const hint = h("div", { class: "edit-hint" }, "Enter to save · Escape to cancel");
  replaceChildren(body, input, error, hint);
  node.classList.add("editing");
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}
