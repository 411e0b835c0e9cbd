// PoE: each port with its camera, power state, PD class and power drawn, the budget they
// share (used / total), and the installer's actions: switch a port on, off (asked first:
// the camera loses power) or power-cycle it (the remote reboot of a hung camera).
//
// API: GET /api/v1/poe, GET /api/v1/poe/budget, POST /api/v1/poe/N/enable|disable|power-cycle.

import { api } from "../api.js";
import { h, busy, notify, confirmAction, table, section, fill } from "../ui.js";

export const title = "PoE";

const POLL_MS = 3000;
const POWER_WORDS = { delivering: "delivering", searching: "no camera (searching)", disabled: "switched off", fault: "fault", unknown: "unknown" };

const watts = (mw) => (mw === null || mw === undefined ? "—" : `${(mw / 1000).toFixed(1)} W`);

export async function show(main, ctx) {
  const { signal } = ctx;
  const budgetBox = h("div", { class: "card poe-budget" });
  const portsBox = h("div", { class: "table-wrap" });
  let busyPort = null;

  async function load() {
    const [ports, budget] = await Promise.all([
      api.get("/api/v1/poe", { signal }),
      api.get("/api/v1/poe/budget", { signal }),
    ]);
    fill(budgetBox, budgetBar(budget));
    fill(portsBox, portsTable(ports));
  }

  function portsTable(ports) {
    return table([
      ["Port", (p) => String(p.port)],
      ["Camera", (p) => (p.camera_channel ? `channel ${p.camera_channel}` : "—")],
      ["State", (p) => [h("span", { class: stateClass(p), "data-port-state": p.port },
        p.admin_enabled ? (p.shed ? "shed (budget)" : POWER_WORDS[p.power] ?? p.power) : "switched off"),
      p.fault ? h("div", { class: "hint bad" }, p.fault) : null]],
      ["Class", (p) => (p.pd_class === null ? "—" : String(p.pd_class))],
      ["Power", (p) => watts(p.power_mw)],
      ["Allocated", (p) => `${watts(p.allocated_mw)} of ${watts(p.allowance_mw)}`],
      ["Priority", (p) => p.priority],
      ["Actions", (p) => h("div", { class: "buttons" },
        p.admin_enabled
          ? [h("button", { type: "button", "aria-label": `Power-cycle port ${p.port}`, onclick: (e) => act(p, "power-cycle", e.currentTarget) }, "Power-cycle"),
            h("button", { type: "button", class: "danger", "aria-label": `Switch port ${p.port} off`, onclick: (e) => act(p, "disable", e.currentTarget) }, "Switch off")]
          : h("button", { type: "button", class: "primary", "aria-label": `Switch port ${p.port} on`, onclick: (e) => act(p, "enable", e.currentTarget) }, "Switch on"))],
    ], ports, { caption: "PoE ports", empty: "this recorder has no PoE ports" });
  }

  async function act(port, action, button) {
    const who = port.camera_channel ? `the camera of channel ${port.camera_channel}` : "the device on it";
    if (action === "disable" && !await confirmAction(
      `Switch PoE port ${port.port} off? ${who[0].toUpperCase() + who.slice(1)} loses power and stays off (also after a restart) until you switch the port on again.`,
      { action: "Switch off" })) return;
    if (action === "power-cycle" && !await confirmAction(
      `Power-cycle PoE port ${port.port}? ${who[0].toUpperCase() + who.slice(1)} is off for a few seconds and restarts.`,
      { action: "Power-cycle" })) return;
    busyPort = port.port;
    const { error } = await busy(button, () => api.post(`/api/v1/poe/${port.port}/${action}`, undefined, { signal }));
    busyPort = null;
    if (!error) {
      notify({ enable: `Port ${port.port} switched on.`, disable: `Port ${port.port} switched off.`,
        "power-cycle": `Port ${port.port} power-cycled.` }[action]);
    }
    await load().catch(() => {});
  }

  await load();
  main.append(h("h1", {}, "PoE"), section("Power budget", budgetBox), section("Ports", portsBox));
  ctx.every(POLL_MS, async () => {
    if (busyPort === null) await load();
  });
}

function stateClass(port) {
  if (!port.admin_enabled) return "muted";
  if (port.shed || port.fault || port.power === "fault") return "bad";
  return port.power === "delivering" ? "ok" : null;
}

function budgetBar(budget) {
  const used = Math.max(budget.allocated_mw, budget.drawn_mw);
  const share = budget.budget_mw > 0 ? used / budget.budget_mw : 0;
  return [
    h("p", {}, h("strong", { "data-budget": "used" }, `${watts(used)} of ${watts(budget.budget_mw)}`), " used ",
      h("span", { class: "hint" }, `(allocated ${watts(budget.allocated_mw)}, drawn ${watts(budget.drawn_mw)}; `
        + `${budget.ports_delivering} of ${budget.ports} ports deliver)`)),
    h("meter", { min: 0, max: 1, low: 0.7, high: 0.9, optimum: 0, value: share, "aria-label": "PoE budget used",
      class: "poe-meter" }),
  ];
}
