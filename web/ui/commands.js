// The "/" command picker: typing "/" at the start of the message box lists the slash commands
// of the server's applications (GET /guilds/{id}/application-command-index, as Discord's
// client reads them), each sub-command its own entry; choosing one opens a small form with its
// options (typed inputs, choices as lists, members, channels and roles to pick from), and
// running it POSTs /interactions. The bot's answer comes back as a message (an ephemeral one
// to me alone). An option the bot completes (autocomplete) asks it for choices as one types
// (an interaction of type 4; the choices come back as APPLICATION_COMMAND_AUTOCOMPLETE_RESPONSE).

import { makeNonce } from "../ids.js";
import { h, replaceChildren } from "./dom.js";

const CHAT_INPUT = 1;
const Opt = Object.freeze({ SUB_COMMAND: 1, SUB_COMMAND_GROUP: 2, STRING: 3, INTEGER: 4, BOOLEAN: 5, USER: 6,
  CHANNEL: 7, ROLE: 8, MENTIONABLE: 9, NUMBER: 10, ATTACHMENT: 11 });
// Entries listed at most (Discord's client shows a scrolling list; a guild has at most a few
// hundred commands).
const LIST_MAX = 25;
// Typing pauses this long before the bot is asked for choices (one request per pause).
const AUTOCOMPLETE_DELAY_MS = 250;

/** Every runnable entry of an index: a command, or each of its sub-commands (in groups too). */
export function flattenCommands(index) {
  const apps = new Map((index.applications || []).map((a) => [a.id, a]));
  const out = [];
  for (const command of index.application_commands || []) {
    if (command.type !== CHAT_INPUT) continue;
    const app = apps.get(command.application_id);
    const base = { command, app, description: command.description };
    const subs = (command.options || []).filter((o) => o.type === Opt.SUB_COMMAND || o.type === Opt.SUB_COMMAND_GROUP);
    if (!subs.length) {
      out.push({ ...base, path: [], options: command.options || [] });
      continue;
    }
    for (const sub of subs) {
      if (sub.type === Opt.SUB_COMMAND) {
        out.push({ ...base, path: [sub.name], options: sub.options || [], description: sub.description });
      } else {
        for (const leaf of (sub.options || []).filter((o) => o.type === Opt.SUB_COMMAND)) {
          out.push({ ...base, path: [sub.name, leaf.name], options: leaf.options || [], description: leaf.description });
        }
      }
    }
  }
  for (const e of out) e.label = ["/" + e.command.name, ...e.path].join(" ");
  return out.sort((a, b) => a.label.localeCompare(b.label));
}

/** The interaction's data.options for an entry, its sub-command path wrapped around values. */
export function commandOptions(entry, values) {
  let options = values;
  for (let i = entry.path.length - 1; i >= 0; i--) {
    options = [{ type: i === entry.path.length - 1 ? Opt.SUB_COMMAND : Opt.SUB_COMMAND_GROUP, name: entry.path[i], options }];
  }
  return options;
}

export class CommandPicker {
  /**
   * @param {{store, index: (guildId) => Promise<object>, run: (entry, options) => Promise<void>,
   *   complete: (entry, options, nonce) => Promise<void>,
   *   setText: (text: string) => void, getText: () => string, focusText: () => void}} deps index
   *   reads the guild's commands; run sends the interaction; the others act on the message box
   */
  constructor(deps) {
    this.deps = deps;
    this.store = deps.store;
    this.guildId = null;
    this.entries = null; // the open guild's entries, once read
    this.loading = null;
    this.matches = [];
    this.active = 0;
    this.selected = null; // the entry whose form is open
    this.list = h("ul", { class: "command-list", role: "listbox", id: "command-list", "aria-label": "Commands", hidden: true });
    this.form = h("form", { class: "command-form", hidden: true, "aria-label": "Command options",
      on: { submit: (ev) => { ev.preventDefault(); this.submit(); } } });
    this.el = h("div", { class: "command-picker" }, this.list, this.form);
    this.asking = null; // {nonce, list}: the autocomplete request whose choices are awaited
    this.store.addEventListener("autocomplete", (ev) => this.showChoices(ev.detail));
  }

  /** The guild whose commands are offered (its index is read again on the next "/"). */
  setGuild(guildId) {
    this.guildId = guildId;
    this.entries = null;
    this.close();
  }

  /** The message box changed: list the commands its "/word" names, or leave the form. */
  update(text) {
    if (this.selected) {
      if (!text.startsWith(this.selected.label)) this.close();
      return;
    }
    const m = /^\/([^\s]*)$/.exec(text);
    if (!m || !this.guildId) return this.hideList();
    // A fresh "/" reads the index again in the background (a bot may have synced its
    // commands since); the list shows what is known meanwhile.
    if (text === "/" && this.list.hidden && this.entries) this.refresh();
    this.filter("/" + m[1].toLowerCase());
  }

  refresh() {
    const guildId = this.guildId;
    this.deps.index(guildId).then((index) => {
      if (guildId !== this.guildId) return;
      this.entries = flattenCommands(index);
      const m = /^\/([^\s]*)$/.exec(this.deps.getText());
      if (m && !this.selected && !this.list.hidden) this.filter("/" + m[1].toLowerCase());
    }).catch(() => {}); // the known list stays
  }

  async filter(prefix) {
    this.prefix = prefix;
    if (!this.entries) {
      const guildId = this.guildId;
      this.loading ??= this.deps.index(guildId).then((index) => {
        if (guildId === this.guildId) this.entries = flattenCommands(index);
      }).catch(() => {
        if (guildId === this.guildId) this.entries = [];
      }).finally(() => { this.loading = null; });
      replaceChildren(this.list, h("li", { class: "command-empty" }, "Loading commands…"));
      this.list.hidden = false;
      await this.loading;
      // Only the newest keystroke's filter draws (they all waited for the same read).
      if (!this.entries || prefix !== this.prefix) return;
    }
    this.matches = this.entries.filter((e) => e.label.startsWith(prefix)).slice(0, LIST_MAX);
    this.active = 0;
    this.renderList();
    if (this.chooseWhenReady) {
      this.chooseWhenReady = false;
      if (this.matches.length) this.choose(this.matches[0]);
    }
  }

  renderList() {
    this.list.hidden = false;
    if (!this.matches.length) {
      replaceChildren(this.list, h("li", { class: "command-empty" }, "No commands match."));
      return;
    }
    replaceChildren(this.list, this.matches.map((e, i) => h("li", {
      class: `command-item${i === this.active ? " active" : ""}`, role: "option", id: `command-option-${i}`,
      "aria-selected": i === this.active ? "true" : "false",
      on: { mousedown: (ev) => { ev.preventDefault(); this.choose(e); } },
    }, h("span", { class: "command-name" }, e.label),
    h("span", { class: "command-description" }, e.description || ""),
    h("span", { class: "command-app" }, e.app?.name || ""))));
  }

  hideList() {
    this.list.hidden = true;
    this.matches = [];
  }

  close() {
    this.chooseWhenReady = false;
    this.asking = null;
    clearTimeout(this.completeTimer);
    this.hideList();
    this.selected = null;
    this.form.hidden = true;
    replaceChildren(this.form);
  }

  /** Keys in the message box while the list or a form is open; true when taken here. */
  handleKey(ev) {
    if (!this.list.hidden && !this.entries && (ev.key === "Enter" || ev.key === "Tab")) {
      // Still reading the commands: the first match is chosen once they are here (the
      // "/name" typed is never sent as a message).
      ev.preventDefault();
      this.chooseWhenReady = true;
      return true;
    }
    if (!this.list.hidden && this.matches.length) {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        const n = this.matches.length;
        this.active = (this.active + (ev.key === "ArrowDown" ? 1 : n - 1)) % n;
        this.renderList();
      } else if (ev.key === "Enter" || ev.key === "Tab") {
        this.choose(this.matches[this.active]);
      } else if (ev.key === "Escape") {
        this.hideList();
      } else {
        return false;
      }
      ev.preventDefault();
      return true;
    }
    if (this.selected && ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      this.submit();
      return true;
    }
    if (this.selected && ev.key === "Escape") {
      ev.preventDefault();
      this.close();
      this.deps.setText("");
      return true;
    }
    return false;
  }

  choose(entry) {
    this.hideList();
    this.selected = entry;
    this.deps.setText(entry.label + " ");
    const guild = this.store.guilds.get(this.guildId);
    this.fields = entry.options.map((option, i) => ({ option, input: this.field(option, guild, i) }));
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    replaceChildren(this.form,
      h("div", { class: "command-form-title" },
        h("strong", {}, entry.label), " ", h("span", { class: "muted" }, entry.description || ""),
        entry.app && h("span", { class: "command-app" }, entry.app.name)),
      this.fields.map(({ option, input }) => h("label", { class: "command-field" },
        h("span", {}, option.name, option.required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null),
        input)),
      this.error,
      h("div", { class: "command-buttons" },
        h("button", { type: "button", class: "secondary", on: { click: () => { this.close(); this.deps.setText(""); this.deps.focusText(); } } }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, "Run")));
    this.form.hidden = false;
    const first = this.fields[0]?.input;
    if (first) (first.querySelector?.("input") || first).focus();
    else this.deps.focusText();
  }

  /** One option's input: a list for choices and for members, channels and roles, a number
   * box for numbers, yes/no for booleans, text otherwise. */
  field(option, guild, index) {
    const required = Boolean(option.required);
    if (option.autocomplete) return this.completed(option, required, index);
    const select = (items) => h("select", { required, "aria-label": option.name, title: option.description || option.name },
      h("option", { value: "" }, required ? "Choose…" : "(none)"),
      items.map(([value, text]) => h("option", { value: String(value) }, text)));
    if (option.choices?.length) return select(option.choices.map((c) => [c.value, c.name]));
    switch (option.type) {
      case Opt.BOOLEAN:
        return select([["true", "True"], ["false", "False"]]);
      case Opt.USER:
      case Opt.MENTIONABLE:
        return select([...(guild?.members.values() || [])].map((m) => [m.user.id, this.store.displayName(m.user, guild.id)]));
      case Opt.CHANNEL:
        return select([...(guild?.channels.values() || [])].filter((c) => c.type !== 4).map((c) => [c.id, `#${c.name}`]));
      case Opt.ROLE:
        return select([...(guild?.roles.values() || [])].map((r) => [r.id, r.name]));
      case Opt.INTEGER:
      case Opt.NUMBER:
        return h("input", { type: "number", required, "aria-label": option.name, placeholder: option.description || "",
          step: option.type === Opt.INTEGER ? "1" : "any", min: option.min_value ?? null, max: option.max_value ?? null });
      case Opt.ATTACHMENT:
        return h("input", { type: "text", disabled: true, "aria-label": option.name, placeholder: "Files are not supported here" });
      default:
        return h("input", { type: "text", required, "aria-label": option.name, placeholder: option.description || "",
          minlength: option.min_length ?? null, maxlength: option.max_length ?? 6000 });
    }
  }

  /** A text box whose suggestions the bot gives (a datalist filled from its choices). */
  completed(option, required, index) {
    const list = h("datalist", { id: `command-choices-${index}` });
    const input = h("input", { type: "text", required, "aria-label": option.name, placeholder: option.description || "",
      list: list.id, autocomplete: "off" });
    input.addEventListener("input", () => {
      clearTimeout(this.completeTimer);
      this.completeTimer = setTimeout(() => this.askChoices(input, list), AUTOCOMPLETE_DELAY_MS);
    });
    input.addEventListener("focus", () => this.askChoices(input, list), { once: true });
    return h("span", { class: "completed-field" }, input, list);
  }

  /** Ask the bot for choices of the option being typed (the others as they are). */
  askChoices(focused, list) {
    const entry = this.selected;
    if (!entry) return;
    const nonce = makeNonce();
    this.asking = { nonce, list };
    const values = this.values(focused);
    this.deps.complete(entry, commandOptions(entry, values), nonce).catch(() => {
      if (this.asking?.nonce === nonce) this.asking = null;
    });
  }

  showChoices({ nonce, choices }) {
    if (!this.asking || this.asking.nonce !== nonce) return; // an older request's, or another tab's
    replaceChildren(this.asking.list, (choices || []).map((c) => h("option", { value: String(c.value), label: c.name })));
  }

  /** The options as filled in; with `focused` (an autocomplete request), that one as typed
   * and marked focused, even empty. */
  values(focused = null) {
    const out = [];
    for (const { option, input: field } of this.fields) {
      const input = field.tagName === "SPAN" ? field.querySelector("input") : field;
      if (input === focused) {
        out.push({ type: option.type, name: option.name, value: input.value, focused: true });
        continue;
      }
      const raw = input.value.trim();
      if (!raw) continue;
      let value = raw;
      if (option.type === Opt.INTEGER) value = Number.parseInt(raw, 10);
      else if (option.type === Opt.NUMBER) value = Number.parseFloat(raw);
      else if (option.type === Opt.BOOLEAN) value = raw === "true";
      out.push({ type: option.type, name: option.name, value });
    }
    return out;
  }

  async submit() {
    const entry = this.selected;
    if (!entry) return;
    clearTimeout(this.completeTimer); // no more choices to ask for: it is being run
    if (!this.form.reportValidity()) return;
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await this.deps.run(entry, commandOptions(entry, this.values()));
      this.close();
      this.deps.setText("");
      this.deps.focusText();
    } catch (e) {
      this.error.hidden = false;
      this.error.textContent = e.describe ? e.describe() : String(e.message || e);
      button.disabled = false;
    }
  }
}
