// What the side panels beside the messages share (pins, threads): the toolbar button that
// opens and closes one, its status line, the panel's frame with its close button, and the
// counter that drops a late answer. Each panel adds its list and how it loads it.

import { h } from "./dom.js";
import { icon } from "./icons.js";

export class SidePanel {
  /**
   * @param {{store, onToggle: (open: boolean) => void}} deps
   * @param {{label: string, iconName: string}} look the button's and the panel's name, the icon
   */
  constructor(deps, { label, iconName }) {
    this.deps = deps;
    this.store = deps.store;
    this.channelId = null;
    this.guildId = null;
    this.asked = 0; // bumped by every load and every close: an older answer arriving late is dropped
    this.label = label;
    this.button = h("button", { type: "button", class: "icon-button", title: label, "aria-label": label,
      "aria-expanded": "false", on: { click: () => (this.el.hidden ? this.open() : this.close()) } }, icon(iconName, 20));
    this.status = h("p", { class: "search-status", role: "status" });
  }

  /** The panel (hidden at first): a header with the status and a close button, then `children`. */
  frame(className, closeLabel, ...children) {
    return h("aside", { class: `search-results ${className}`, "aria-label": this.label, hidden: true },
      h("header", { class: "search-header" }, this.status,
        h("button", { type: "button", class: "icon-button", title: "Close", "aria-label": closeLabel,
          on: { click: () => this.close() } }, "×")),
      ...children);
  }

  open() {
    if (!this.channelId) return;
    if (this.el.hidden) {
      this.el.hidden = false;
      this.button.setAttribute("aria-expanded", "true");
      this.deps.onToggle(true);
    }
    this.reload();
  }

  close() {
    this.asked++;
    if (this.el.hidden) return;
    this.el.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    this.deps.onToggle(false);
  }
}
