// Reactions under a message (click one to add or take back mine) and the emoji picker that
// adds a new one: a few common emoji, or any emoji typed or pasted into its box.

import { h } from "./dom.js";

/** The picker's quick choices: [emoji, the words a screen reader says for it]. */
export const QUICK_EMOJI = Object.freeze([
  ["👍", "thumbs up"], ["❤️", "red heart"], ["😂", "face with tears of joy"], ["🎉", "party popper"],
  ["😮", "face with open mouth"], ["😢", "crying face"], ["👀", "eyes"], ["✅", "check mark"],
]);
// A typed emoji: one grapheme of at most this many UTF-16 units (flags and ZWJ families fit).
const TYPED_MAX = 32;

/** How an emoji is written: unicode as it is, a custom one as :name: (no image here). */
export function emojiText(emoji) {
  return emoji.id ? `:${emoji.name}:` : emoji.name;
}

/**
 * The reaction buttons of a message; null when it has none.
 * @param {object} message with Discord's `reactions` ({emoji, count, me})
 * @param {{toggle: (emoji, mine: boolean) => void, users: (emoji) => Promise<string[]>}} deps
 *   users: the names of the first who reacted, read when a reaction is first pointed at
 */
export function renderReactions(message, { toggle, users }) {
  const reactions = message.reactions || [];
  if (!reactions.length || !message.id) return null;
  return h("div", { class: "reactions", role: "group", "aria-label": "Reactions" },
    reactions.map((r) => {
      const text = emojiText(r.emoji);
      const label = `${text} ${r.count} reaction${r.count === 1 ? "" : "s"}${r.me ? ", including yours" : ""}`;
      const el = h("button", {
        type: "button", class: `reaction${r.me ? " mine" : ""}`, "aria-pressed": r.me ? "true" : "false",
        title: r.me ? `Remove your ${text} reaction` : `React with ${text}`, "aria-label": label,
        dataset: { emoji: r.emoji.id || r.emoji.name },
        on: { click: () => toggle(r.emoji, r.me) },
      }, h("span", { class: "reaction-emoji" }, text), h("span", { class: "reaction-count" }, String(r.count)));
      // Who reacted, read once when the reaction is first pointed at (the node is redrawn,
      // and so read again, when the count changes).
      const tell = () => users(r.emoji).then((names) => {
        if (!names.length) return;
        const others = r.count - names.length;
        el.title = `${names.join(", ")}${others > 0 ? ` and ${others} other${others === 1 ? "" : "s"}` : ""} reacted with ${text}`;
      }).catch(() => {});
      el.addEventListener("mouseenter", tell, { once: true });
      el.addEventListener("focus", tell, { once: true });
      return el;
    }));
}

/**
 * Open the emoji picker beside `anchor` (inside `host`); `onPick(emoji)` gets {name, id: null}.
 * Escape, a click elsewhere or a pick closes it; focus goes back to the anchor.
 */
export function openEmojiPicker(host, anchor, onPick) {
  host.querySelector(".emoji-picker")?.remove();
  const close = () => {
    picker.remove();
    document.removeEventListener("pointerdown", outside, true);
    anchor.focus({ preventScroll: true });
  };
  const pick = (name) => {
    close();
    onPick({ name, id: null });
  };
  const outside = (ev) => { if (!picker.contains(ev.target) && ev.target !== anchor) close(); };
  const typed = h("input", { class: "emoji-input", "aria-label": "Any emoji", placeholder: "Or type an emoji",
    maxlength: String(TYPED_MAX), autocomplete: "off" });
  const picker = h("div", { class: "emoji-picker", role: "dialog", "aria-label": "Add a reaction" },
    h("div", { class: "emoji-grid" }, QUICK_EMOJI.map(([emoji, words]) =>
      h("button", { type: "button", class: "emoji-choice", title: words, "aria-label": `React with ${words}`,
        on: { click: () => pick(emoji) } }, emoji))),
    h("form", { class: "emoji-form", on: { submit: (ev) => {
      ev.preventDefault();
      const value = typed.value.trim();
      if (value && !/[\s<>:]/.test(value)) pick(value);
    } } }, typed));
  picker.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    }
  });
  host.append(picker);
  document.addEventListener("pointerdown", outside, true);
  picker.querySelector("button").focus();
  return picker;
}
