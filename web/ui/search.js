// Message search: the box in the chat header and the results panel beside the messages.
// A search covers the open server (GET /guilds/{id}/messages/search, which returns only what
// I may read), newest first, 25 results a page as the server gives them; each result names its
// channel and opens the message in it. The panel takes the member list's place while open.

import { h, replaceChildren } from "./dom.js";
import { renderContent } from "./markup.js";

// The server's bounds: a query of at most 1,024 characters, no result past the 10,000th.
const CONTENT_MAX = 1024;
const RESULTS_MAX = 10_000;
const whenFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export class SearchPanel {
  /**
   * @param {{store, search: (guildId: string, content: string, offset: number) => Promise<object>,
   *   jump: (message: object) => void, onToggle: (open: boolean) => void}} deps search asks the
   *   server, jump opens a result, onToggle is told when the panel opens or closes
   */
  constructor({ store, search, jump, onToggle }) {
    this.store = store;
    this.search = search;
    this.jump = jump;
    this.onToggle = onToggle;
    this.guildId = null;
    this.query = "";
    this.results = [];
    this.total = 0;
    this.asked = 0; // bumped by every search: an older answer arriving late is dropped
    this.input = h("input", {
      type: "search", class: "search-input", placeholder: "Search", "aria-label": "Search messages",
      maxlength: String(CONTENT_MAX),
      on: { keydown: (ev) => { if (ev.key === "Escape") this.close(); } },
    });
    this.form = h("form", { class: "search", role: "search", on: { submit: (ev) => {
      ev.preventDefault();
      this.run(this.input.value.trim(), 0);
    } } }, this.input);
    this.status = h("p", { class: "search-status", role: "status" });
    this.list = h("ol", { class: "search-hits" });
    this.more = h("button", { type: "button", class: "link search-more", hidden: true,
      on: { click: () => this.run(this.query, this.results.length) } }, "More results");
    this.el = h("aside", { class: "search-results", "aria-label": "Search results", hidden: true },
      h("header", { class: "search-header" }, this.status,
        h("button", { type: "button", class: "icon-button", title: "Close", "aria-label": "Close search results",
          on: { click: () => this.close() } }, "×")),
      this.list, this.more);
  }

  /** The server whose messages are searched; another one closes the results. */
  show(guildId) {
    if (guildId !== this.guildId) {
      this.guildId = guildId;
      this.input.value = "";
      this.close();
    }
    this.form.hidden = !guildId;
  }

  close() {
    this.asked++;
    this.results = [];
    if (this.el.hidden) return;
    this.el.hidden = true;
    this.onToggle(false);
  }

  async run(query, offset) {
    if (!query || !this.guildId) return this.close();
    const asked = ++this.asked;
    this.query = query;
    if (this.el.hidden) {
      this.el.hidden = false;
      this.onToggle(true);
    }
    this.status.textContent = "Searching…";
    try {
      const body = await this.search(this.guildId, query, offset);
      if (asked !== this.asked) return;
      // Each result comes alone in an array (once with its context), marked hit.
      const hits = body.messages.map((group) => group.find((m) => m.hit) || group[0]);
      this.results = offset ? [...this.results, ...hits] : hits;
      this.total = body.total_results;
      this.render();
    } catch (e) {
      if (asked !== this.asked) return;
      this.status.textContent = `Search failed: ${e.describe ? e.describe() : e.message}`;
    }
  }

  render() {
    const n = this.total;
    this.status.textContent = n ? `${n.toLocaleString()} result${n === 1 ? "" : "s"}` : "No results";
    replaceChildren(this.list, this.results.map((m) => this.hit(m)));
    this.more.hidden = this.results.length >= Math.min(n, RESULTS_MAX);
  }

  hit(message) {
    const { store, guildId } = this;
    const channel = store.channel(message.channel_id);
    const where = `#${channel?.name ?? "unknown"}`;
    const author = store.displayName(message.author, guildId);
    const when = new Date(message.timestamp);
    return h("li", { class: "search-hit", dataset: { id: message.id } },
      h("div", { class: "search-hit-meta" },
        h("span", { class: "author" }, author),
        h("span", { class: "search-hit-channel" }, where),
        h("time", { datetime: when.toISOString() }, whenFormat.format(when))),
      h("div", { class: "message-content" },
        renderContent(message.content || "", { store, guildId, mentions: message.mentions })),
      h("button", { type: "button", class: "link", "aria-label": `Jump to ${author}'s message in ${where}`,
        on: { click: () => this.jump(message) } }, "Jump"));
  }
}
