// The recorder's network (right "network"): the interfaces as the recorder sees them,
// and a change that applies at once and is undone unless kept
// (/api/v1/system/network/interfaces, /confirm, /revert in nvrd/web/routes/network.py).
// While a change waits, the page counts down and offers "Keep these settings"; when the
// time runs out unconfirmed, the recorder puts the old settings back by itself and the
// page says so. (If the new address cut this browser off, the countdown still runs here,
// and the box reverts without us.)

import { api } from "../../api.js";
import { busy, confirmAction, field, fill, h, notify, table } from "../../ui.js";

const POLL_MS = 2000;

export async function showNetwork(box, ctx) {
  const { signal } = ctx;
  const pendingBox = h("div", { class: "pending-box", "aria-live": "polite" });
  const viewBox = h("div");
  const formBox = h("div");
  const outcome = h("div", { role: "status" });
  fill(box, outcome, pendingBox, viewBox, formBox);
  let watched = null;     // the pending change this page is counting down
  let keptByUs = false;
  let countdown = null;
  let state = await load();
  renderForm();
  ctx.every(POLL_MS, async () => {
    if (watched) state = await load().catch((error) => unreachable(error));
  });
  signal.addEventListener("abort", () => clearInterval(countdown));

  async function load() {
    const answer = await api.get("/api/v1/system/network/interfaces", { signal });
    render(answer);
    return answer;
  }

  function unreachable(error) {
    if (error?.name === "AbortError") throw error;
    fill(outcome, h("p", { class: "warn" }, "The recorder does not answer at this address now. ",
      "If the new settings are right, open the page at the new address and keep them there; ",
      "otherwise the old settings come back by themselves when the time runs out."));
    return state;
  }

  function render(answer) {
    renderView(answer);
    const pending = answer.pending;
    if (pending) {
      if (!watched || watched.interface !== pending.interface || watched.applied !== pending.applied) keptByUs = false;
      watched = { ...pending, endsAt: Date.now() + pending.seconds_left * 1000 };
      renderPending();
    } else if (watched) {
      finished(answer);
    } else {
      fill(pendingBox);
    }
  }

  function finished(answer) {
    const was = watched;
    watched = null;
    clearInterval(countdown);
    fill(pendingBox);
    const saved = answer.configured.some((c) => c.text === was.setting.text);
    if (keptByUs || saved) {
      fill(outcome, h("p", { class: "ok" }, `Kept and saved: ${was.applied}.`));
    } else {
      fill(outcome, h("p", { class: "warn notice-box" },
        `The change was not kept (${was.applied}): the previous settings are back — ${was.previous}.`));
    }
  }

  function renderPending() {
    const left = h("strong", { class: "countdown" });
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((watched.endsAt - Date.now()) / 1000));
      left.textContent = `${seconds} s`;
    };
    tick();
    clearInterval(countdown);
    countdown = setInterval(() => watched && tick(), 250);
    const keep = h("button", { type: "button", class: "primary" }, "Keep these settings");
    const undo = h("button", { type: "button" }, "Undo now");
    keep.addEventListener("click", async () => {
      const { error, value } = await busy(keep, () => api.post("/api/v1/system/network/confirm"));
      if (error) return;
      keptByUs = true;
      notify(`Kept: ${value.kept}`);
      state = await load();
    });
    undo.addEventListener("click", async () => {
      const { error, value } = await busy(undo, () => api.post("/api/v1/system/network/revert"));
      if (error) return;
      keptByUs = false;
      notify(`Undone: ${value.reverted}`);
      state = await load();
    });
    fill(pendingBox, h("div", { class: "card pending" },
      h("p", {}, h("strong", {}, "New network settings applied: "), watched.applied,
        ` (by ${watched.user || "?"}).`),
      h("p", {}, "The previous settings (", watched.previous, ") come back in ", left,
        " unless you keep these."),
      h("div", { class: "buttons" }, keep, undo)));
  }

  function renderView(answer) {
    const gateways = answer.default_routes.map((r) => `${r.gateway ?? "on-link"} (${r.interface})`);
    fill(viewBox,
      h("div", { class: "table-wrap" }, table([
        ["Interface", (i) => i.name],
        ["Link", (i) => (!i.up ? h("span", { class: "bad" }, "down") : i.carrier ? h("span", { class: "ok" }, "up") : h("span", { class: "warn" }, "no cable"))],
        ["IPv4", (i) => i.addresses.join(", ") || "—"],
        ["MAC", (i) => i.mac || "—"],
        ["MTU", (i) => String(i.mtu)],
        ["Set by", (i) => {
          const setting = answer.configured.find((c) => c.name === i.name);
          const problem = answer.problems[i.name];
          return [setting ? setting.text.replace(/^[^:]+: /, "") + (setting.mode === "dhcp" ? "" : " (static)") : "the operating system",
                  problem ? h("div", { class: "error" }, problem) : null];
        }],
      ], answer.interfaces.filter((i) => i.name !== "lo"), { caption: "Interfaces" })),
      h("dl", { class: "facts" },
        h("dt", {}, "Default gateway"), h("dd", {}, gateways.join(", ") || "none"),
        h("dt", {}, "DNS servers"), h("dd", {}, answer.dns.join(" ") || "the operating system's")));
  }

  function renderForm() {
    const names = state.interfaces.filter((i) => i.name !== "lo").map((i) => [i.name, i.name]);
    const current = (name) => state.interfaces.find((i) => i.name === name);
    const iface = field({ label: "Interface", name: "interface", type: "select", options: names });
    const mode = field({ label: "Address from", name: "mode", type: "select", value: "static",
                         options: [["static", "fixed address (static)"], ["dhcp", "a DHCP server"]] });
    const address = field({ label: "IP address / prefix length", name: "address",
                            hint: "e.g. 192.168.1.20/24 (/24 is the netmask 255.255.255.0)",
                            attributes: { autocomplete: "off", inputmode: "decimal" } });
    const gateway = field({ label: "Gateway", name: "gateway", hint: "Empty: no default route through this interface.",
                            attributes: { autocomplete: "off", inputmode: "decimal" } });
    const dns = field({ label: "DNS servers", name: "dns", hint: "Up to 3, separated by spaces.",
                        attributes: { autocomplete: "off" } });
    const fillFrom = () => {
      const link = current(iface.control.value);
      address.control.value = link?.addresses[0] ?? "";
      const route = state.default_routes.find((r) => r.interface === iface.control.value);
      gateway.control.value = route?.gateway ?? "";
      dns.control.value = state.dns.join(" ");
    };
    const staticFields = h("div", {}, address, gateway);
    const showMode = () => { staticFields.hidden = mode.control.value !== "static"; };
    iface.control.addEventListener("change", fillFrom);
    mode.control.addEventListener("change", showMode);
    fillFrom();
    showMode();
    const apply = h("button", { type: "submit", class: "primary" }, "Apply");
    const form = h("form", { class: "narrow", noValidate: true }, iface, mode, staticFields, dns,
      h("p", { class: "hint" }, `The change applies at once. Unless you keep it within ${state.confirm_seconds} s, `,
        "the previous settings come back by themselves, so a wrong address cannot lock you out."),
      h("div", { class: "buttons" }, apply));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { mode: mode.control.value, dns: dns.control.value.split(/[\s,]+/).filter(Boolean) };
      if (body.mode === "static") {
        body.address = address.control.value.trim();
        if (gateway.control.value.trim()) body.gateway = gateway.control.value.trim();
      }
      if (!await confirmAction(`Apply the new settings to ${iface.control.value} now? This page may lose the `
          + "connection if they move the recorder to another address.", { action: "Apply", danger: false })) return;
      fill(outcome);
      const { error, value } = await busy(apply, () => api.put(
        `/api/v1/system/network/interfaces/${encodeURIComponent(iface.control.value)}`, body), { form });
      if (error) return;
      keptByUs = false;
      watched = null;
      render({ ...state, pending: value });
      state = await load().catch((e) => unreachable(e));
    });
    fill(formBox, h("h3", {}, "Change the network settings"), form);
  }
}
