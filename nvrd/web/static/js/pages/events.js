// Events and linkage: per source of events (alarm inputs, motion, video loss, disks,
// network, logins, PoE, the cameras' own events) the rules saying what the recorder does
// when it happens — relays, buzzer, ALARM lamp, recording, snapshots, PTZ presets,
// notifications — edited and saved as one list; a "Test" per rule that fires it now and
// says what it did; arm / disarm; what is going on now and the alarm reset.
//
// API: GET/PUT /api/v1/events/linkage/settings, GET /api/v1/events/linkage,
// GET/PUT /api/v1/events/disarm, POST /api/v1/events/rules/{name}/test,
// POST /api/v1/alarms/outputs/reset, GET /api/v1/events/kinds, GET /api/v1/alarms.

import { api, ApiError } from "../api.js";
import { h, field, busy, notify, showErrors, section, fill, table, formatTime } from "../ui.js";

export const title = "Events";

const GROUPS = [
  ["alarm", "Alarms"], ["exception", "Exceptions (faults)"], ["camera", "The cameras' own events"],
  ["intelligent", "Intelligent events"],
];
const ACTION_WORDS = {
  record: "record", relay: "relay", ptz: "PTZ", snapshot: "snapshot", buzzer: "buzzer", led: "ALARM lamp",
  log: "log", mqtt: "MQTT", webhook: "webhook",
};
const STATUS_POLL_MS = 3000;

export async function show(main, ctx) {
  const { signal } = ctx;
  const [settings, status, kinds, alarms] = await Promise.all([
    api.get("/api/v1/events/linkage/settings", { signal }),
    api.get("/api/v1/events/linkage", { signal }),
    api.get("/api/v1/events/kinds", { signal }),
    api.get("/api/v1/alarms", { signal }).catch((error) => {
      if (error instanceof ApiError) return { inputs: [], outputs: [] };  // a board without terminals
      throw error;
    }),
  ]);
  const page = { settings, status, kinds, alarms, ctx };
  const arming = h("div", {});
  const now = h("div", {});
  const rules = rulesEditor(page);

  function renderStatus() {
    fill(arming, armingPanel(page, refreshStatus));
    fill(now, incidentsPanel(page, refreshStatus));
  }
  async function refreshStatus() {
    page.status = await api.get("/api/v1/events/linkage", { signal });
    renderStatus();
  }
  renderStatus();
  main.append(h("h1", {}, "Events and linkage"),
    section("Armed or disarmed", arming),
    section("Going on now", now),
    section("Rules", h("p", { class: "hint" }, "What the recorder does when an event starts. An event without a rule of its "
      + "own gets the default: notifications (MQTT, webhooks), and for motion the recording of its own channel."), rules));
  ctx.every(STATUS_POLL_MS, refreshStatus);
}

// --- arm / disarm --------------------------------------------------------------------------

function armingPanel(page, refresh) {
  const disarm = page.status.disarm;
  const toggle = h("button", { type: "button", class: disarm.enabled ? "primary" : "danger" },
    disarm.enabled ? "Arm again" : "Disarm now");
  toggle.addEventListener("click", async () => {
    const { error } = await busy(toggle, () => api.put("/api/v1/events/disarm", { enabled: !disarm.enabled }, { signal: page.ctx.signal }));
    if (!error) {
      notify(disarm.enabled ? "Armed: linkage acts again." : "Disarmed: the silenced actions do not run.");
      await refresh();
    }
  });
  const silenced = disarm.suppress.map((a) => ACTION_WORDS[a] ?? a).join(", ");
  return h("div", { class: "card arming" },
    h("p", { class: disarm.disarmed ? "warn" : "ok", "data-armed": disarm.disarmed ? "no" : "yes", role: "status" },
      h("strong", {}, disarm.disarmed ? "Disarmed" : "Armed"), disarm.reason ? ` — ${disarm.reason}` : ""),
    h("p", { class: "hint" }, `A disarm silences: ${silenced}. Events are still detected and logged.`
      + (disarm.schedule ? ` Disarm schedule: ${disarm.schedule}.` : "")
      + (disarm.input ? ` Key-switch input: ${disarm.input}.` : "")),
    h("div", { class: "buttons" }, toggle));
}

function incidentsPanel(page, refresh) {
  const { incidents, outputs } = page.status;
  const relays = Object.entries(outputs.relays ?? {}).map(([n, r]) => `relay ${n} ${r.on ? "ON" : "off"}`);
  const parts = [...relays, outputs.buzzer === null || outputs.buzzer === undefined ? null : `buzzer ${outputs.buzzer ? "ON" : "off"}`,
    outputs.lamp ? `ALARM lamp ${outputs.lamp}` : null].filter(Boolean);
  const reset = page.ctx.session.can("alarm_output")
    ? h("button", { type: "button", onclick: async (event) => {
      const { error } = await busy(event.currentTarget, () => api.post("/api/v1/alarms/outputs/reset", undefined, { signal: page.ctx.signal }));
      if (!error) {
        notify("Alarm outputs reset.");
        await refresh();
      }
    } }, "Alarm reset (relays, buzzer, lamp off)")
    : null;
  return h("div", {},
    h("div", { class: "table-wrap" }, table([
      ["Rule", (i) => i.rule + (i.test ? " (test)" : "")],
      ["Event", (i) => `${i.event.kind} ${i.event.source}`],
      ["Since", (i) => formatTime(i.opened_us / 1000)],
      ["Done", (i) => i.done.join("; ") || "—"],
      ["Disarm", (i) => i.disarm ?? "—"],
    ], incidents, { caption: "Open incidents", empty: "nothing going on" })),
    h("p", { class: "outputs" }, "Outputs: ", parts.join(", ") || "none"),
    reset ? h("div", { class: "buttons" }, reset) : null);
}

// --- the rules -----------------------------------------------------------------------------

// Rules are edited in place and saved as one list (the API replaces `rules` whole). Each
// rule keeps the settings this page does not show (a PTZ tour's dwell time) as they were.
function rulesEditor(page) {
  const offered = page.status.offered;
  const saved = new Set(page.settings.rules.map((r) => r.name));
  const entries = page.settings.rules.map((rule) => ({ rule: structuredClone(rule), key: rule.name }));
  let counter = 0;
  const save = h("button", { type: "submit", class: "primary" }, "Save rules");
  const body = h("div", {});
  const form = h("form", { class: "rules", noValidate: true }, body, h("div", { class: "buttons sticky-save" }, save));

  function render() {
    const groups = GROUPS.map(([group, label]) => {
      const kinds = page.kinds.filter((k) => k.group === group);
      if (!kinds.length) return null;
      return h("fieldset", { class: "rule-group" }, h("legend", {}, label), kinds.map((kind) => {
        const mine = entries.filter((e) => e.rule.kind === kind.kind);
        return h("div", { class: "rule-kind", "data-kind": kind.kind },
          h("h3", {}, kind.label),
          mine.length ? mine.map((entry) => ruleCard(entry, kind)) : h("p", { class: "hint" }, "No rule: the default applies."),
          h("button", { type: "button", onclick: () => add(kind) }, `Add a rule for ${kind.label}`));
      }));
    });
    fill(body, groups);
  }

  function add(kind) {
    counter += 1;
    let name = `${kind.kind.replace(/_/g, "-")}-${counter}`.slice(0, 32);
    while (entries.some((e) => e.rule.name === name)) name = `${name.slice(0, 28)}-${++counter}`;
    const actions = offered[kind.kind] ?? [];
    entries.push({ rule: { name, kind: kind.kind, enabled: true, log: actions.includes("log"),
      mqtt: actions.includes("mqtt"), webhook: actions.includes("webhook") }, key: `new-${counter}`, fresh: true });
    render();
    body.querySelector(`[data-rule="new-${counter}"] input`)?.focus();
  }

  function ruleCard(entry, kind) {
    const index = entries.indexOf(entry);
    const rule = entry.rule;
    const actions = new Set(offered[kind.kind] ?? []);
    const at = (name) => `rules.${index}.${name}`;
    const bind = (f, key, read) => {
      f.control.addEventListener("change", () => {
        const value = read(f.control);
        if (value === null || value === undefined || (Array.isArray(value) && !value.length && !(key in rule))) delete rule[key];
        else rule[key] = value;
        entry.dirty = true;
      });
      return f;
    };
    const checked = (c) => c.checked;
    const text = (c) => c.value.trim();
    const number = (c) => (c.value.trim() === "" ? null : Number(c.value));
    const list = (c) => parseNumbers(c.value);

    const nameField = bind(field({ label: "Name", name: at("name"), value: rule.name,
      attributes: { maxLength: 32, autocomplete: "off" } }), "name", text);
    const enabled = bind(field({ label: "Enabled", name: at("enabled"), type: "checkbox", value: rule.enabled ?? true }), "enabled", checked);
    const sourceField = kind.kind === "alarm_input" && page.alarms.inputs.length
      ? field({ label: "Alarm input", name: at("source"), type: "select", value: rule.source ?? "",
        options: [["", "any input"], ...page.alarms.inputs.map((i) => [`alarm-in:${i.number}`, `${i.number}: ${i.name}`])] })
      : field({ label: "Source (empty: any)", name: at("source"), value: rule.source ?? "",
        hint: "e.g. bay:2, net:eth0, camera:3/region:1 — a prefix up to “/” matches what is under it.",
        attributes: { maxLength: 64, autocomplete: "off" } });
    bind(sourceField, "source", text);
    const channel = kind.per_channel
      ? bind(field({ label: "Only camera channel (empty: any)", name: at("channel"), type: "number", value: rule.channel ?? "",
        attributes: { min: 1, max: 256, step: 1, inputmode: "numeric" } }), "channel", number)
      : null;
    const schedules = ["always", ...page.settings.schedules.map((s) => s.name)];
    const arming = bind(field({ label: "Armed during schedule", name: at("arming"), type: "select", value: rule.arming ?? "always",
      options: schedules.map((s) => [s, s]) }), "arming", text);
    const dither = bind(field({ label: "Anti-dither (s)", name: at("anti_dither_seconds"), type: "number",
      value: rule.anti_dither_seconds ?? 5, hint: "A new start this soon after the last one ended joins the same incident.",
      attributes: { min: 0, max: 600, step: 1, inputmode: "numeric" } }), "anti_dither_seconds", number);

    const doing = [];
    if (actions.has("relay")) {
      const boxes = page.alarms.outputs.map((o) => {
        const f = field({ label: `Relay ${o.number} (${o.name})`, name: at("relays"), type: "checkbox",
          value: (rule.relays ?? []).includes(o.number), attributes: { "data-relay": o.number } });
        f.control.addEventListener("change", () => {
          const chosen = new Set(rule.relays ?? []);
          if (f.control.checked) chosen.add(o.number); else chosen.delete(o.number);
          rule.relays = [...chosen].sort((a, b) => a - b);
          entry.dirty = true;
        });
        return f;
      });
      doing.push(boxes.length ? h("div", { class: "relays" }, boxes)
        : bind(field({ label: "Relays (numbers)", name: at("relays"), value: (rule.relays ?? []).join(", ") }), "relays", list));
    }
    if (actions.has("record")) {
      doing.push(bind(field({ label: "Record channels", name: at("record"), value: (rule.record ?? []).join(", "),
        hint: "Channel numbers, e.g. 1, 3.", attributes: { autocomplete: "off" } }), "record", list));
    }
    if (actions.has("snapshot")) {
      doing.push(bind(field({ label: "Snapshot channels", name: at("snapshot"), value: (rule.snapshot ?? []).join(", "),
        attributes: { autocomplete: "off" } }), "snapshot", list));
    }
    if (actions.has("ptz")) {
      doing.push(bind(field({ label: "PTZ presets", name: at("ptz"), value: formatPtz(rule.ptz ?? []),
        hint: "channel:preset, e.g. 1:3; a tour: 1:3/4/5.", attributes: { autocomplete: "off" } }), "ptz",
      (c) => parsePtz(c.value, rule.ptz ?? [])));
    }
    if (actions.has("buzzer")) doing.push(bind(field({ label: "Buzzer", name: at("buzzer"), type: "checkbox", value: rule.buzzer }), "buzzer", checked));
    if (actions.has("led")) {
      doing.push(bind(field({ label: "ALARM lamp", name: at("led"), type: "select", value: rule.led ?? "",
        options: [["", "off"], ["steady", "steady"], ["blink", "blinking"], ["fast_blink", "fast blinking"]] }), "led",
      (c) => c.value || null));
    }
    for (const [key, label] of [["log", "Log line"], ["mqtt", "MQTT"], ["webhook", "Webhooks"]]) {
      if (actions.has(key)) doing.push(bind(field({ label, name: at(key), type: "checkbox", value: rule[key] ?? true }), key, checked));
    }

    const result = h("div", { class: "test-result", role: "status", "aria-live": "polite" });
    const test = h("button", { type: "button", disabled: Boolean(entry.fresh) }, "Test");
    test.title = entry.fresh ? "Save the rule first" : "Fire the saved rule once, now";
    test.addEventListener("click", async () => {
      const name = saved.has(entry.key) ? entry.key : rule.name;
      const { value, error } = await busy(test, () => api.post(`/api/v1/events/rules/${encodeURIComponent(name)}/test`, undefined,
        { signal: page.ctx.signal }), { report: false });
      if (error) {
        fill(result, h("p", { class: "form-error" }, error.message));
        return;
      }
      fill(result, h("p", {}, `Tested “${value.rule}”${entry.dirty ? " (as saved: your changes are not saved yet)" : ""}: `
        + (value.done.length ? value.done.join("; ") : "nothing to do")));
    });
    const remove = h("button", { type: "button", class: "link" }, "Remove");
    remove.addEventListener("click", () => {
      entries.splice(entries.indexOf(entry), 1);
      render();
      notify(`Rule “${rule.name}” removed: save the rules to make it so.`);
    });
    return h("fieldset", { class: "card rule", "data-rule": entry.key },
      h("legend", {}, `Rule “${rule.name}”`),
      h("div", { class: "rule-fields" }, nameField, enabled, sourceField, channel, arming, dither),
      h("div", { class: "rule-actions" }, h("h4", {}, "When it starts"), doing),
      h("div", { class: "buttons" }, test, remove), result);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const rules = entries.map((e) => clean(e.rule));
    const { value, error } = await busy(save, () => api.put("/api/v1/events/linkage/settings", { rules }, { signal: page.ctx.signal }), { report: false });
    if (error) {
      showErrors(form, relocate(error));
      return;
    }
    page.settings = value;
    saved.clear();
    for (const r of value.rules) saved.add(r.name);
    entries.splice(0, entries.length, ...value.rules.map((rule) => ({ rule: structuredClone(rule), key: rule.name })));
    render();
    notify("Rules saved.");
  });
  render();
  return form;
}

// The server names a rule's setting "events.rules.2.relays" (or "rules.2.relays"): the
// page's controls are named "rules.2.relays".
function relocate(error) {
  if (!(error instanceof ApiError)) return error;
  const details = (error.details ?? []).map((d) => {
    const match = /rules[.[](\d+)\]?\.?([a-z_]+)?/.exec(String(d.field ?? ""));
    return match ? { ...d, field: `rules.${match[1]}.${match[2] ?? "name"}` } : d;
  });
  return new ApiError(error.status, error.code, error.message, details, error.retryAfter);
}

// A rule as the configuration takes it: no nulls (TOML has none), no empty source.
function clean(rule) {
  const out = {};
  for (const [key, value] of Object.entries(rule)) {
    if (value === null || value === undefined || (key === "source" && value === "")) continue;
    out[key] = value;
  }
  return out;
}

function parseNumbers(text) {
  return text.split(/[\s,;]+/).filter(Boolean).map(Number);
}

function formatPtz(actions) {
  return actions.map((a) => `${a.channel}:${a.tour ? a.tour.join("/") : a.preset}`).join(", ");
}

// "1:3, 2:4/5/6" -> [{channel: 1, preset: 3}, {channel: 2, tour: [4, 5, 6], dwell_seconds}]
// (a tour keeps the dwell time it had).
function parsePtz(text, previous) {
  return text.split(/[\s,;]+/).filter(Boolean).map((item) => {
    const [channel, target = ""] = item.split(":");
    const stops = target.split("/").filter(Boolean).map(Number);
    const before = previous.find((p) => p.channel === Number(channel));
    if (stops.length > 1) return { channel: Number(channel), tour: stops, dwell_seconds: before?.dwell_seconds ?? 10 };
    return { channel: Number(channel), preset: stops[0] ?? Number.NaN };
  });
}
