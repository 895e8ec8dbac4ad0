// discord.js v14's WebhookClient, unmodified library, pointed at a Discord Arch server.
//
//   node webhook.mjs <api base, e.g. http://127.0.0.1:8080/api> <webhook URL>
//
// The URL is the discord.com form (https://discord.com/api/webhooks/{id}/{token}), the only
// one WebhookClient parses; `rest: { api }` sends its requests to the server. It sends one
// message with a username of its own (WebhookClient always asks for `wait`) and prints one
// JSON line on stdout (what tests/compat/test_discordjs.py reads): {"event": "sent", ...}
// with the message the server answered, or {"event": "error", ...}.

import process from "node:process";
import { WebhookClient } from "discord.js";
import { emit } from "./harness.mjs";

const [api, url] = process.argv.slice(2);
if (!api || !url) {
  console.error("usage: node webhook.mjs <api base> <webhook url>");
  process.exit(2);
}

const webhook = new WebhookClient({ url }, { rest: { api } });
try {
  const message = await webhook.send({ content: "from discord.js", username: "JS Hook" });
  emit("sent", {
    id: message.id,
    webhook_id: message.webhook_id,
    channel_id: message.channel_id,
    content: message.content,
    author: { id: message.author.id, username: message.author.username, bot: message.author.bot },
  });
} catch (error) {
  console.error("send failed:", error);
  emit("error", { where: "send", message: String(error) });
  process.exitCode = 1;
} finally {
  webhook.destroy();
}
