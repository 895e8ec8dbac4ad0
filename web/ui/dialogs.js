// Modal dialogs on <dialog>: the browser traps focus, Escape cancels, focus returns after.

import { h } from "./dom.js";

/**
 * A modal form. Resolves with what `onSubmit` returned, or null if cancelled. While
 * `onSubmit` runs the buttons are disabled; if it throws, its message is shown and the
 * dialog stays open.
 * @param {{title: string, body?: Node[], fields?: {name, label, value?, maxlength?, minlength?}[],
 *   submit?: string, danger?: boolean, cancel?: string, onSubmit?: (values) => Promise<any>}} spec
 */
export function formDialog({ title, body = [], fields = [], submit = "OK", danger = false, cancel = "Cancel", onSubmit = async () => true }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => h("input", { id: `dlg-${f.name}`, name: f.name, required: true, autocomplete: "off",
      maxlength: f.maxlength ?? 100, minlength: f.minlength ?? 1, value: f.value ?? "" }));
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const ok = h("button", { type: "submit", class: danger ? "primary danger" : "primary" }, submit);
    const no = h("button", { type: "button", class: "secondary", on: { click: () => dialog.close() } }, cancel);
    const form = h("form", { method: "dialog" },
      h("h2", { id: "dlg-title" }, title),
      body,
      fields.map((f, i) => h("div", { class: "field" }, h("label", { for: `dlg-${f.name}` }, f.label), inputs[i])),
      error,
      h("div", { class: "dialog-buttons" }, no, ok));
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dlg-title" }, form);
    let result = null;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      ok.disabled = no.disabled = true;
      try {
        result = await onSubmit(Object.fromEntries(fields.map((f, i) => [f.name, inputs[i].value.trim()])));
        dialog.close();
      } catch (e) {
        error.hidden = false;
        error.textContent = e.describe ? e.describe() : String(e.message || e);
      } finally {
        ok.disabled = no.disabled = false;
      }
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    (inputs[0] || ok).focus();
  });
}

/** The invite link of a channel, with a button that copies it. */
export function inviteDialog(guildName, link) {
  const field = h("input", { id: "invite-link", class: "invite-link", readonly: true, value: link });
  const copy = h("button", { type: "button", class: "secondary", on: { click: async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(link);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Press Ctrl+C"; // no clipboard permission: the text is selected
    }
  } } }, "Copy");
  return formDialog({
    title: `Invite friends to ${guildName}`,
    body: [h("label", { for: "invite-link" }, "Send this link (valid for 24 hours):"), h("div", { class: "invite-row" }, field, copy)],
    submit: "Done",
    cancel: "Close",
  });
}
