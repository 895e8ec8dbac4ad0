// A discord.js v14 bot answering interactions, unmodified library, pointed at a Discord Arch
// server.
//
//   DISCORD_TOKEN=... node interactions.mjs <api base, e.g. http://127.0.0.1:8080/api> <guild id>
//
// Once ready it registers its guild commands (SlashCommandBuilder, rest.put) and prints
// {"event": "registered", "commands": [...]} on stdout; then it answers what a user does (the
// test invokes over POST /interactions, as Discord's client does) and prints
// {"event": "answered", "what": ...} after each answer:
//   /ping          interaction.reply
//   /slow          deferReply, editReply, then followUp
//   /secret        an ephemeral reply
//   /menu          a reply with a button row and a select menu
//   button "go"    interaction.update (the message edited, its components removed)
//   button "ask"   interaction.showModal; its submit: reply with the text typed
//   select "color" a reply naming the values picked
//   /fruit         autocomplete: interaction.respond with the fruits starting with the text typed
// Errors go to stderr and {"event": "error"}; SIGTERM/SIGINT log out and exit 0.

import process from "node:process";
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  ModalBuilder,
  Routes,
  SlashCommandBuilder,
  StringSelectMenuBuilder,
  TextInputBuilder,
  TextInputStyle,
} from "discord.js";
import { emit, runBot } from "./harness.mjs";

const [api, guildId] = process.argv.slice(2);
const token = process.env.DISCORD_TOKEN;
if (!api || !guildId || !token) {
  console.error("usage: DISCORD_TOKEN=... node interactions.mjs <api base> <guild id>");
  process.exit(2);
}

const FRUITS = ["apple", "apricot", "banana", "cherry"];
const commands = [
  new SlashCommandBuilder().setName("ping").setDescription("Pong"),
  new SlashCommandBuilder().setName("slow").setDescription("Think first"),
  new SlashCommandBuilder().setName("secret").setDescription("Only for you"),
  new SlashCommandBuilder().setName("menu").setDescription("Buttons and a menu"),
  new SlashCommandBuilder().setName("fruit").setDescription("Pick a fruit")
    .addStringOption((o) => o.setName("name").setDescription("Name").setAutocomplete(true)),
].map((c) => c.toJSON());

const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api } });

client.once(Events.ClientReady, async (ready) => {
  try {
    const made = await client.rest.put(
      Routes.applicationGuildCommands(ready.user.id, guildId), { body: commands });
    emit("registered", { commands: made.map((c) => ({ id: c.id, name: c.name })) });
  } catch (error) {
    console.error("register failed:", error);
    emit("error", { where: "register", message: String(error) });
  }
});

async function answer(interaction) {
  if (interaction.isAutocomplete()) {
    const typed = interaction.options.getFocused();
    await interaction.respond(FRUITS.filter((f) => f.startsWith(typed))
      .map((f) => ({ name: f.toUpperCase(), value: f })));
    return `autocomplete ${typed}`;
  }
  if (interaction.isChatInputCommand()) {
    switch (interaction.commandName) {
      case "ping":
        await interaction.reply("pong");
        return "ping";
      case "slow":
        await interaction.deferReply();
        await interaction.editReply("thought it over");
        await interaction.followUp("and one more thing");
        return "slow";
      case "secret":
        await interaction.reply({ content: "for your eyes", flags: MessageFlags.Ephemeral });
        return "secret";
      case "menu": {
        const buttons = new ActionRowBuilder().addComponents(
          new ButtonBuilder().setCustomId("go").setLabel("Go").setStyle(ButtonStyle.Primary),
          new ButtonBuilder().setCustomId("ask").setLabel("Tell us")
            .setStyle(ButtonStyle.Secondary));
        const colors = new ActionRowBuilder().addComponents(
          new StringSelectMenuBuilder().setCustomId("color").setMaxValues(2).addOptions(
            { label: "Red", value: "red" }, { label: "Blue", value: "blue" }));
        await interaction.reply({ content: "Choose", components: [buttons, colors] });
        return "menu";
      }
      default:
        return null;
    }
  }
  if (interaction.isButton() && interaction.customId === "go") {
    await interaction.update({ content: "clicked", components: [] });
    return "go";
  }
  if (interaction.isButton() && interaction.customId === "ask") {
    const modal = new ModalBuilder().setCustomId("fb").setTitle("Feedback").addComponents(
      new ActionRowBuilder().addComponents(
        new TextInputBuilder().setCustomId("name").setLabel("Name")
          .setStyle(TextInputStyle.Short).setMaxLength(20)));
    await interaction.showModal(modal);
    return "ask";
  }
  if (interaction.isStringSelectMenu()) {
    await interaction.reply(`picked ${interaction.values.join(" ")}`);
    return "color";
  }
  if (interaction.isModalSubmit()) {
    await interaction.reply(`thanks ${interaction.fields.getTextInputValue("name")}`);
    return "fb";
  }
  return null;
}

client.on(Events.InteractionCreate, async (interaction) => {
  try {
    const what = await answer(interaction);
    emit("answered", { what, user: interaction.user.id, guild: interaction.guildId });
  } catch (error) {
    console.error("answer failed:", error);
    emit("error", { where: "answer", message: String(error) });
  }
});

await runBot(client, token);
