// The dashboard's state panels: the recorder's summary, disks (with a retention
// estimate), PoE ports with the power budget, and the alarm inputs and outputs.
//
// Each panel is given what its routes answered as {value} or {error} and shows it; an
// answer that could not be had is said inside that panel (the others go on). A 403 means
// the person lacks the panel's right: the panel goes away instead of complaining.

import { h, fill, section, table, formatBytes, formatDuration } from "../../ui.js";
import { formatBitrate, recordedRates, retentionSeconds, shortTime } from "./channels.js";

function panel(title, name) {
  const body = h("div", { class: "dash-body" }, h("p", { class: "loading" }, "Loading…"));
  const element = section(title, body);
  element.classList.add("card", "dash-panel");
  element.dataset.panel = name;
  return {
    element, body,
    // true when there is something to show; else the panel shows why not (or leaves)
    usable(result) {
      if (!result?.error) return true;
      if (result.error.status === 403) {
        element.remove();
      } else {
        fill(body, h("p", { class: "form-error", role: "alert" },
          result.error.message ?? String(result.error)));
      }
      return false;
    },
  };
}

function watts(mw) {
  return mw === null || mw === undefined ? "" : `${(mw / 1000).toFixed(1)} W`;
}

// --- the recorder as a whole (GET /api/v1/status) ------------------------------------

export function summaryPanel() {
  const line = h("p", { class: "dash-summary", role: "status" }, "Loading…");
  const problems = h("ul", { class: "dash-problems bad", hidden: true });
  const element = h("div", { class: "card dash-status" }, line, problems);
  return {
    element,
    render(result) {
      if (result.error) {
        fill(line, h("span", { class: "bad" }, result.error.message));
        return;
      }
      const status = result.value;
      fill(line,
        h("span", { class: `badge ${status.healthy ? "ok" : "bad"}` },
          status.healthy ? "healthy" : "needs attention"), " ", status.summary,
        h("span", { class: "muted" }, ` · up ${formatDuration(status.uptime_seconds)}`));
      const list = [...status.problems];
      if (status.config_error) list.push(`configuration: ${status.config_error}`);
      fill(problems, list.map((p) => h("li", {}, p)));
      problems.hidden = list.length === 0;
    },
  };
}

// --- disks (GET /api/v1/storage) -------------------------------------------------------

function bayOf(volume, bays) {
  return bays.find((bay) => bay.mount_point && (volume.path === bay.mount_point
    || volume.path.startsWith(bay.mount_point.replace(/\/$/, "") + "/"))) ?? null;
}

function smartCell(bay) {
  if (!bay) return h("span", { class: "muted" }, "not a bay disk");
  if (!bay.smart) return h("span", { class: "muted" }, "not checked yet");
  const kind = bay.smart === "ok" ? "ok" : ["warning", "failing", "error"].includes(bay.smart) ? "bad" : "muted";
  return h("span", { class: kind }, bay.smart_summary ? `${bay.smart}: ${bay.smart_summary}` : bay.smart);
}

function stateCell(state, problem) {
  const kind = ["ready", "recording", "mounted"].includes(state) ? "ok"
    : ["failed", "stalled", "error", "missing", "full"].includes(state) ? "bad" : "muted";
  return h("span", { class: kind, title: problem ?? null }, problem ? `${state}: ${problem}` : state);
}

export function disksPanel() {
  const p = panel("Disks", "disks");
  return {
    element: p.element,
    render(result, channels) {
      if (!p.usable(result)) return;
      const { volumes, bays, settings } = result.value;
      const rates = recordedRates(channels?.value);
      const policy = settings.full_policy;
      const rows = volumes.map((volume) => {
        const bay = bayOf(volume, bays);
        return { volume, bay, keep: retentionSeconds(volume, rates, policy) };
      });
      const used = new Set(rows.map((r) => r.bay?.bay).filter(Boolean));
      for (const bay of bays) {
        if (!used.has(bay.bay) && bay.state !== "empty") rows.push({ volume: null, bay, keep: null });
      }
      const where = ({ volume, bay }) => {
        const bayName = bay ? (bay.label ? `bay ${bay.bay} (${bay.label})` : `bay ${bay.bay}`) : null;
        const disk = bay?.model ? ` ${bay.model}${bay.size_bytes ? " " + formatBytes(bay.size_bytes) : ""}` : "";
        if (volume) return [h("strong", {}, volume.name), bayName ? ` · ${bayName}${disk}` : ""];
        return `${bayName}${disk}`;
      };
      const keepCell = ({ keep, volume }) => {
        if (!volume) return "";
        if (!keep) return h("span", { class: "muted" }, "nothing recorded here now");
        return [h("strong", {}, `≈ ${formatDays(keep.seconds)}`),
          h("span", { class: "muted" }, ` at ${formatBitrate((keep.rate * 8) / 1000)}`)];
      };
      const emptyBays = bays.filter((b) => b.state === "empty").map((b) => b.label ?? `bay ${b.bay}`);
      const total = rows.reduce((sum, r) => sum + (r.keep?.bytes ?? 0), 0);
      const rate = [...rates.values()].reduce((sum, r) => sum + r, 0);
      fill(p.body,
        h("div", { class: "table-wrap" }, table([
          ["Disk", where],
          ["State", ({ volume, bay }) => volume ? stateCell(volume.state, volume.reason) : stateCell(bay.state, bay.problem)],
          ["Health (SMART)", ({ bay }) => smartCell(bay)],
          ["Free", ({ volume }) => volume && volume.total_bytes !== null
            ? `${formatBytes(volume.free_bytes)} of ${formatBytes(volume.total_bytes)}` : ""],
          [policy === "stop" ? "Until full" : "Retention", keepCell],
        ], rows, { empty: "no disk or recording volume" })),
        rate && total ? h("p", {}, `All volumes: about ${formatDays(total / rate)} of recordings at the current `
          + `${formatBitrate((rate * 8) / 1000)}.`) : null,
        emptyBays.length ? h("p", { class: "muted" }, `Empty bays: ${emptyBays.join(", ")}.`) : null,
        h("p", { class: "hint" }, policy === "stop"
          ? "Until full: the free space above the floor the recorder keeps free, divided by "
            + "the bitrate of the streams recorded on the volume now."
          : "Retention: the volume's size less the floor the recorder keeps free (that is "
            + "the free space plus the recordings that will be overwritten), divided by the "
            + "bitrate of the streams recorded on it now: how far back recordings reach once "
            + "the disk is full."));
    },
  };
}

function formatDays(seconds) {
  const days = seconds / 86400;
  if (days >= 10) return `${Math.round(days)} days`;
  if (days >= 1) return `${days.toFixed(1)} days`;
  return formatDuration(seconds);
}

// --- PoE (GET /api/v1/poe, GET /api/v1/poe/budget) -------------------------------------

const POWER_CLASS = { delivering: "ok", fault: "bad", disabled: "muted", searching: "muted" };

export function poePanel(cameraName) {
  const p = panel("PoE", "poe");
  return {
    element: p.element,
    render(result) {
      if (!p.usable(result)) return;
      const { ports, budget } = result.value;
      const used = Math.max(budget.allocated_mw, budget.drawn_mw);
      const bar = h("progress", { max: budget.budget_mw, "aria-label": "PoE budget used" });
      bar.value = Math.min(used, budget.budget_mw);
      fill(p.body,
        h("div", { class: "dash-budget" },
          h("span", {}, h("strong", {}, `${watts(used)} of ${watts(budget.budget_mw)}`), " used"),
          bar,
          h("span", { class: "muted" },
            `${watts(budget.drawn_mw)} drawn, ${watts(budget.allocated_mw)} allocated; `
            + `${budget.ports_delivering} of ${budget.ports} ports powered`)),
        h("div", { class: "table-wrap" }, table([
          ["Port", (port) => String(port.port)],
          ["Camera", (port) => {
            if (!port.camera_channel) return "";
            const name = cameraName(port.camera_channel);
            return name ? `${name} (ch ${port.camera_channel})`
              : h("span", { class: "muted" }, `ch ${port.camera_channel}`);
          }],
          ["State", (port) => {
            const state = !port.admin_enabled ? "off" : port.shed ? "shed" : port.power;
            const kind = port.shed || port.fault ? "bad" : POWER_CLASS[port.power] ?? "";
            return h("span", { class: kind, title: port.fault ?? null },
              port.fault && !port.shed ? `${state}: ${port.fault}` : state);
          }],
          ["Class", (port) => (port.pd_class === null ? "" : String(port.pd_class))],
          ["Power", (port) => port.power === "delivering" ? watts(port.power_mw) : ""],
        ], ports, { caption: "PoE ports", empty: "this board has no PoE ports" })));
    },
  };
}

// --- alarm inputs and outputs (GET /api/v1/alarms) -------------------------------------

export function alarmsPanel() {
  const p = panel("Alarm inputs and outputs", "alarms");
  return {
    element: p.element,
    render(result) {
      if (!p.usable(result)) return;
      const { inputs, outputs } = result.value;
      const rows = [
        ...inputs.map((input) => ({
          id: `alarm-in-${input.number}`, terminal: `IN ${input.number}`, name: input.name,
          state: !input.enabled ? h("span", { class: "muted" }, "disabled")
            : input.active ? h("strong", { class: "bad" }, "ALARM") : h("span", { class: "ok" }, "normal"),
          detail: [`${input.contact} contact`,
            input.since_us ? ` · since ${shortTime(input.since_us / 1000)}` : ""],
        })),
        ...outputs.map((output) => ({
          id: `alarm-out-${output.number}`, terminal: `OUT ${output.number}`, name: output.name,
          state: output.on ? h("strong", { class: "warn" }, "on") : h("span", { class: "muted" }, "off"),
          detail: `mode ${output.mode}`,
        })),
      ];
      const element = table([
        ["Terminal", (row) => row.terminal],
        ["Name", (row) => row.name],
        ["State", (row) => row.state],
        ["Details", (row) => h("span", { class: "muted" }, row.detail)],
      ], rows, { caption: "Alarm terminals", empty: "this board has no alarm terminals" });
      element.querySelectorAll("tbody tr").forEach((tr, i) => {
        if (rows[i]) tr.dataset.terminal = rows[i].id;
      });
      fill(p.body, h("div", { class: "table-wrap" }, element));
    },
  };
}
