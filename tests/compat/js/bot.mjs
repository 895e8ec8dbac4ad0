// A discord.js v14 bot, unmodified library, pointed at a Discord Arch server.
//
//   DISCORD_API=http://127.0.0.1:8080/api DISCORD_TOKEN=... node bot.mjs
//   node bot.mjs http://127.0.0.1:8080/api   (token from DISCORD_TOKEN)
//
// The API base is the only setting: discord.js appends /v10 to it, fetches /gateway/bot and
// connects to the `url` that returns. It prints one JSON line per event on stdout (what
// tests/compat/test_discordjs.py reads): {"event": "ready", ...} once logged in and every
// guild has arrived, {"event": "reply", ...} after answering a user's message with
// "pong: <content>", then {"event": "reacted", ...} once it has reacted to that message with
// a thumbs up (message.react). Errors go to stderr (with discord.js's debug log if DISCORD_DEBUG=1);
// SIGTERM/SIGINT log out and exit 0.

import process from "node:process";
import { Client, Events, GatewayIntentBits } from "discord.js";
import { emit, runBot } from "./harness.mjs";

const api = process.argv[2] ?? process.env.DISCORD_API;
const token = process.env.DISCORD_TOKEN;
if (!api || !token) {
  console.error("usage: DISCORD_TOKEN=... node bot.mjs <api base, e.g. http://127.0.0.1:8080/api>");
  process.exit(2);
}

const client = new Client({
  intents: [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.MessageContent,
  ],
  rest: { api },
});

client.once(Events.ClientReady, (ready) => {
  emit("ready", {
    user: { id: ready.user.id, username: ready.user.username, bot: ready.user.bot },
    guilds: ready.guilds.cache.map((g) => ({
      id: g.id,
      name: g.name,
      channels: g.channels.cache.map((c) => c.id),
    })),
  });
});

client.on(Events.MessageCreate, async (message) => {
  if (message.author.bot) return;
  try {
    const reply = await message.reply("pong: " + message.content);
    emit("reply", {
      to: message.id,
      id: reply.id,
      channel_id: message.channelId,
      guild_id: message.guildId,
      author: message.author.id,
      member: message.member !== null,
      content: message.content,
    });
  } catch (error) {
    console.error("reply failed:", error);
    emit("error", { where: "reply", message: String(error) });
    return;
  }
  try {
    const reaction = await message.react("\u{1F44D}");
    emit("reacted", {
      message: message.id,
      emoji: reaction.emoji.name,
      count: reaction.count,
      me: reaction.me,
    });
  } catch (error) {
    console.error("react failed:", error);
    emit("error", { where: "react", message: String(error) });
  }
});

// DISCORD_DEBUG=1: discord.js's own debug log on stderr (the test shows it when it fails).
if (process.env.DISCORD_DEBUG === "1") {
  client.on(Events.Debug, (line) => {
    // discord.js prints the token (it masks only a third part, which ours do not have).
    if (!line.startsWith("Provided token")) console.error("[debug]", line);
  });
}

await runBot(client, token);
