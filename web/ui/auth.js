// The log-in / register screen (with the invite being followed, if any).

import { h } from "./dom.js";

export class AuthView {
  /**
   * @param {{onLogin: (username, password) => Promise, onRegister: (username, password) => Promise,
   *   invite?: {guild: {name: string}, inviter?: {username: string}} | null}} deps
   */
  constructor({ onLogin, onRegister, invite = null }) {
    this.mode = "login";
    this.deps = { onLogin, onRegister };
    this.heading = h("h1", {});
    this.username = h("input", { id: "auth-username", name: "username", autocomplete: "username", required: true,
      minlength: 2, maxlength: 32, autocapitalize: "off", spellcheck: "false", "aria-describedby": "auth-username-hint" });
    // The server's rule for new names (core/accounts.py), said before it refuses one.
    this.hint = h("p", { id: "auth-username-hint", class: "field-hint" }, "2-32 lowercase letters, numbers, _ and .");
    this.password = h("input", { id: "auth-password", name: "password", type: "password", required: true, minlength: 8, maxlength: 128 });
    this.error = h("p", { class: "form-error", role: "alert", hidden: true });
    this.submit = h("button", { type: "submit", class: "primary wide" });
    this.switchText = h("span", {});
    this.switchButton = h("button", { type: "button", class: "link", on: { click: () => this.setMode(this.mode === "login" ? "register" : "login") } });
    this.el = h("main", { class: "auth" },
      h("form", { class: "auth-card", on: { submit: (ev) => this._submit(ev) } },
        invite && h("p", { class: "auth-invite" },
          invite.inviter ? `${invite.inviter.username} invited you to join` : "You have been invited to join",
          h("strong", { class: "auth-invite-guild" }, invite.guild.name)),
        this.heading,
        h("div", { class: "field" }, h("label", { for: "auth-username" }, "Username"), this.username, this.hint),
        h("div", { class: "field" }, h("label", { for: "auth-password" }, "Password"), this.password),
        this.error,
        this.submit,
        h("p", { class: "auth-switch" }, this.switchText, " ", this.switchButton)));
    this.setMode(invite ? "register" : "login");
  }

  setMode(mode) {
    this.mode = mode;
    const login = mode === "login";
    this.heading.textContent = login ? "Welcome back!" : "Create an account";
    this.submit.textContent = login ? "Log in" : "Register";
    this.switchText.textContent = login ? "Need an account?" : "Already have an account?";
    this.switchButton.textContent = login ? "Register" : "Log in";
    this.password.autocomplete = login ? "current-password" : "new-password";
    this.hint.hidden = login;
    this.error.hidden = true;
  }

  focus() {
    this.username.focus();
  }

  async _submit(ev) {
    ev.preventDefault();
    this.submit.disabled = true;
    this.error.hidden = true;
    const action = this.mode === "login" ? this.deps.onLogin : this.deps.onRegister;
    try {
      await action(this.username.value.trim(), this.password.value);
    } catch (e) {
      this.error.hidden = false;
      this.error.textContent = e.describe ? e.describe() : String(e.message || e);
      this.submit.disabled = false;
    }
  }
}
