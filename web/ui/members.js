// The member list: online members first, then offline, each sorted by name; kick and ban
// buttons on the members I may remove (KICK_MEMBERS / BAN_MEMBERS and a higher role). It tells
// `actions.shown` whom it shows, in order: in a large guild those are the members whose
// presences the client subscribes to (member_subscriptions.js). There it shows no more members
// than the client may follow (MAX_FOLLOWED, and me): the server sends the statuses of those
// only, so a longer list would show everyone after them offline for good.

import { MAX_FOLLOWED } from "../member_subscriptions.js";
import { Permission } from "../permissions.js";
import { h, replaceChildren } from "./dom.js";
import { icon } from "./icons.js";
import { applyHue, avatar as userAvatar } from "./message.js";

export class MemberList {
  /**
   * @param {object} store
   * @param {{kick: (guildId, member, name) => void, ban: (guildId, member, name) => void,
   *   shown?: (guildId: string|null, userIds: string[]) => void}} actions
   */
  constructor(store, actions) {
    this.store = store;
    this.actions = actions;
    this.guildId = null;
    this.el = h("aside", { class: "members", "aria-label": "Members" });
    store.addEventListener("members", (ev) => { if (ev.detail.guildId === this.guildId) this.render(); });
    store.addEventListener("guild", (ev) => { if (ev.detail.guildId === this.guildId) this.render(); });
    store.addEventListener("presence", () => this.render());
  }

  show(guildId) {
    this.guildId = guildId;
    this.render();
  }

  render() {
    const { store } = this;
    const guild = store.guilds.get(this.guildId);
    if (!guild) {
      replaceChildren(this.el);
      this.actions.shown?.(null, []);
      return;
    }
    const entries = [...guild.members.values()].map((m) => ({
      member: m, name: store.displayName(m.user, guild.id), status: store.status(m.user.id),
    })).sort((a, b) => a.name.localeCompare(b.name));
    let online = entries.filter((e) => e.status !== "offline");
    let offline = entries.filter((e) => e.status === "offline");
    let hidden = 0;
    if (guild.large) {
      const me = store.me?.id;
      const kept = new Set([...online, ...offline].filter((e) => e.member.user.id !== me)
        .slice(0, MAX_FOLLOWED).map((e) => e.member.user.id));
      if (me) kept.add(me);
      const keep = (e) => kept.has(e.member.user.id);
      online = online.filter(keep);
      offline = offline.filter(keep);
      hidden = entries.length - online.length - offline.length;
    }
    replaceChildren(this.el,
      this._group(`Online — ${online.length}`, online, guild),
      this._group(`Offline — ${offline.length}`, offline, guild),
      hidden > 0 && h("p", { class: "members-more" }, `${hidden} more not shown`));
    this.actions.shown?.(guild.id, [...online, ...offline].map((e) => e.member.user.id));
  }

  _group(title, entries, guild) {
    if (!entries.length) return null;
    return h("section", { class: "member-group", "aria-label": title },
      h("h2", {}, title),
      h("ul", {}, entries.map(({ member, name, status }) => {
        const avatar = userAvatar(member.user, name, " small");
        avatar.append(h("span", { class: `status-dot ${status}` }));
        applyHue(avatar);
        const kick = this.store.canModerate(guild.id, member.user.id, Permission.KICK_MEMBERS);
        const ban = this.store.canModerate(guild.id, member.user.id, Permission.BAN_MEMBERS);
        return h("li", { class: `member ${status}`, dataset: { userId: member.user.id, status } },
          avatar,
          h("span", { class: "member-name" }, name),
          member.user.id === guild.ownerId && h("span", { class: "owner", title: "Server owner" }, icon("crown", 14), h("span", { class: "visually-hidden" }, ", owner")),
          member.user.bot && h("span", { class: "bot-tag" }, "BOT"),
          h("span", { class: "visually-hidden" }, `, ${status}`),
          (kick || ban) && h("span", { class: "member-actions" },
            kick && h("button", { type: "button", class: "member-action", title: `Kick ${name}`, "aria-label": `Kick ${name}`,
              on: { click: () => this.actions.kick(guild.id, member, name) } }, "Kick"),
            ban && h("button", { type: "button", class: "member-action danger", title: `Ban ${name}`, "aria-label": `Ban ${name}`,
              on: { click: () => this.actions.ban(guild.id, member, name) } }, "Ban")));
      })));
  }
}
