// What every bot script here shares: one JSON line per event on stdout (what
// tests/compat/test_discordjs.py reads), and the life of a long-running bot.

import process from "node:process";
import { Events } from "discord.js";

export function emit(event, data) {
  process.stdout.write(JSON.stringify({ event, ...data }) + "\n");
}

// Logs `client` in with `token` and keeps it running: a client error goes to stderr and
// {"event": "error", "where": "client"}; SIGTERM/SIGINT log out and exit 0; a failed login
// exits 1 after {"event": "error", "where": "login"}.
export async function runBot(client, token) {
  client.on(Events.Error, (error) => {
    console.error("client error:", error);
    emit("error", { where: "client", message: String(error) });
  });

  async function stop() {
    await client.destroy();
    process.exit(0);
  }
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  try {
    await client.login(token);
  } catch (error) {
    console.error("login failed:", error);
    emit("error", { where: "login", message: String(error) });
    process.exit(1);
  }
}
