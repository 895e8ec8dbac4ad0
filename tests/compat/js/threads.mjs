// A discord.js v14 bot working with threads, unmodified library, pointed at a Discord Arch
// server.
//
//   DISCORD_TOKEN=... node threads.mjs <api base, e.g. http://127.0.0.1:8080/api> \
//       <channel id> <message id> <user id>
//
// Once ready, in the text channel <channel id> it:
//   - creates a public thread with channel.threads.create({ name, autoArchiveDuration }),
//   - sends into it (thread.send), adds <user id> to it (thread.members.add),
//   - archives it (thread.setArchived(true)),
//   - starts a thread from the message <message id> (message.startThread),
// and prints {"event": "done", ...} with what discord.js made of each answer. Every
// threadCreate it receives is printed as {"event": "threadCreate", "id", "newly_created"}.
// Errors go to stderr and {"event": "error"}; SIGTERM/SIGINT log out and exit 0.

import process from "node:process";
import { ChannelType, Client, Events, GatewayIntentBits, ThreadAutoArchiveDuration } from "discord.js";
import { emit, runBot } from "./harness.mjs";

const [api, channelId, messageId, userId] = process.argv.slice(2);
const token = process.env.DISCORD_TOKEN;
if (!api || !channelId || !messageId || !userId || !token) {
  console.error("usage: DISCORD_TOKEN=... node threads.mjs <api base> <channel id> "
                + "<message id> <user id>");
  process.exit(2);
}

const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api } });

client.on(Events.ThreadCreate, (thread, newlyCreated) => {
  emit("threadCreate", { id: thread.id, name: thread.name, parent: thread.parentId,
                         newly_created: newlyCreated });
});

client.once(Events.ClientReady, async () => {
  try {
    const channel = client.channels.cache.get(channelId);
    if (!channel || channel.type !== ChannelType.GuildText) {
      throw new Error(`channel ${channelId} not in the cache as a text channel`);
    }
    const thread = await channel.threads.create({
      name: "js talk", autoArchiveDuration: ThreadAutoArchiveDuration.OneHour });
    const sent = await thread.send("hello from discord.js");
    const added = await thread.members.add(userId);
    const archived = await thread.setArchived(true);
    const message = await channel.messages.fetch(messageId);
    const started = await message.startThread({ name: "about that" });
    emit("done", {
      thread: { id: thread.id, name: thread.name, type: thread.type, parent: thread.parentId,
                auto_archive_duration: thread.autoArchiveDuration, owner: thread.ownerId },
      sent: { id: sent.id, channel: sent.channelId, content: sent.content },
      added,
      archived: { id: archived.id, archived: archived.archived },
      started: { id: started.id, name: started.name, type: started.type,
                 parent: started.parentId },
    });
  } catch (error) {
    console.error("threads failed:", error);
    emit("error", { where: "threads", message: String(error) });
  }
});

await runBot(client, token);
