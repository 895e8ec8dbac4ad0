// Discord Arch web client: the app root. It wires the REST client, the gateway and the store
// to the views, and holds the actions (select, send, edit, delete, react, pin, upload, kick,
// ban, create, invite). The only global it leaves is the element it renders into.

import { Api } from "./api.js";
import { applyDispatch } from "./events.js";
import { Gateway } from "./gateway.js";
import { makeNonce } from "./ids.js";
import { MemberSubscriptions } from "./member_subscriptions.js";
import { Permission } from "./permissions.js";
import { channelPath, inviteLink, parseRoute } from "./route.js";
import { Store, isThread } from "./store.js";
import { AuthView } from "./ui/auth.js";
import { ChannelList } from "./ui/channels.js";
import { CommandPicker } from "./ui/commands.js";
import { openModal } from "./ui/components.js";
import { Composer } from "./ui/composer.js";
import { formDialog, inviteDialog } from "./ui/dialogs.js";
import { h, replaceChildren } from "./ui/dom.js";
import { MemberList } from "./ui/members.js";
import { MessageList } from "./ui/messages.js";
import { PinsPanel } from "./ui/pins.js";
import { ThreadsPanel } from "./ui/threads.js";
import { SearchPanel } from "./ui/search.js";
import { ServerList } from "./ui/servers.js";
import { ConnectionBanner } from "./ui/status.js";
import { TypingIndicator } from "./ui/typing.js";

const TOKEN_KEY = "discord-arch.token";
const LAST_KEY = "discord-arch.last-channels"; // {guild: guildId, channels: {guildId: channelId}}
const PAGE_SIZE = 50;
// A search result further back than this many pages of history is not opened.
const JUMP_PAGES_MAX = 40;
const BOOT_RETRY_MS = 3000;
// A burst of messages in the open channel makes one ack, this long after the last of them.
const ACK_DELAY_MS = 300;
// Guilds whose channel lists are read after each READY to learn what is unread in them (the
// gateway's channels carry no last_message_id), one at a time; beyond, live messages tell.
const UNREAD_SCAN_MAX = 50;

class App {
  constructor(root) {
    this.root = root;
    this.api = new Api();
    this.store = null;
    this.gateway = null;
    this.subscriptions = null; // large guilds: whose presences we follow (member_subscriptions.js)
    this.guildId = null;
    this.channelId = null;
    this.sessions = 0; // READYs seen: a second one means events were missed meanwhile
    this.ready = false; // the first selection is made: store events may move it
    this.selection = 0; // bumped by every selectGuild: a slower, older one gives way
    this.route = parseRoute();
  }

  async start() {
    this.api.token = localStorage.getItem(TOKEN_KEY);
    if (!this.api.token) return this.showAuth();
    try {
      return await this.enter(await this.api.me());
    } catch (e) {
      if (e.status === 401) {
        localStorage.removeItem(TOKEN_KEY);
        this.api.token = null;
        return this.showAuth();
      }
      replaceChildren(this.root, h("main", { class: "auth" }, h("p", { class: "auth-card", role: "alert" },
        `${e.message} Retrying…`)));
      setTimeout(() => this.start(), BOOT_RETRY_MS);
    }
  }

  // -- accounts ----------------------------------------------------------------------------

  async showAuth() {
    let invite = null;
    if (this.route.invite) invite = await this.api.invite(this.route.invite).catch(() => null);
    const view = new AuthView({
      invite,
      onLogin: async (username, password) => {
        const { token } = await this.api.login(username, password);
        this.api.token = token;
        await this.loggedIn(token, await this.api.me());
      },
      onRegister: async (username, password) => {
        const { token, user } = await this.api.register(username, password);
        this.api.token = token;
        await this.loggedIn(token, user);
      },
    });
    replaceChildren(this.root, view.el);
    document.title = "Log in — Discord Arch";
    view.focus();
  }

  async loggedIn(token, me) {
    localStorage.setItem(TOKEN_KEY, token);
    await this.enter(me);
  }

  async logout() {
    this.gateway?.stop();
    await this.api.logout().catch(() => {});
    localStorage.removeItem(TOKEN_KEY);
    window.location.assign("/");
  }

  // -- the chat screen ---------------------------------------------------------------------

  async enter(me) {
    const store = (this.store = new Store());
    store.me = me;
    this.buildChat();
    const [{ url }, guilds] = await Promise.all([this.api.gateway(), this.api.myGuilds()]);
    for (const g of guilds) store.upsertGuild(g);
    this.gateway = new Gateway({ url, token: this.api.token });
    this.subscriptions = new MemberSubscriptions(this.gateway, store);
    this.gateway.addEventListener("dispatch", (ev) => this.onDispatch(ev.detail));
    this.gateway.addEventListener("state", (ev) => this.onGatewayState(ev.detail));
    this.gateway.addEventListener("fatal", (ev) => this.onGatewayFatal(ev.detail));
    this.gateway.start();
    // Back in view: the open channel is read now.
    document.addEventListener("visibilitychange", () => { if (this.channelId) this.ackSoon(this.channelId, 0); });
    window.addEventListener("popstate", () => {
      const route = parseRoute();
      if (route.guildId) this.selectGuild(route.guildId, route.channelId, { push: false });
    });
    // An invite link pasted into this tab's address bar as #/invite/CODE loads no new page.
    window.addEventListener("hashchange", () => {
      const { invite } = parseRoute();
      if (invite) this.followInvite(invite);
    });
    const last = this.lastChannels();
    await this.selectGuild(this.route.guildId || last.guild || store.guildOrder[0] || null, this.route.channelId, { push: false });
    this.ready = true;
    if (this.route.invite) await this.followInvite(this.route.invite);
  }

  buildChat() {
    const store = this.store;
    this.announcer = h("div", { class: "visually-hidden", "aria-live": "polite", "aria-atomic": "true" });
    this.toastEl = h("div", { class: "toast", role: "alert", hidden: true });
    this.banner = new ConnectionBanner();
    this.servers = new ServerList({ store, onSelect: (id) => this.selectGuild(id), onCreate: () => this.createGuild() });
    this.channels = new ChannelList({
      store,
      onSelect: (id) => this.selectChannel(id),
      onCreateChannel: (parentId) => this.createChannel(parentId),
      onInvite: () => this.invite(),
      onLogout: () => this.logout(),
    });
    this.messages = new MessageList({
      store,
      announce: (text) => this.announce(text),
      actions: {
        loadOlder: (id) => this.loadOlder(id),
        edit: (m, text) => this.api.edit(m.channel_id, m.id, text).then((updated) => store.updateMessage(updated)),
        remove: (m, skipConfirm) => this.removeMessage(m, skipConfirm),
        retry: (m) => this.sendPending(m.channel_id, m.nonce, m.content, true, m.files),
        discard: (m) => store.dropPending(m.channel_id, m.nonce),
        // The gateway's MESSAGE_REACTION_ADD/REMOVE (to this session too) moves the count.
        react: (m, emoji) => this.api.react(m.channel_id, m.id, emoji).catch((e) => this.toast(`Could not react: ${e.describe()}`)),
        unreact: (m, emoji) => this.api.unreact(m.channel_id, m.id, emoji).catch((e) => this.toast(`Could not remove the reaction: ${e.describe()}`)),
        // A reaction's tooltip names the first 10 who reacted ("and N others" after).
        reactors: (m, emoji) => this.api.reactionUsers(m.channel_id, m.id, emoji, 10),
        pin: (m) => this.setPinned(m, true),
        unpin: (m) => this.setPinned(m, false),
        openPins: () => this.pins.open(),
        dismiss: (m) => store.removeMessage(m.channel_id, m.id),
        createThread: (m) => this.createThread(m, m.channel_id),
        component: (m, data) => this.useComponent(m, data),
        openThread: (id) => this.selectChannel(id),
      },
    });
    this.composer = new Composer({
      send: (text, files) => this.send(text, files),
      typing: () => this.channelId && this.api.typing(this.channelId).catch(() => {}),
      editLast: () => this.messages.editLast(),
      refuse: (text) => this.toast(text),
    });
    this.commands = new CommandPicker({
      store,
      index: (guildId) => this.api.commandIndex(guildId),
      run: (entry, options) => this.runCommand(entry, options),
      complete: (entry, options, nonce) => this.runCommand(entry, options, 4, nonce),
      setText: (text) => this.composer.setText(text),
      getText: () => this.composer.input.value,
      focusText: () => this.composer.focus(),
    });
    this.composer.attachCommands(this.commands);
    this.typing = new TypingIndicator(store);
    this.members = new MemberList(store, {
      kick: (guildId, member, name) => this.removeMember(guildId, member, name, false),
      ban: (guildId, member, name) => this.removeMember(guildId, member, name, true),
      shown: (guildId, ids) => this.subscriptions?.show(guildId, ids),
    });
    // The search results, the pins and the threads share the member list's column: one at a time.
    const sidePanel = (open, self) => {
      const panels = [this.search, this.pins, this.threads];
      if (open) for (const p of panels) if (p !== self) p.close();
      this.members.el.hidden = panels.some((p) => !p.el.hidden);
    };
    this.search = new SearchPanel({
      store,
      search: (guildId, content, offset) => this.api.search(guildId, content, offset),
      jump: (m) => this.jumpTo(m.channel_id, m.id),
      onToggle: (open) => sidePanel(open, this.search),
    });
    this.pins = new PinsPanel({
      store,
      load: (channelId) => this.api.pins(channelId),
      jump: (m) => this.jumpTo(m.channel_id, m.id),
      unpin: (m) => this.setPinned(m, false),
      canPin: (channelId) => this.canPin(channelId),
      onToggle: (open) => sidePanel(open, this.pins),
    });
    this.threads = new ThreadsPanel({
      store,
      archived: (channelId) => this.api.archivedThreads(channelId),
      open: (thread) => {
        store.upsertChannel({ ...thread, guild_id: thread.guild_id || this.guildId }); // an archived one is not listed yet
        this.selectChannel(thread.id);
      },
      create: (channelId) => this.createThread(null, channelId),
      canCreate: (channelId) => store.can(channelId, Permission.CREATE_PUBLIC_THREADS),
      onToggle: (open) => sidePanel(open, this.threads),
    });
    this.chatTitle = h("h2", { class: "chat-title" });
    this.chatTopic = h("p", { class: "chat-topic" });
    this.empty = h("div", { class: "empty-state", hidden: true },
      h("h2", {}, "No server yet"),
      h("p", {}, "Create a server with the + button, or open an invite link someone sent you."));
    this.chat = h("main", { class: "chat" },
      h("header", { class: "chat-header" }, this.chatTitle, this.chatTopic, this.search.form, this.threads.button, this.pins.button),
      this.banner.el, this.empty, this.messages.el,
      h("div", { class: "chat-footer" }, this.commands.el, this.composer.el, this.typing.el),
      this.dropHint = h("div", { class: "drop-hint", hidden: true, "aria-hidden": "true" }, "Drop files to upload them"));
    this.listenForDrops();
    replaceChildren(this.root,
      h("div", { class: "layout" }, this.servers.el, this.channels.el, this.chat, this.members.el, this.search.el, this.pins.el, this.threads.el),
      this.announcer, this.toastEl);
    store.addEventListener("guilds", () => this.checkSelection());
    store.addEventListener("guild", (ev) => {
      if (ev.detail.guildId !== this.guildId) return;
      this.checkSelection();
      this.checkUploads();
    });
    store.addEventListener("members", (ev) => { if (ev.detail.guildId === this.guildId) this.checkUploads(); });
    store.addEventListener("modal", (ev) => this.showModal(ev.detail.modal));
  }

  /** Files dropped anywhere on the chat go to the composer (a hint shows while dragging). */
  listenForDrops() {
    const carriesFiles = (ev) => [...(ev.dataTransfer?.types || [])].includes("Files");
    let depth = 0; // dragenter/dragleave fire for every child crossed
    this.chat.addEventListener("dragenter", (ev) => {
      if (!carriesFiles(ev) || !this.channelId) return;
      depth++;
      this.dropHint.hidden = false;
    });
    this.chat.addEventListener("dragleave", (ev) => {
      if (!carriesFiles(ev)) return;
      depth = Math.max(0, depth - 1);
      if (!depth) this.dropHint.hidden = true;
    });
    this.chat.addEventListener("dragover", (ev) => {
      if (!carriesFiles(ev) || !this.channelId) return;
      ev.preventDefault(); // this makes the chat a drop target
      ev.dataTransfer.dropEffect = "copy";
    });
    this.chat.addEventListener("drop", (ev) => {
      depth = 0;
      this.dropHint.hidden = true;
      if (!carriesFiles(ev) || !this.channelId) return;
      ev.preventDefault(); // or the browser opens the file in place of the app
      this.composer.addFiles(ev.dataTransfer.files);
    });
  }

  /** The upload button follows ATTACH_FILES in the open channel. */
  checkUploads() {
    if (this.channelId) this.composer.setUploads(this.store.can(this.channelId, Permission.ATTACH_FILES));
  }

  canPin(channelId) {
    return this.store.can(channelId, Permission.MANAGE_MESSAGES) || this.store.can(channelId, Permission.PIN_MESSAGES);
  }

  /** Select a guild, then a channel of it (the one asked, the last one, or the first). */
  async selectGuild(guildId, channelId = null, { push = true } = {}) {
    const store = this.store;
    const selection = ++this.selection;
    if (!store.guilds.has(guildId)) guildId = store.guildOrder[0] || null;
    this.guildId = guildId;
    this.servers.select(guildId);
    this.members.show(guildId);
    this.search.show(guildId);
    this.commands.setGuild(guildId);
    if (!guildId) {
      this.pins.show(null, null);
      this.threads.show(null, null);
    }
    this.empty.hidden = Boolean(guildId);
    this.messages.el.hidden = !guildId;
    this.composer.el.hidden = !guildId;
    if (!guildId) {
      this.channels.show(null, null);
      this.chatTitle.textContent = "";
      return;
    }
    const guild = store.guilds.get(guildId);
    if (!guild.channels.size) {
      this.loading = true;
      await this.loadGuild(guildId);
      this.loading = false;
      if (selection !== this.selection) return; // another selection came meanwhile
    }
    const first = store.channelTree(guildId).flatMap((g) => g.channels)[0]?.id;
    const pick = [channelId, this.lastChannels().channels[guildId], first].find((id) => id && guild.channels.has(id));
    this.selectChannel(pick || null, { push });
  }

  /** Channels and members over REST, for a guild whose GUILD_CREATE has not come (yet). */
  async loadGuild(guildId) {
    try {
      const [channels, members] = await Promise.all([this.api.channels(guildId), this.api.members(guildId, 1000)]);
      const guild = this.store.guilds.get(guildId);
      if (!guild) return;
      if (!guild.channels.size) this.store.setChannels(guild, channels);
      this.store.reads.noteChannels(channels);
      this.store.setMembers(guild, members);
      await this.loadThreads(guildId);
    } catch (e) {
      this.toast(e.describe());
    }
  }

  selectChannel(channelId, { push = true } = {}) {
    const store = this.store;
    if (this.channelId) this.ackNow(this.channelId); // what was shown until now was read
    const channel = channelId && store.channel(channelId);
    this.channelId = channel ? channelId : null;
    store.currentChannelId = this.channelId;
    this.channels.show(this.guildId, this.channelId);
    const name = channel ? channel.name : "";
    const parent = isThread(channel) ? store.channel(channel.parent_id) : null;
    this.chatTitle.textContent = !channel ? "" : parent ? `# ${parent.name} › ${name}` : `# ${name}`;
    this.chatTopic.textContent = parent ? "Thread" : channel?.topic || "";
    document.title = channel ? `#${name} | ${store.guilds.get(this.guildId).name} — Discord Arch` : "Discord Arch";
    this.messages.show(this.channelId, this.guildId, name);
    this.typing.show(this.channelId);
    this.composer.setChannel(name, Boolean(channel));
    this.pins.show(this.channelId, this.guildId);
    this.threads.show(this.channelId, this.guildId);
    if (!channel) return;
    this.checkUploads();
    store.markRead(channelId);
    this.ackSoon(channelId, 0);
    this.saveLastChannel(this.guildId, channelId);
    const path = channelPath(this.guildId, channelId);
    if (window.location.pathname !== path || window.location.hash) {
      history[push ? "pushState" : "replaceState"](null, "", path);
    }
    if (!store.history(channelId).loaded) this.loadLatest(channelId);
    this.composer.focus();
  }

  /** After a change of guilds or channels: leave a guild or channel that is gone. */
  checkSelection() {
    if (!this.ready || this.loading) return;
    const guild = this.store.guilds.get(this.guildId);
    if (!guild && (this.guildId || this.store.guildOrder.length)) this.selectGuild(null, null, { push: false });
    else if (guild && this.channelId && !guild.channels.has(this.channelId)) this.selectGuild(this.guildId, null, { push: false });
    else if (guild && !this.channelId && guild.channels.size) this.selectGuild(this.guildId, null, { push: false });
  }

  // -- history -----------------------------------------------------------------------------

  async loadLatest(channelId) {
    const hist = this.store.history(channelId);
    hist.loading = true;
    this.store.emit("messages", { channelId, kind: "loading" });
    try {
      const page = await this.api.messages(channelId, { limit: PAGE_SIZE });
      hist.loading = false;
      this.store.addPage(channelId, page, { older: false, limit: PAGE_SIZE });
      if (page.length) this.store.reads.noteChannels([{ id: channelId, last_message_id: page[0].id }]);
      this.ackSoon(channelId, 0);
    } catch (e) {
      hist.loading = false;
      this.toast(`Could not load messages: ${e.describe()}`);
      this.store.emit("messages", { channelId, kind: "loading" });
    }
  }

  async loadOlder(channelId) {
    const hist = this.store.history(channelId);
    if (hist.loading || !hist.hasMore || hist.loadError || !hist.messages.length) return;
    hist.loading = true;
    this.store.emit("messages", { channelId, kind: "loading" });
    try {
      const page = await this.api.messages(channelId, { before: hist.messages[0].id, limit: PAGE_SIZE });
      hist.loading = false;
      this.store.addPage(channelId, page, { older: true, limit: PAGE_SIZE });
    } catch (e) {
      hist.loading = false;
      hist.loadError = true;
      this.toast(`Could not load older messages: ${e.describe()}`);
    }
    this.store.emit("messages", { channelId, kind: "loading" });
  }

  /** Open a message (a search result): its channel, then older pages until the message is
   * there (at most JUMP_PAGES_MAX), then scrolled to and marked. */
  async jumpTo(channelId, messageId) {
    if (channelId !== this.channelId) this.selectChannel(channelId);
    if (this.channelId !== channelId) return; // not a channel of this server (any more)
    const hist = this.store.history(channelId);
    for (let pages = 0; pages <= JUMP_PAGES_MAX; pages++) {
      await this.settled(channelId);
      if (this.channelId !== channelId) return; // the user went elsewhere meanwhile
      if (hist.byId.has(messageId)) return this.messages.reveal(messageId);
      if (!hist.loaded || !hist.hasMore || hist.loadError) break;
      await this.loadOlder(channelId);
    }
    this.toast("That message could not be opened: it is gone, or too far back.");
  }

  /** Resolves once the channel's history is not loading. */
  settled(channelId) {
    const hist = this.store.history(channelId);
    if (!hist.loading) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (ev) => {
        if (ev.detail.channelId !== channelId || hist.loading) return;
        this.store.removeEventListener("messages", check);
        resolve();
      };
      this.store.addEventListener("messages", check);
    });
  }

  // -- sending -----------------------------------------------------------------------------

  send(text, files = []) {
    if (!this.channelId) return;
    const nonce = makeNonce();
    this.store.addPending(this.channelId, nonce, text, files);
    this.sendPending(this.channelId, nonce, text, false, files);
  }

  /** POST the message (multipart when it has files); the answer (or the gateway's echo, if
   * first) replaces the pending one. A retry reuses the nonce: with enforce_nonce the server
   * never stores it twice. */
  async sendPending(channelId, nonce, text, retry, files = []) {
    if (retry) this.store.retryPending(channelId, nonce);
    try {
      const sent = await this.api.send(channelId, text, nonce, files);
      this.store.addMessage(sent);
      this.store.reads.noteMessage(sent);
    } catch (e) {
      // 40005 says "Request entity too large": say which part, in the person's words.
      const why = e.code === 40005 ? "a file is larger than this server accepts" : e.describe();
      this.store.failPending(channelId, nonce, why);
    }
  }

  async removeMessage(message, skipConfirm) {
    const confirmed = skipConfirm || await formDialog({
      title: "Delete message",
      body: [h("p", {}, "Are you sure you want to delete this message?"), h("blockquote", { class: "quote" }, message.content)],
      submit: "Delete",
      danger: true,
    });
    if (!confirmed) return;
    try {
      await this.api.remove(message.channel_id, message.id);
      this.store.removeMessage(message.channel_id, message.id);
    } catch (e) {
      this.toast(`Could not delete: ${e.describe()}`);
    }
  }

  /** Run an application command in the open channel: POST /interactions as Discord's client
   * does (the bot's answer comes as a message; an ephemeral one to me alone). Type 4 asks for
   * the choices of the option marked focused (they come back by the nonce). */
  runCommand(entry, options, type = 2, nonce = makeNonce()) {
    const channel = this.store.channel(this.channelId);
    if (!channel) return Promise.reject(new Error("No channel is open."));
    const { command } = entry;
    return this.api.interact({
      type, application_id: command.application_id, guild_id: channel.guild_id, channel_id: channel.id,
      session_id: this.gateway?.sessionId ?? null, nonce,
      data: { version: command.version, id: command.id, name: command.name, type: command.type, options },
    });
  }

  /** A click on a bot's button or a pick in its select menu: a MESSAGE_COMPONENT interaction.
   * A refusal is shown; the bot's answer comes as a message or an edit of this one. */
  async useComponent(message, data) {
    try {
      await this.api.interact({
        type: 3, application_id: message.application_id || message.author.id, guild_id: message.guild_id || this.guildId,
        channel_id: message.channel_id, message_id: message.id, message_flags: message.flags || 0,
        session_id: this.gateway?.sessionId ?? null, nonce: makeNonce(), data,
      });
    } catch (e) {
      this.toast(`The interaction failed: ${e.describe()}`);
    }
  }

  /** A bot's modal: shown, and its submit sent back as a MODAL_SUBMIT interaction. */
  showModal(modal) {
    const channel = this.store.channel(modal.channel_id);
    return openModal(modal, (components) => this.api.interact({
      type: 5, application_id: modal.application?.id, channel_id: modal.channel_id, guild_id: channel?.guild_id,
      session_id: this.gateway?.sessionId ?? null, nonce: makeNonce(),
      data: { id: modal.id, custom_id: modal.custom_id, components },
    }));
  }

  /** Start a public thread, from a message or (message null) of its own in a channel, then
   * open it. */
  async createThread(message, channelId) {
    const suggested = (message?.content || "").split("\n")[0].slice(0, 40).trim() || "New thread";
    const thread = await formDialog({
      title: "Create thread",
      fields: [{ name: "name", label: "Thread name", value: suggested, maxlength: 100 }],
      submit: "Create",
      onSubmit: ({ name }) => (message ? this.api.startThread(channelId, message.id, name) : this.api.createThread(channelId, name)),
    });
    if (!thread) return;
    this.store.upsertChannel(thread);
    this.selectChannel(thread.id);
  }

  /** Pin or unpin; MESSAGE_UPDATE (pinned) and CHANNEL_PINS_UPDATE bring the change back. */
  async setPinned(message, pinned) {
    try {
      if (pinned) await this.api.pin(message.channel_id, message.id);
      else await this.api.unpin(message.channel_id, message.id);
      this.store.updateMessage({ channel_id: message.channel_id, id: message.id, pinned });
    } catch (e) {
      this.toast(`Could not ${pinned ? "pin" : "unpin"}: ${e.describe()}`);
    }
  }

  /** Kick or ban a member, once confirmed. GUILD_MEMBER_REMOVE takes them off the list; a
   * refusal (403: no permission, or their role is not below mine) is shown as it came. */
  async removeMember(guildId, member, name, ban) {
    const guildName = this.store.guilds.get(guildId)?.name || "this server";
    const verb = ban ? "Ban" : "Kick";
    const done = await formDialog({
      title: `${verb} ${name}`,
      body: [h("p", {}, ban
        ? `${name} will be removed from ${guildName} and cannot join it again, even with an invite.`
        : `${name} will be removed from ${guildName}. They can join again with an invite.`)],
      submit: verb,
      danger: true,
      onSubmit: () => (ban ? this.api.ban(guildId, member.user.id) : this.api.kick(guildId, member.user.id)).then(() => true),
    });
    if (done) this.announce(`${name} was ${ban ? "banned" : "kicked"}.`);
  }

  // -- guilds, channels, invites -----------------------------------------------------------

  async createGuild() {
    const guild = await formDialog({
      title: "Create a server",
      fields: [{ name: "name", label: "Server name", value: `${this.store.me.username}'s server`, minlength: 2, maxlength: 100 }],
      submit: "Create",
      onSubmit: ({ name }) => this.api.createGuild(name),
    });
    if (!guild) return;
    this.store.upsertGuild(guild);
    await this.selectGuild(guild.id);
  }

  async createChannel(parentId) {
    const guildId = this.guildId;
    const channel = await formDialog({
      title: "Create a text channel",
      fields: [{ name: "name", label: "Channel name", value: "", maxlength: 100 }],
      submit: "Create channel",
      // Discord's client does the same to names: lowercase, words joined with "-".
      onSubmit: ({ name }) => this.api.createChannel(guildId, name.toLowerCase().replace(/\s+/g, "-"), parentId),
    });
    if (!channel) return;
    this.store.upsertChannel(channel);
    if (this.guildId === guildId) this.selectChannel(channel.id);
  }

  async invite() {
    if (!this.channelId) return;
    try {
      const invite = await this.api.createInvite(this.channelId);
      await inviteDialog(this.store.guilds.get(this.guildId).name, inviteLink(invite.code));
    } catch (e) {
      this.toast(`Could not create an invite: ${e.describe()}`);
    }
  }

  /** /invite/CODE: ask, then join and open the invite's channel. */
  async followInvite(code) {
    this.route = {};
    let info;
    try {
      info = await this.api.invite(code);
    } catch {
      history.replaceState(null, "", "/");
      this.toast("This invite is invalid or has expired.");
      return;
    }
    const known = this.store.guilds.has(info.guild.id);
    const joined = known || await formDialog({
      title: `Join ${info.guild.name}?`,
      body: [h("p", {}, info.inviter ? `${info.inviter.username} invited you to join this server.` : "You have been invited to join this server.")],
      submit: "Accept invite",
      onSubmit: () => this.api.acceptInvite(code),
    });
    if (!joined) {
      history.replaceState(null, "", "/");
      return;
    }
    this.store.upsertGuild(info.guild);
    await this.selectGuild(info.guild.id, info.channel.id, { push: false });
  }

  // -- gateway -----------------------------------------------------------------------------

  onDispatch({ t, d }) {
    const store = this.store;
    if (t === "READY") {
      this.sessions += 1;
      // Guilds left or deleted while we were away are not in READY.
      const present = new Set(d.guilds.map((g) => g.id));
      for (const id of [...store.guildOrder]) if (!present.has(id)) store.removeGuild(id);
      if (this.sessions > 1) {
        // A new session, not a resume: events were missed. Read the open channel again.
        store.forgetHistories();
        if (this.channelId) this.loadLatest(this.channelId);
      }
    }
    applyDispatch(store, t, d);
    // Large guilds: which members' presences this session follows (op 14).
    if (t === "READY") this.subscriptions.reset();
    else if (t === "RESUMED") this.subscriptions.resumed();
    else if (t === "GUILD_MEMBERS_CHUNK") this.subscriptions.noteChunk(d);
    if (t === "MESSAGE_CREATE" && d.channel_id === this.channelId) this.ackSoon(d.channel_id);
    if (t === "READY") {
      this.scanUnread();
      if (this.channelId) this.ackSoon(this.channelId, 0); // against the server's record now
    }
    // Activity in a channel we do not know: its CHANNEL_CREATE was missed. Read the list.
    const guild = d?.guild_id && store.guilds.get(d.guild_id);
    if (guild && (t === "MESSAGE_CREATE" || t === "TYPING_START") && !guild.channels.has(d.channel_id)) {
      this.refreshChannels(guild.id);
    }
  }

  /** The guild's active threads (no gateway event lists them at the start). */
  async loadThreads(guildId) {
    const { threads } = await this.api.activeThreads(guildId);
    this.store.upsertThreads(guildId, threads);
    this.store.reads.noteChannels(threads);
  }

  async refreshChannels(guildId) {
    if (this.refreshing?.has(guildId)) return;
    (this.refreshing ??= new Set()).add(guildId);
    try {
      const channels = await this.api.channels(guildId);
      const guild = this.store.guilds.get(guildId);
      if (guild) this.store.setChannels(guild, channels);
      this.store.reads.noteChannels(channels);
      await this.loadThreads(guildId);
    } catch {
      // Not fatal: the next event in that channel tries again.
    } finally {
      this.refreshing.delete(guildId);
    }
  }

  // -- read states -------------------------------------------------------------------------

  /** Acknowledge what the open channel shows, soon: a burst of messages makes one ack. Only
   * while the page is in view: a channel left open in a hidden tab is not being read. */
  ackSoon(channelId, delay = ACK_DELAY_MS) {
    clearTimeout(this.ackTimer);
    this.ackTimer = setTimeout(() => this.ackNow(channelId), delay);
  }

  ackNow(channelId) {
    if (channelId !== this.channelId || document.visibilityState !== "visible") return;
    const messageId = this.store.reads.takeAck(channelId);
    // Not fatal: the next message (or view) acks again, and the server keeps the newest.
    if (messageId) this.api.ack(channelId, messageId).catch(() => {});
  }

  /** After READY: what is unread in each guild, from its channel list over REST. */
  async scanUnread() {
    for (const guildId of this.store.guildOrder.slice(0, UNREAD_SCAN_MAX)) await this.refreshChannels(guildId);
  }

  onGatewayState(detail) {
    this.banner.update(detail);
    if (this.store.me) this.store.setPresence(this.store.me.id, detail.state === "ready" ? "online" : "offline");
  }

  onGatewayFatal({ code, reason }) {
    if (code === 4004) {
      this.logout(); // the token was revoked (logged out elsewhere, or the password changed)
      return;
    }
    this.toast(`The gateway refused this client (${code} ${reason}). Live updates are off.`);
  }

  // -- small things ------------------------------------------------------------------------

  announce(text) {
    // Cleared first, so that the same words twice are read twice.
    this.announcer.textContent = "";
    requestAnimationFrame(() => { this.announcer.textContent = text; });
  }

  toast(text) {
    this.toastEl.textContent = text;
    this.toastEl.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { this.toastEl.hidden = true; }, 6000);
  }

  lastChannels() {
    try {
      return { guild: null, channels: {}, ...JSON.parse(localStorage.getItem(LAST_KEY) || "{}") };
    } catch {
      return { guild: null, channels: {} };
    }
  }

  saveLastChannel(guildId, channelId) {
    const last = this.lastChannels();
    last.guild = guildId;
    last.channels[guildId] = channelId;
    localStorage.setItem(LAST_KEY, JSON.stringify(last));
  }
}

new App(document.getElementById("app")).start();
