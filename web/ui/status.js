// The connection banner: says when live updates are paused and when they will be tried again.

import { h } from "./dom.js";

export class ConnectionBanner {
  constructor() {
    this.el = h("div", { class: "connection-banner", role: "status", hidden: true });
    this.timer = null;
  }

  /** @param {{state: string, delay: number}} detail from the Gateway's "state" event */
  update({ state, delay }) {
    clearInterval(this.timer);
    if (state === "ready") {
      this.el.hidden = true;
      return;
    }
    this.el.hidden = false;
    if (state === "reconnecting" && delay > 0) {
      const until = Date.now() + delay;
      const tick = () => {
        const s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        this.el.textContent = `Connection lost. Reconnecting${s ? ` in ${s} s` : ""}…`;
      };
      tick();
      this.timer = setInterval(tick, 1000);
    } else {
      this.el.textContent = state === "closed" ? "Disconnected." : "Connecting…";
    }
  }
}
