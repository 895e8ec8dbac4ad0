// One message: avatar, author, time, content, and (for my own) edit and delete actions.

import { h, hue, initials, replaceChildren } from "./dom.js";
import { icon } from "./icons.js";
import { Permission } from "../permissions.js";
import { isThread } from "../store.js";
import { mentionsMe, renderContent } from "./markup.js";
import { renderComponents } from "./components.js";
import { renderReactions } from "./reactions.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

/** The key a message is found by in the list: its id, or its nonce while pending. */
export function messageKey(message) {
  return message.id ?? `nonce:${message.nonce}`;
}

// Message types drawn differently from a plain message (Discord's numbers).
const CHANNEL_PINNED_MESSAGE = 6;
// Message flags: EPHEMERAL (a command's answer to its invoker alone).
const EPHEMERAL = 64;
// Images are shown at most this large (CSS keeps the ratio; the attributes reserve the space).
const IMAGE_MAX_W = 400;
const IMAGE_MAX_H = 300;

/**
 * Build the node of a message.
 * @param {object} message a Discord message object (or a pending one from the store)
 * @param {{store, guildId, actions: {edit, remove, retry, discard, react, unreact, pickReaction,
 *   pin, unpin, openPins}}} ctx
 */
export function renderMessage(message, ctx) {
  const { store, guildId, actions } = ctx;
  const own = store.me && message.author.id === store.me.id && !message.webhook_id;
  const when = new Date(message.timestamp);
  const name = message.webhook_id ? message.author.username : store.displayName(message.author, guildId);
  const classes = ["message"];
  if (message.pending) classes.push("pending");
  if (message.failed) classes.push("failed");
  if (message.pinned) classes.push("pinned");
  const ephemeral = Boolean(message.flags & EPHEMERAL);
  if (ephemeral) classes.push("ephemeral");
  if (mentionsMe(message, store.me)) classes.push("mentions-me");
  if (message.type === CHANNEL_PINNED_MESSAGE) return renderPinNotice(message, name, when, ctx);
  const sent = Boolean(message.id);
  const canPin = sent && (store.can(message.channel_id, Permission.MANAGE_MESSAGES)
    || store.can(message.channel_id, Permission.PIN_MESSAGES));
  const canReact = sent && store.can(message.channel_id, Permission.ADD_REACTIONS);
  // A moderator (MANAGE_MESSAGES) deletes anyone's message, a webhook's too.
  const canDelete = sent && (own || store.can(message.channel_id, Permission.MANAGE_MESSAGES));
  // A thread started from this message has the message's id (and MESSAGE_UPDATE names it).
  const started = [message.thread, store.channel(message.id)].find(isThread) || null;
  const canThread = sent && !started && !isThread(store.channel(message.channel_id))
    && store.can(message.channel_id, Permission.CREATE_PUBLIC_THREADS);
  const tag = message.webhook_id ? "APP" : message.author.bot ? "BOT" : null;
  const node = h("article", {
    class: classes.join(" "),
    // A webhook posts under many names: its messages group by name as well as by id.
    dataset: { key: messageKey(message), author: message.webhook_id ? `${message.author.id}:${name}` : message.author.id,
      time: String(when.getTime()), webhookId: message.webhook_id || null },
    "aria-busy": message.pending && !message.failed ? "true" : null,
  },
  avatar(message.author, name),
  h("div", { class: "message-body" },
    invocation(message, ctx),
    h("header", { class: "message-meta" },
      h("span", { class: "author" }, name),
      tag && h("span", { class: "bot-tag", title: message.webhook_id ? "Sent by a webhook" : "Bot account" }, tag),
      h("time", { datetime: when.toISOString(), title: fullFormat.format(when) }, timeFormat.format(when)),
      message.pinned && h("span", { class: "pinned-mark", title: "Pinned" }, icon("pin", 12), h("span", { class: "visually-hidden" }, "Pinned")),
    ),
    h("div", { class: "message-content" }, content(message, ctx)),
    renderAttachments(message),
    renderComponents(message, ctx),
    renderReactions(message, {
      toggle: (emoji, mine) => (mine ? actions.unreact : actions.react)(message, emoji),
      users: (emoji) => actions.reactors(message, emoji).then((list) => list.map((u) => store.displayName(u, guildId))),
    }),
    started && h("button", { type: "button", class: "thread-chip", "aria-label": `Open thread ${started.name}`,
      on: { click: () => actions.openThread(started.id) } }, icon("thread", 16), h("span", {}, started.name),
      started.message_count ? h("span", { class: "muted" }, ` ${started.message_count} message${started.message_count === 1 ? "" : "s"}`) : null),
    ephemeral && h("div", { class: "ephemeral-note" }, "Only you can see this · ",
      h("button", { type: "button", class: "link", on: { click: () => actions.dismiss(message) } }, "Dismiss message")),
    message.failed && h("div", { class: "send-error", role: "alert" },
      `Not sent: ${String(message.error || "error").replace(/\.$/, "")}. `,
      h("button", { type: "button", class: "link", on: { click: () => actions.retry(message) } }, "Retry"),
      " · ",
      h("button", { type: "button", class: "link", on: { click: () => actions.discard(message) } }, "Discard"),
    ),
  ),
  sent && !ephemeral && (own || canDelete || canPin || canReact || canThread) && h("div", { class: "message-actions", role: "toolbar", "aria-label": "Message actions" },
    canReact && h("button", { type: "button", class: "icon-button", title: "Add reaction", "aria-label": "Add reaction",
      on: { click: (ev) => actions.pickReaction(message, ev.currentTarget) } }, icon("smile")),
    canThread && h("button", { type: "button", class: "icon-button", title: "Create thread", "aria-label": "Create thread",
      on: { click: () => actions.createThread(message) } }, icon("thread")),
    canPin && h("button", { type: "button", class: "icon-button", title: message.pinned ? "Unpin" : "Pin",
      "aria-label": message.pinned ? "Unpin message" : "Pin message",
      on: { click: () => (message.pinned ? actions.unpin : actions.pin)(message) } }, icon("pin")),
    own && h("button", { type: "button", class: "icon-button", title: "Edit", "aria-label": "Edit message", on: { click: () => actions.edit(message) } }, icon("edit")),
    canDelete && h("button", { type: "button", class: "icon-button danger", title: "Delete", "aria-label": "Delete message",
      on: { click: (ev) => actions.remove(message, ev.shiftKey) } }, icon("trash")),
  ));
  applyHue(node.querySelector(".avatar"));
  return node;
}

/** "alice used /roll" above a command's answer (Discord's interaction header). */
function invocation(message, { store, guildId }) {
  const meta = message.interaction_metadata || message.interaction;
  if (!meta?.user) return null;
  const name = message.interaction?.name || meta.name;
  return h("div", { class: "invocation" },
    h("span", { class: "invoker" }, store.displayName(meta.user, guildId)),
    name ? [" used ", h("span", { class: "command-used" }, `/${name}`)] : " used a command");
}

/** An author's avatar: their picture from the CDN when they have one, their initials under it
 * (and instead of it when it cannot be loaded: a webhook's avatar_url is never fetched). */
export function avatar(user, name, extra = "") {
  const el = h("div", { class: `avatar${extra}`, "aria-hidden": "true", dataset: { hue: String(hue(user.id)) } }, initials(name));
  if (user.avatar && /^[A-Za-z0-9_]{1,64}$/.test(user.avatar)) {
    const img = h("img", { class: "avatar-image", alt: "", src: `/avatars/${user.id}/${user.avatar}.png?size=80`,
      loading: "lazy", on: { error: () => img.remove() } });
    el.append(img);
  }
  return el;
}

/** Type 6: "X pinned a message to this channel." with a way to the pins. */
function renderPinNotice(message, name, when, { actions }) {
  return h("article", { class: "message system-message", dataset: { key: messageKey(message), author: "", time: String(when.getTime()) } },
    h("div", { class: "system-icon", "aria-hidden": "true" }, icon("pin", 16)),
    h("div", { class: "message-body" },
      h("span", { class: "author" }, name), " pinned a message to this channel. ",
      h("button", { type: "button", class: "link", on: { click: () => actions.openPins() } }, "See all pinned messages."),
      " ", h("time", { datetime: when.toISOString(), title: fullFormat.format(when) }, timeFormat.format(when))));
}

/** A message's files: images inline from the CDN (a click opens the file), anything else as
 * a link that downloads it. A pending send names its files until the server has them. */
export function renderAttachments(message) {
  const files = message.attachments || [];
  if (!files.length) return null;
  return h("div", { class: "attachments" }, files.map((a) => {
    if (!a.url) {
      return h("div", { class: "attachment-file pending-file" }, icon("file", 24),
        h("span", { class: "attachment-name" }, a.filename), h("span", { class: "attachment-size" }, formatSize(a.size)));
    }
    if (/^image\/(png|jpeg|gif|webp|avif)$/.test(a.content_type || "") && a.width && a.height) {
      const scale = Math.min(1, IMAGE_MAX_W / a.width, IMAGE_MAX_H / a.height);
      return h("a", { class: "attachment-image", href: a.url, target: "_blank", rel: "noopener noreferrer", title: a.filename },
        h("img", { src: cdnSource(a.url), alt: a.description || a.filename, loading: "lazy",
          width: String(Math.max(1, Math.round(a.width * scale))), height: String(Math.max(1, Math.round(a.height * scale))) }));
    }
    return h("div", { class: "attachment-file" }, icon("file", 24),
      h("a", { class: "attachment-name", href: a.url, download: a.filename, rel: "noopener noreferrer" }, a.filename),
      h("span", { class: "attachment-size" }, formatSize(a.size)));
  }));
}

/** An attachment URL to load in the page: the server builds it from its public_http_url, and
 * the page's CSP loads images from this origin only; the CDN is served by this same server,
 * so a URL naming another origin (the server reached by another name) is read from this one. */
export function cdnSource(url) {
  try {
    const parsed = new URL(url, window.location.href);
    if (parsed.origin === window.location.origin || !parsed.pathname.startsWith("/attachments/")) return url;
    return window.location.origin + parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

/** 1536 → "1.5 KB", as Discord's client writes sizes. */
export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} bytes`;
  const units = ["KB", "MB", "GB"];
  let value = n / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
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
