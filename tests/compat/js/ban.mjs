// discord.js v14's bans, unmodified library, pointed at a Discord Arch server.
//
//   DISCORD_TOKEN=... node ban.mjs <api base, e.g. http://127.0.0.1:8080/api> <guild id> <user id>
//
// Logs the bot in (`rest: { api }`: discord.js finds the gateway itself), then bans the user
// with `guild.members.ban(user, { deleteMessageSeconds, reason })` (discord.js sends the
// reason as X-Audit-Log-Reason) and reads the ban back with `guild.bans.fetch`. Prints one
// JSON line on stdout (what tests/compat/test_discordjs.py reads): {"event": "banned", ...}
// with what the server answered, or {"event": "error", ...}; then logs out.

import process from "node:process";
import { Client, Events, GatewayIntentBits } from "discord.js";
import { emit } from "./harness.mjs";

const [api, guildId, userId] = process.argv.slice(2);
const token = process.env.DISCORD_TOKEN;
if (!api || !guildId || !userId || !token) {
  console.error("usage: DISCORD_TOKEN=... node ban.mjs <api base> <guild id> <user id>");
  process.exit(2);
}

const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildModeration],
  rest: { api },
});

const ready = new Promise((resolve) => client.once(Events.ClientReady, resolve));
try {
  await client.login(token);
  await ready;
  const guild = client.guilds.cache.get(guildId) ?? (await client.guilds.fetch(guildId));
  await guild.members.ban(userId, { deleteMessageSeconds: 3600, reason: "from discord.js" });
  const ban = await guild.bans.fetch({ user: userId, force: true });
  emit("banned", { user: ban.user.id, reason: ban.reason, guild: ban.guild.id });
} catch (error) {
  console.error("ban failed:", error);
  emit("error", { where: "ban", message: String(error) });
  process.exitCode = 1;
} finally {
  await client.destroy();
}
