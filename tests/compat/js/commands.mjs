// discord.js v14's command registration, unmodified library, pointed at a Discord Arch server.
//
//   node commands.mjs <api base, e.g. http://127.0.0.1:8080/api> <bot token> <application id> <guild id>
//
// What a discord.js bot's deploy script does: SlashCommandBuilder and ContextMenuCommandBuilder
// turned to JSON, then `rest.put(Routes.applicationCommands(...))` (global) and
// `Routes.applicationGuildCommands(...)` (one guild). Prints one JSON line on stdout (what
// tests/compat/test_discordjs.py reads): {"event": "registered", global, guild} with the
// commands the server answered, or {"event": "error", ...}.

import process from "node:process";
import {
  ApplicationCommandType,
  ContextMenuCommandBuilder,
  REST,
  Routes,
  SlashCommandBuilder,
} from "discord.js";
import { emit } from "./harness.mjs";

const [api, token, appId, guildId] = process.argv.slice(2);
if (!api || !token || !appId || !guildId) {
  console.error("usage: node commands.mjs <api base> <bot token> <application id> <guild id>");
  process.exit(2);
}

const ping = new SlashCommandBuilder()
  .setName("ping")
  .setDescription("Replies with pong")
  .addIntegerOption((o) =>
    o.setName("times").setDescription("How many").setRequired(true).setMinValue(1).setMaxValue(5))
  .addStringOption((o) =>
    o.setName("tone").setDescription("Tone")
      .addChoices({ name: "Loud", value: "loud" }, { name: "Soft", value: "soft" }));
const config = new SlashCommandBuilder()
  .setName("config")
  .setDescription("Settings")
  .addSubcommand((s) => s.setName("show").setDescription("Show them"));
const menu = new ContextMenuCommandBuilder()
  .setName("Inspect")
  .setType(ApplicationCommandType.User);

const rest = new REST({ api }).setToken(token);
try {
  const global = await rest.put(Routes.applicationCommands(appId),
    { body: [ping.toJSON(), config.toJSON()] });
  const guild = await rest.put(Routes.applicationGuildCommands(appId, guildId),
    { body: [menu.toJSON()] });
  emit("registered", { global, guild });
} catch (error) {
  console.error("register failed:", error);
  emit("error", { where: "register", message: String(error) });
  process.exitCode = 1;
}
