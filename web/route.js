// Client routes. The server answers index.html for all of them (api/static.py), so a link
// like /invite/CODE works when opened directly; #/invite/CODE works on any static host.

const INVITE = /^\/invite\/([A-Za-z0-9-]{1,32})\/?$/;
const CHANNEL = /^\/channels\/(\d{1,20})(?:\/(\d{1,20}))?\/?$/;

/**
 * What the address bar names.
 * @returns {{invite?: string, guildId?: string, channelId?: string}}
 */
export function parseRoute(loc = window.location) {
  const path = loc.hash.startsWith("#/") ? loc.hash.slice(1) : loc.pathname;
  let m = INVITE.exec(path);
  if (m) return { invite: m[1] };
  m = CHANNEL.exec(path);
  if (m) return { guildId: m[1], channelId: m[2] };
  return {};
}

/** The path of a channel view (what a reload comes back to). */
export function channelPath(guildId, channelId) {
  return channelId ? `/channels/${guildId}/${channelId}` : `/channels/${guildId}`;
}

/** The shareable link of an invite code. */
export function inviteLink(code) {
  return `${window.location.origin}/invite/${encodeURIComponent(code)}`;
}
