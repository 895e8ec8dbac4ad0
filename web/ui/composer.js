// The message box: Enter sends, Shift+Enter is a new line, typing is announced at most
// every TYPING_INTERVAL_MS, and ArrowUp in an empty box edits my last message.

import { h } from "./dom.js";

// Discord's client re-sends POST /typing about every 8-10 s while the user keeps typing;
// the indicator it triggers lasts ~10 s.
const TYPING_INTERVAL_MS = 8000;
const MAX_ROWS = 10;

export class Composer {
  /**
   * @param {{send: (text: string) => void, typing: () => void, editLast: () => boolean}} actions
   */
  constructor(actions) {
    this.actions = actions;
    this.lastTyping = 0;
    this.input = h("textarea", { id: "composer-input", class: "composer-input", rows: 1, maxlength: 2000,
      autocomplete: "off", "aria-describedby": "composer-hint" });
    this.label = h("label", { for: "composer-input", class: "visually-hidden" }, "Message");
    this.el = h("form", { class: "composer", on: { submit: (ev) => { ev.preventDefault(); this._send(); } } },
      this.label, this.input,
      h("span", { id: "composer-hint", class: "visually-hidden" }, "Enter to send, Shift+Enter for a new line"));
    this.input.addEventListener("keydown", (ev) => this._onKey(ev));
    this.input.addEventListener("input", () => this._onInput());
  }

  /** Point the box at a channel (placeholder and label name it). */
  setChannel(name, enabled = true) {
    const text = `Message #${name}`;
    this.input.placeholder = text;
    this.label.textContent = text;
    this.input.disabled = !enabled;
    this.lastTyping = 0;
  }

  focus() {
    this.input.focus();
  }

  _onKey(ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      this._send();
    } else if (ev.key === "ArrowUp" && !this.input.value && this.actions.editLast()) {
      ev.preventDefault();
    }
  }

  _onInput() {
    this._resize();
    const now = Date.now();
    if (this.input.value.trim() && now - this.lastTyping > TYPING_INTERVAL_MS) {
      this.lastTyping = now;
      this.actions.typing();
    }
  }

  _send() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this._resize();
    // The message ends my typing on the others' screens; the next keystroke may announce again.
    this.lastTyping = 0;
    this.actions.send(text);
  }

  _resize() {
    const el = this.input;
    el.rows = 1;
    const line = parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.rows = Math.min(MAX_ROWS, Math.max(1, Math.round((el.scrollHeight - 16) / line)));
  }
}
