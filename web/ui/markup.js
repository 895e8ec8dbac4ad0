// Message content → DOM nodes: Discord-style mentions and plain links; everything else text.

import { h } from "./dom.js";

// <@id> / <@!id> user, <@&id> role, <#id> channel, @everyone / @here, and http(s) links.
const TOKEN = /<@!?(\d{1,20})>|<@&(\d{1,20})>|<#(\d{1,20})>|@(everyone|here)\b|(https?:\/\/[^\s<]+[^\s<.,:;"')\]])/g;

/**
 * Render message content.
 * @param {string} content
 * @param {{store: import("../store.js").Store, guildId: string|null, mentions: object[]}} ctx
 * @returns {Node[]}
 */
export function renderContent(content, { store, guildId, mentions = [] }) {
  const out = [];
  let last = 0;
  for (const m of content.matchAll(TOKEN)) {
    if (m.index > last) out.push(document.createTextNode(content.slice(last, m.index)));
    out.push(token(m, store, guildId, mentions));
    last = m.index + m[0].length;
  }
  if (last < content.length) out.push(document.createTextNode(content.slice(last)));
  return out;
}

function token(m, store, guildId, mentions) {
  const [raw, userId, roleId, channelId, everyone, url] = m;
  if (userId) {
    const user = mentions.find((u) => u.id === userId) || store.userById(userId, guildId);
    const me = store.me && store.me.id === userId;
    return h("span", { class: me ? "mention mention-me" : "mention" }, "@" + (user ? store.displayName(user, guildId) : "unknown-user"));
  }
  if (roleId) {
    const role = guildId ? store.guilds.get(guildId)?.roles.get(roleId) : null;
    return h("span", { class: "mention" }, "@" + (role?.name || "deleted-role"));
  }
  if (channelId) {
    const channel = store.channel(channelId);
    return h("span", { class: "mention" }, "#" + (channel?.name || "deleted-channel"));
  }
  if (everyone) return h("span", { class: "mention" }, raw);
  // Only http(s) reaches here (the pattern says so): no javascript: URL can become a link.
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow" }, url);
}

/** Whether a message mentions me (by id or with @everyone/@here). */
export function mentionsMe(message, me) {
  if (!me) return false;
  return Boolean(message.mention_everyone) || (message.mentions || []).some((u) => u.id === me.id);
}
