// The server column: one round button per guild, and "+" to create one.

import { h, hue, initials, replaceChildren } from "./dom.js";
import { icon } from "./icons.js";
import { applyHue } from "./message.js";

export class ServerList {
  /** @param {{store, onSelect: (guildId) => void, onCreate: () => void}} deps */
  constructor({ store, onSelect, onCreate }) {
    this.store = store;
    this.onSelect = onSelect;
    this.selected = null;
    this.list = h("ul", { class: "server-items" });
    this.el = h("nav", { class: "servers", "aria-label": "Servers" },
      this.list,
      h("button", { type: "button", class: "server-button add", title: "Create a server", "aria-label": "Create a server",
        on: { click: onCreate } }, icon("plus", 24)));
    store.addEventListener("guilds", () => this.render());
    store.addEventListener("unread", () => this.render());
  }

  select(guildId) {
    this.selected = guildId;
    this.render();
  }

  render() {
    const { store } = this;
    replaceChildren(this.list, store.guildOrder.map((id) => {
      const guild = store.guilds.get(id);
      const unread = [...guild.channels.keys()].some((c) => store.unread.has(c));
      const mentions = [...guild.channels.keys()].reduce((n, c) => n + store.reads.mentionCount(c), 0);
      const label = mentions ? `${guild.name} (${mentions} mention${mentions === 1 ? "" : "s"})`
        : unread ? `${guild.name} (unread messages)` : guild.name;
      const button = h("button", {
        type: "button",
        class: `server-button${id === this.selected ? " selected" : ""}${unread ? " unread" : ""}`,
        title: guild.name,
        "aria-label": label,
        "aria-current": id === this.selected ? "page" : null,
        dataset: { hue: String(hue(id)) },
        on: { click: () => this.onSelect(id) },
      }, initials(guild.name),
      mentions > 0 && h("span", { class: "server-badge", "aria-hidden": "true" }, mentions > 99 ? "99+" : String(mentions)));
      applyHue(button);
      return h("li", {}, button);
    }));
  }
}
