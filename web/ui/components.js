// A bot's message components (buttons and select menus in action rows) and the modals a bot
// opens: what a person clicks, picks or fills in goes back to the bot as an interaction
// (POST /interactions, types 3 and 5, as Discord's client sends them). The bot answers with a
// message, an edit of this one, or nothing visible.

import { h } from "./dom.js";

const Type = Object.freeze({ ACTION_ROW: 1, BUTTON: 2, STRING_SELECT: 3, TEXT_INPUT: 4, USER_SELECT: 5,
  ROLE_SELECT: 6, MENTIONABLE_SELECT: 7, CHANNEL_SELECT: 8, TEXT_DISPLAY: 10, LABEL: 18 });
const STYLES = { 1: "primary", 2: "secondary", 3: "success", 4: "danger", 5: "link" };
const LINK = 5;

/** How a component's emoji is written (a custom one as :name:, no image here). */
function emojiText(emoji) {
  if (!emoji?.name) return null;
  return emoji.id ? `:${emoji.name}:` : emoji.name;
}

/**
 * The action rows of a message; null when it has none (or is not sent yet).
 * @param {object} message
 * @param {{store, guildId, actions: {component: (message, data) => Promise<void>}}} ctx
 */
export function renderComponents(message, { store, guildId, actions }) {
  const rows = (message.components || []).filter((r) => r.type === Type.ACTION_ROW);
  if (!rows.length || !message.id) return null;
  const send = async (control, data) => {
    control.disabled = true;
    try {
      await actions.component(message, data);
    } finally {
      control.disabled = Boolean(control.dataset.disabled);
    }
  };
  return h("div", { class: "components" }, rows.map((row) => h("div", { class: "component-row" },
    (row.components || []).map((c) => {
      if (c.type === Type.BUTTON) return button(c, send);
      return select(c, send, store, guildId);
    }))));
}

function button(c, send) {
  const text = [emojiText(c.emoji), c.label].filter(Boolean).join(" ");
  if (c.style === LINK) {
    // Only http(s) links become links: a bot's javascript: URL is shown as text.
    return /^https?:\/\//i.test(c.url || "")
      ? h("a", { class: "component-button link-button", href: c.url, target: "_blank", rel: "noopener noreferrer nofollow" }, text || c.url)
      : h("span", { class: "component-button link-button" }, text);
  }
  const el = h("button", { type: "button", class: `component-button ${STYLES[c.style] || "secondary"}`, disabled: Boolean(c.disabled),
    dataset: { customId: c.custom_id, disabled: c.disabled ? "1" : "" },
    on: { click: () => send(el, { component_type: Type.BUTTON, custom_id: c.custom_id }) } }, text || "\u00a0");
  return el;
}

/** A select menu: a string select's options, or the guild's members, roles or channels. */
function select(c, send, store, guildId) {
  const guild = store.guilds.get(guildId);
  let items = [];
  if (c.type === Type.STRING_SELECT) items = (c.options || []).map((o) => [o.value, [emojiText(o.emoji), o.label].filter(Boolean).join(" "), o.default]);
  if (c.type === Type.USER_SELECT || c.type === Type.MENTIONABLE_SELECT) {
    items = [...(guild?.members.values() || [])].map((m) => [m.user.id, store.displayName(m.user, guildId)]);
  }
  if (c.type === Type.ROLE_SELECT || c.type === Type.MENTIONABLE_SELECT) {
    items.push(...[...(guild?.roles.values() || [])].map((r) => [r.id, `@${r.name}`]));
  }
  if (c.type === Type.CHANNEL_SELECT) {
    items = [...(guild?.channels.values() || [])]
      .filter((ch) => !c.channel_types?.length || c.channel_types.includes(ch.type)).map((ch) => [ch.id, `#${ch.name}`]);
  }
  const max = Math.max(1, c.max_values ?? 1);
  const el = h("select", { class: "component-select", multiple: max > 1, disabled: Boolean(c.disabled),
    "aria-label": c.placeholder || "Choose", dataset: { customId: c.custom_id, disabled: c.disabled ? "1" : "" } },
  max > 1 ? null : h("option", { value: "", disabled: true, selected: !items.some((i) => i[2]) }, c.placeholder || "Make a selection"),
  items.map(([value, label, chosen]) => h("option", { value: String(value), selected: Boolean(chosen) }, label)));
  el.addEventListener("change", () => {
    const values = [...el.selectedOptions].map((o) => o.value).filter(Boolean);
    if (values.length < (c.min_values ?? 1) || values.length > max) return;
    send(el, { component_type: c.type, custom_id: c.custom_id, values });
  });
  return el;
}

/**
 * The modal a bot opened (INTERACTION_MODAL_CREATE): its text inputs (in action rows or
 * labels), string selects and text, in a <dialog>. `submit(components)` sends the MODAL_SUBMIT
 * and may throw (the dialog then shows why and stays); resolves once closed.
 */
export function openModal(modal, submit) {
  return new Promise((resolve) => {
    const inputs = []; // [component spec, element]
    const control = (spec) => {
      if (spec.type === Type.TEXT_INPUT) {
        const props = { id: `modal-${spec.custom_id}`, required: spec.required !== false, placeholder: spec.placeholder || "",
          minlength: spec.min_length ?? null, maxlength: spec.max_length ?? 4000 };
        const el = spec.style === 2 ? h("textarea", { ...props, rows: 4 }) : h("input", props);
        el.value = spec.value || "";
        inputs.push([spec, el]);
        return el;
      }
      if (spec.type === Type.STRING_SELECT) {
        const el = h("select", { id: `modal-${spec.custom_id}`, multiple: (spec.max_values ?? 1) > 1, required: spec.required !== false },
          (spec.options || []).map((o) => h("option", { value: o.value, selected: Boolean(o.default) }, o.label)));
        inputs.push([spec, el]);
        return el;
      }
      return h("p", { class: "muted" }, "This input is not supported here.");
    };
    const fields = (modal.components || []).map((item) => {
      if (item.type === Type.TEXT_DISPLAY) return h("p", { class: "modal-text" }, item.content || "");
      const spec = item.type === Type.LABEL ? item.component : item.components?.[0];
      if (!spec) return null;
      const label = item.type === Type.LABEL ? item.label : spec.label;
      const el = control(spec);
      return h("div", { class: "field" }, h("label", { for: el.id }, label || spec.custom_id),
        item.description && h("p", { class: "field-hint" }, item.description), el);
    });
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const ok = h("button", { type: "submit", class: "primary" }, "Submit");
    const no = h("button", { type: "button", class: "secondary", on: { click: () => dialog.close() } }, "Cancel");
    const form = h("form", { method: "dialog" }, h("h2", { id: "modal-title" }, modal.title || ""), fields, error,
      h("div", { class: "dialog-buttons" }, no, ok));
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "modal-title" }, form);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      ok.disabled = no.disabled = true;
      // The submit names each input by its custom_id, in rows as Discord's client sends them.
      const components = inputs.map(([spec, el]) => ({ type: Type.ACTION_ROW, components: [spec.type === Type.TEXT_INPUT
        ? { type: spec.type, custom_id: spec.custom_id, value: el.value }
        : { type: spec.type, custom_id: spec.custom_id, values: [...el.selectedOptions].map((o) => o.value) }] }));
      try {
        await submit(components);
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
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    (inputs[0]?.[1] || ok).focus();
  });
}
