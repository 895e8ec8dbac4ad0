// The pinned messages of the open channel (GET /channels/{id}/pins, newest pin first), in a
// panel beside the messages that takes the member list's place while open, like search. It
// reads the list again when CHANNEL_PINS_UPDATE says the channel's pins changed.

import { h, replaceChildren } from "./dom.js";
import { renderContent } from "./markup.js";
import { renderAttachments } from "./message.js";
import { SidePanel } from "./sidepanel.js";

const whenFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export class PinsPanel extends SidePanel {
  /**
   * @param {{store, load: (channelId) => Promise<object[]>, jump: (message) => void,
   *   unpin: (message) => Promise<void>, canPin: (channelId) => boolean,
   *   onToggle: (open: boolean) => void}} deps
   */
  constructor(deps) {
    super(deps, { label: "Pinned messages", iconName: "pin" });
    this.list = h("ol", { class: "search-hits pin-list" });
    this.el = this.frame("pins-panel", "Close pinned messages", this.list);
    this.store.addEventListener("pins", (ev) => { if (ev.detail.channelId === this.channelId && !this.el.hidden) this.reload(); });
  }

  /** The channel whose pins are listed; another one reads its own. */
  show(channelId, guildId) {
    this.channelId = channelId;
    this.guildId = guildId;
    this.button.hidden = !channelId;
    if (!channelId) this.close();
    else if (!this.el.hidden) this.reload();
  }

  async reload() {
    const asked = ++this.asked;
    const channelId = this.channelId;
    if (!this.list.children.length) this.status.textContent = "Loading pins…";
    try {
      const pins = await this.deps.load(channelId);
      if (asked !== this.asked) return;
      const n = pins.length;
      this.status.textContent = n ? `${n} pinned message${n === 1 ? "" : "s"}` : "No pinned messages";
      replaceChildren(this.list, pins.map((m) => this.item(m)));
    } catch (e) {
      if (asked !== this.asked) return;
      this.status.textContent = `Could not load pins: ${e.describe ? e.describe() : e.message}`;
    }
  }

  item(message) {
    const { store, guildId } = this;
    const author = message.webhook_id ? message.author.username : store.displayName(message.author, guildId);
    const when = new Date(message.timestamp);
    return h("li", { class: "search-hit pin-item", dataset: { id: message.id } },
      h("div", { class: "search-hit-meta" },
        h("span", { class: "author" }, author),
        h("time", { datetime: when.toISOString() }, whenFormat.format(when))),
      h("div", { class: "message-content" },
        renderContent(message.content || "", { store, guildId, mentions: message.mentions })),
      renderAttachments(message),
      h("div", { class: "pin-actions" },
        h("button", { type: "button", class: "link", "aria-label": `Jump to ${author}'s message`,
          on: { click: () => this.deps.jump(message) } }, "Jump"),
        this.deps.canPin(message.channel_id) && h("button", { type: "button", class: "link danger-link",
          "aria-label": `Unpin ${author}'s message`, on: { click: () => this.deps.unpin(message) } }, "Unpin")));
  }
}
