// The message box: Enter sends, Shift+Enter is a new line, typing is announced at most
// every TYPING_INTERVAL_MS, and ArrowUp in an empty box edits my last message. Files come
// from the upload button, a paste or a drop on the chat (the app forwards drops here); they
// wait above the box, images with a preview, until the message is sent.

import { h, replaceChildren } from "./dom.js";
import { icon } from "./icons.js";
import { formatSize } from "./message.js";

// Discord's client re-sends POST /typing about every 8-10 s while the user keeps typing;
// the indicator it triggers lasts ~10 s.
const TYPING_INTERVAL_MS = 8000;
const MAX_ROWS = 10;
// Files one message may carry (the server's and Discord's limit).
export const MAX_FILES = 10;
// Images previewed before sending up to this size (a preview is a data: URL held in memory).
const PREVIEW_MAX_BYTES = 8 * 1024 * 1024;

export class Composer {
  /**
   * @param {{send: (text: string, files: File[]) => void, typing: () => void, editLast: () => boolean,
   *   refuse: (text: string) => void}} actions refuse says why files were not taken
   */
  constructor(actions) {
    this.actions = actions;
    this.lastTyping = 0;
    this.files = [];
    this.input = h("textarea", { id: "composer-input", class: "composer-input", rows: 1, maxlength: 2000,
      autocomplete: "off", "aria-describedby": "composer-hint" });
    this.label = h("label", { for: "composer-input", class: "visually-hidden" }, "Message");
    this.picker = h("input", { type: "file", multiple: true, class: "visually-hidden", id: "composer-files", tabindex: "-1",
      "aria-label": "Upload a file", on: { change: () => {
        this.addFiles(this.picker.files);
        this.picker.value = "";
      } } });
    this.uploadButton = h("button", { type: "button", class: "icon-button upload-button", title: "Upload a file",
      "aria-label": "Upload a file", on: { click: () => this.picker.click() } }, icon("upload", 22));
    this.uploads = h("ul", { class: "upload-list", "aria-label": "Files to send", hidden: true });
    this.el = h("form", { class: "composer", on: { submit: (ev) => { ev.preventDefault(); this._send(); } } },
      this.uploads,
      h("div", { class: "composer-row" }, this.uploadButton, this.picker, this.label, this.input),
      h("span", { id: "composer-hint", class: "visually-hidden" }, "Enter to send, Shift+Enter for a new line"));
    this.input.addEventListener("keydown", (ev) => this._onKey(ev));
    this.input.addEventListener("input", () => this._onInput());
    this.input.addEventListener("paste", (ev) => {
      if (ev.clipboardData?.files.length) {
        ev.preventDefault();
        this.addFiles(ev.clipboardData.files);
      }
    });
  }

  /** Whether files may be added (ATTACH_FILES in this channel). */
  setUploads(allowed) {
    this.uploadButton.hidden = !allowed;
    this.canUpload = allowed;
    if (!allowed) this.clearFiles();
  }

  /** Files to send with the next message (a drop, a paste or the picker). */
  addFiles(list) {
    if (!this.canUpload || this.input.disabled) {
      this.actions.refuse("You cannot upload files here.");
      return;
    }
    const room = MAX_FILES - this.files.length;
    const taken = [...list].slice(0, Math.max(0, room));
    if (taken.length < list.length) this.actions.refuse(`At most ${MAX_FILES} files go with one message.`);
    this.files.push(...taken);
    this._renderFiles();
    this.focus();
  }

  clearFiles() {
    this.files = [];
    this._renderFiles();
  }

  _renderFiles() {
    this.uploads.hidden = !this.files.length;
    replaceChildren(this.uploads, this.files.map((file) => {
      const preview = /^image\/(png|jpeg|gif|webp|avif)$/.test(file.type) && file.size <= PREVIEW_MAX_BYTES
        ? h("img", { class: "upload-preview", alt: "" }) : h("span", { class: "upload-icon" }, icon("file", 32));
      if (preview.tagName === "IMG") {
        // A data: URL: the page's CSP allows those for images, not blob: URLs.
        const reader = new FileReader();
        reader.addEventListener("load", () => { preview.src = reader.result; });
        reader.readAsDataURL(file);
      }
      return h("li", { class: "upload-item" }, preview,
        h("span", { class: "upload-name", title: file.name }, file.name),
        h("span", { class: "upload-size" }, formatSize(file.size)),
        h("button", { type: "button", class: "icon-button danger upload-remove", title: "Remove", "aria-label": `Remove ${file.name}`,
          on: { click: () => {
            this.files = this.files.filter((f) => f !== file);
            this._renderFiles();
            this.focus();
          } } }, icon("close", 16)));
    }));
  }

  /** Point the box at a channel (placeholder and label name it). */
  setChannel(name, enabled = true) {
    const text = `Message #${name}`;
    this.input.placeholder = text;
    this.label.textContent = text;
    this.input.disabled = !enabled;
    this.lastTyping = 0;
    this.clearFiles(); // files chosen for one channel are not sent to another
    this.commands?.close();
  }

  /** The "/" command picker (ui/commands.js) this box drives, or null. */
  attachCommands(picker) {
    this.commands = picker;
  }

  /** Replace the box's text (the command picker writes "/name " into it). */
  setText(text) {
    this.input.value = text;
    this._resize();
  }

  focus() {
    this.input.focus();
  }

  _onKey(ev) {
    if (this.commands?.handleKey(ev)) return;
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      this._send();
    } else if (ev.key === "ArrowUp" && !this.input.value && this.actions.editLast()) {
      ev.preventDefault();
    }
  }

  _onInput() {
    this._resize();
    this.commands?.update(this.input.value);
    const now = Date.now();
    if (this.input.value.trim() && now - this.lastTyping > TYPING_INTERVAL_MS) {
      this.lastTyping = now;
      this.actions.typing();
    }
  }

  _send() {
    const text = this.input.value.trim();
    const files = this.files;
    if (!text && !files.length) return;
    this.input.value = "";
    this.clearFiles();
    this._resize();
    // The message ends my typing on the others' screens; the next keystroke may announce again.
    this.lastTyping = 0;
    this.actions.send(text, files);
  }

  _resize() {
    const el = this.input;
    el.rows = 1;
    const line = parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.rows = Math.min(MAX_ROWS, Math.max(1, Math.round((el.scrollHeight - 16) / line)));
  }
}
