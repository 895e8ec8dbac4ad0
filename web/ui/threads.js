// A channel's threads in a panel beside the messages (the member list's place, like search
// and pins): the active ones, the archived public ones (GET .../threads/archived/public, newest
// archived first), each opened with a click, and a button that starts a new thread.

import { isThread } from "../store.js";
import { h, replaceChildren } from "./dom.js";
import { SidePanel } from "./sidepanel.js";

const whenFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export class ThreadsPanel extends SidePanel {
  /**
   * @param {{store, archived: (channelId) => Promise<{threads: object[]}>, open: (thread) => void,
   *   create: (channelId) => void, canCreate: (channelId) => boolean, onToggle: (open: boolean) => void}} deps
   */
  constructor(deps) {
    super(deps, { label: "Threads", iconName: "thread" });
    this.archived = [];
    this.createButton = h("button", { type: "button", class: "primary thread-create",
      on: { click: () => this.deps.create(this.channelId) } }, "Create thread");
    this.list = h("div", { class: "search-hits thread-lists" });
    this.el = this.frame("threads-panel", "Close threads", this.createButton, this.list);
    this.store.addEventListener("guild", (ev) => { if (ev.detail.guildId === this.guildId && !this.el.hidden) this.render(); });
  }

  /** The channel whose threads are listed (a thread lists its parent's). */
  show(channelId, guildId) {
    const channel = channelId && this.store.channel(channelId);
    const parentId = isThread(channel) ? channel.parent_id : channelId;
    const changed = parentId !== this.channelId;
    this.channelId = parentId || null;
    this.guildId = guildId;
    this.button.hidden = !this.channelId;
    if (!this.channelId) this.close();
    else if (changed && !this.el.hidden) this.reload();
  }

  async reload() {
    const asked = ++this.asked;
    this.archived = [];
    this.render();
    try {
      const { threads } = await this.deps.archived(this.channelId);
      if (asked !== this.asked) return;
      this.archived = threads;
    } catch (e) {
      if (asked !== this.asked) return;
      this.status.textContent = `Could not load archived threads: ${e.describe ? e.describe() : e.message}`;
      return;
    }
    this.render();
  }

  render() {
    const channel = this.store.channel(this.channelId);
    const active = this.store.threadsOf(this.guildId, this.channelId);
    const known = new Set(active.map((t) => t.id));
    const archived = this.archived.filter((t) => !known.has(t.id));
    this.status.textContent = channel ? `Threads of #${channel.name}` : "Threads";
    this.createButton.hidden = !this.deps.canCreate(this.channelId);
    replaceChildren(this.list,
      this.section("Active", active, "No active threads."),
      this.section("Archived", archived, "No archived threads."));
  }

  section(title, threads, empty) {
    return h("section", { class: "thread-section", "aria-label": `${title} threads` },
      h("h3", {}, title),
      threads.length ? h("ul", {}, threads.map((t) => this.item(t))) : h("p", { class: "muted" }, empty));
  }

  item(thread) {
    const meta = thread.thread_metadata || {};
    const when = meta.archived && meta.archive_timestamp ? new Date(meta.archive_timestamp) : null;
    const count = thread.message_count ?? 0;
    return h("li", { class: "search-hit thread-item", dataset: { id: thread.id } },
      h("button", { type: "button", class: "link thread-open", "aria-label": `Open thread ${thread.name}`,
        on: { click: () => this.deps.open(thread) } }, thread.name),
      h("div", { class: "search-hit-meta" },
        h("span", {}, `${count} message${count === 1 ? "" : "s"}`),
        meta.locked && h("span", {}, "locked"),
        when && h("time", { datetime: when.toISOString() }, `archived ${whenFormat.format(when)}`)));
  }
}
