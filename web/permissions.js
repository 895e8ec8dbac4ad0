// My permissions in a guild or a channel, computed as Discord's client does (its "Permission
// Overwrites" algorithm: @everyone, my roles, ADMINISTRATOR, then the channel's overwrites for
// @everyone, my roles and me). Only to offer the actions I may take: the server decides in the
// end, and a refusal it sends is shown as it is.

/** The bits used here (Discord's numbers, as BigInt: PIN_MESSAGES is past 2^32). */
export const Permission = Object.freeze({
  KICK_MEMBERS: 1n << 1n,
  BAN_MEMBERS: 1n << 2n,
  ADMINISTRATOR: 1n << 3n,
  MANAGE_CHANNELS: 1n << 4n,
  ADD_REACTIONS: 1n << 6n,
  VIEW_CHANNEL: 1n << 10n,
  SEND_MESSAGES: 1n << 11n,
  MANAGE_MESSAGES: 1n << 13n,
  ATTACH_FILES: 1n << 15n,
  READ_MESSAGE_HISTORY: 1n << 16n,
  MANAGE_THREADS: 1n << 34n,
  CREATE_PUBLIC_THREADS: 1n << 35n,
  SEND_MESSAGES_IN_THREADS: 1n << 38n,
  PIN_MESSAGES: 1n << 51n,
});
const ALL = (1n << 64n) - 1n;

const bits = (value) => BigInt(value || "0");

/** My guild-wide permissions (0n when the guild or my member is unknown). */
export function guildPermissions(guild, userId) {
  if (!guild || !userId) return 0n;
  if (guild.ownerId === userId) return ALL;
  const member = guild.members.get(userId);
  const roleIds = [guild.id, ...(member?.roles || [])];
  const perms = roleIds.reduce((acc, id) => acc | bits(guild.roles.get(id)?.permissions), 0n);
  return perms & Permission.ADMINISTRATOR ? ALL : perms;
}

/** My permissions in one channel of the guild: the guild's, then the channel's overwrites. */
export function channelPermissions(guild, channel, userId) {
  let perms = guildPermissions(guild, userId);
  if (perms === ALL || !channel) return perms;
  const overwrites = channel.permission_overwrites || [];
  const find = (id) => overwrites.find((o) => o.id === id);
  const everyone = find(guild.id);
  if (everyone) perms = (perms & ~bits(everyone.deny)) | bits(everyone.allow);
  let allow = 0n;
  let deny = 0n;
  for (const roleId of guild.members.get(userId)?.roles || []) {
    const o = find(roleId);
    if (o && Number(o.type) === 0) {
      allow |= bits(o.allow);
      deny |= bits(o.deny);
    }
  }
  perms = (perms & ~deny) | allow;
  const mine = overwrites.find((o) => o.id === userId && Number(o.type) === 1);
  if (mine) perms = (perms & ~bits(mine.deny)) | bits(mine.allow);
  return perms;
}

/** The position of a member's highest role (0 for @everyone only). */
export function topRolePosition(guild, userId) {
  const roles = guild.members.get(userId)?.roles || [];
  return roles.reduce((top, id) => Math.max(top, guild.roles.get(id)?.position ?? 0), 0);
}

/** Whether I may kick or ban `targetId` with `permission`: I hold it, the target is not the
 * owner nor me, and (unless I own the guild) my highest role is above theirs. */
export function canModerate(guild, myId, targetId, permission) {
  if (!guild || !myId || targetId === myId || targetId === guild.ownerId) return false;
  if (!(guildPermissions(guild, myId) & permission)) return false;
  return guild.ownerId === myId || topRolePosition(guild, myId) > topRolePosition(guild, targetId);
}
