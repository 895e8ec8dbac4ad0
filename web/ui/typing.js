// "alice is typing…" under the message box, for the current channel.

import { h, replaceChildren } from "./dom.js";

export class TypingIndicator {
  constructor(store) {
    this.store = store;
    this.channelId = null;
    this.timer = null;
    this.text = "";
    this.el = h("div", { class: "typing", role: "status", "aria-live": "polite" });
    store.addEventListener("typing", (ev) => { if (ev.detail.channelId === this.channelId) this.render(); });
  }

  show(channelId) {
    this.channelId = channelId;
    this.render();
  }

  render() {
    clearTimeout(this.timer);
    const names = this.channelId ? this.store.typers(this.channelId) : [];
    const text = names.length ? describe(names) : "";
    // Touch the live region only when the words change, or it is read out every second.
    if (text !== this.text) {
      this.text = text;
      replaceChildren(this.el, text ? [h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), text] : []);
    }
    // Entries expire on their own: look again in a second while someone is shown.
    if (names.length) this.timer = setTimeout(() => this.render(), 1000);
  }
}

function describe(names) {
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return "Several people are typing…";
}
