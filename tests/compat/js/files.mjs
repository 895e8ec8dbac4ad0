// discord.js v14's file uploads, unmodified library, pointed at a Discord Arch server.
//
//   DISCORD_TOKEN=... node files.mjs <api base, e.g. http://127.0.0.1:8080/api> <channel id> <file>
//
// Logs the bot in (`rest: { api }`), sends the file with `channel.send({ content, files })`
// (discord.js's multipart body: `payload_json` and `files[0]`), then downloads the attachment
// from its `url` with Node's fetch, as a bot reading a message would. Prints one JSON line on
// stdout (what tests/compat/test_discordjs.py reads): {"event": "sent", ...} with the
// attachment's fields and the SHA-256 of the bytes downloaded, or {"event": "error", ...}.

import { createHash } from "node:crypto";
import { basename } from "node:path";
import process from "node:process";
import { Client, Events, GatewayIntentBits } from "discord.js";
import { emit } from "./harness.mjs";

const [api, channelId, file] = process.argv.slice(2);
const token = process.env.DISCORD_TOKEN;
if (!api || !channelId || !file || !token) {
  console.error("usage: DISCORD_TOKEN=... node files.mjs <api base> <channel id> <file>");
  process.exit(2);
}

const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api } });

const ready = new Promise((resolve) => client.once(Events.ClientReady, resolve));
try {
  await client.login(token);
  await ready;
  const channel = await client.channels.fetch(channelId);
  const message = await channel.send({ content: "a file from discord.js", files: [file] });
  const attachment = message.attachments.first();
  const response = await fetch(attachment.url, { signal: AbortSignal.timeout(10_000) });
  const bytes = Buffer.from(await response.arrayBuffer());
  emit("sent", {
    message: message.id, content: message.content, name: attachment.name, size: attachment.size,
    contentType: attachment.contentType, url: attachment.url, status: response.status,
    sha256: createHash("sha256").update(bytes).digest("hex"), expectedName: basename(file),
  });
} catch (error) {
  console.error("send with files failed:", error);
  emit("error", { where: "files", message: String(error) });
  process.exitCode = 1;
} finally {
  await client.destroy();
}
