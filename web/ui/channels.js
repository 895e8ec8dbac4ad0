// The sidebar: guild name with the invite button, the channel list, and my user panel.

import { h, replaceChildren } from "./dom.js";
import { icon } from "./icons.js";
import { applyHue, avatar as userAvatar } from "./message.js";

export class ChannelList {
  /**
   * @param {{store, onSelect: (channelId) => void, onCreateChannel: (parentId) => void,
   *   onInvite: () => void, onLogout: () => void}} deps
   */
  constructor({ store, onSelect, onCreateChannel, onInvite, onLogout }) {
    this.store = store;
    this.deps = { onSelect, onCreateChannel };
    this.guildId = null;
    this.channelId = null;
    this.title = h("h1", { class: "guild-name" });
    this.invite = h("button", { type: "button", class: "icon-button", title: "Invite people", "aria-label": "Invite people",
      on: { click: onInvite } }, icon("invite"));
    this.list = h("div", { class: "channel-groups" });
    this.user = h("div", { class: "user-panel" });
    this.logout = h("button", { type: "button", class: "icon-button", title: "Log out", "aria-label": "Log out", on: { click: onLogout } }, icon("logout"));
    this.el = h("aside", { class: "sidebar" },
      h("header", { class: "sidebar-header" }, this.title, this.invite),
      h("nav", { class: "channels", "aria-label": "Channels" }, this.list),
      h("footer", { class: "user-footer" }, this.user, this.logout));
    store.addEventListener("guild", (ev) => { if (ev.detail.guildId === this.guildId) this.render(); });
    store.addEventListener("unread", () => this.render());
    store.addEventListener("presence", (ev) => { if (ev.detail.userId === store.me?.id) this.renderUser(); });
  }

  show(guildId, channelId) {
    this.guildId = guildId;
    this.channelId = channelId;
    this.render();
  }

  render() {
    const { store } = this;
    const guild = store.guilds.get(this.guildId);
    this.title.textContent = guild ? guild.name : "No server";
    this.invite.hidden = !guild;
    const canCreate = guild && store.canManageChannels(guild.id);
    const groups = guild ? store.channelTree(guild.id) : [];
    if (guild && !groups.length) groups.push({ category: null, channels: [] });
    replaceChildren(this.list, groups.map(({ category, channels }) => {
      const label = category ? category.name : "Text channels";
      return h("section", { class: "channel-group", "aria-label": label },
        h("div", { class: "channel-group-header" },
          h("h2", {}, label),
          canCreate && h("button", { type: "button", class: "icon-button", title: "Create channel",
            "aria-label": `Create channel in ${label}`, on: { click: () => this.deps.onCreateChannel(category?.id || null) } }, icon("plus", 16))),
        h("ul", {}, channels.map((c) => [this._item(c),
          store.threadsOf(guild.id, c.id, this.channelId).map((t) => this._item(t, true))])));
    }));
    this.renderUser();
  }

  _item(channel, thread = false) {
    const selected = channel.id === this.channelId;
    const unread = this.store.unread.has(channel.id);
    const mentions = selected ? 0 : this.store.reads.mentionCount(channel.id);
    return h("li", {},
      h("a", {
        href: `/channels/${this.guildId}/${channel.id}`,
        class: `channel${thread ? " thread" : ""}${selected ? " selected" : ""}${unread ? " unread" : ""}`,
        "aria-current": selected ? "page" : null,
        on: { click: (ev) => { ev.preventDefault(); this.deps.onSelect(channel.id); } },
      }, thread ? h("span", { class: "thread-branch", "aria-hidden": "true" })
        : h("span", { class: "hash", "aria-hidden": "true" }, "#"), h("span", { class: "channel-name" }, channel.name),
      thread && h("span", { class: "visually-hidden" }, " (thread)"),
      unread && h("span", { class: "visually-hidden" }, " (unread)"),
      mentions > 0 && h("span", { class: "mention-badge", title: `${mentions} unread mention${mentions === 1 ? "" : "s"}` },
        h("span", { "aria-hidden": "true" }, mentions > 99 ? "99+" : String(mentions)),
        h("span", { class: "visually-hidden" }, `, ${mentions} mention${mentions === 1 ? "" : "s"}`))));
  }

  renderUser() {
    const me = this.store.me;
    if (!me) return;
    const status = this.store.status(me.id);
    const avatar = userAvatar(me, me.username, " small");
    avatar.append(h("span", { class: `status-dot ${status}` }));
    applyHue(avatar);
    replaceChildren(this.user, avatar,
      h("div", { class: "user-names" },
        h("span", { class: "user-name" }, me.global_name || me.username),
        h("span", { class: "user-status" }, status === "offline" ? "Connecting…" : status)));
  }
}
