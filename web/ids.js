// Snowflakes stay strings (they exceed 2^53); these helpers order and make them.

const DISCORD_EPOCH = 1420070400000n;

/** Order two snowflake strings numerically (no leading zeros: length first, then text). */
export function compareIds(a, b) {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A message nonce shaped like a snowflake of now, as Discord's own client makes them: unique
 * enough per user, under the server's 25-character limit, and sortable.
 */
export function makeNonce() {
  const random = BigInt(Math.floor(Math.random() * 0x400000));
  return String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | random);
}
