// Storage: the volumes recorded on (state, free space, streams, write latency), the drive
// bays (disk, SMART and its history, preparing a disk with a typed-word confirmation and
// its progress), what happens when the disks are full, how long each channel's recordings
// are kept, and the record-time estimate with the manual's formula.
//
// API: GET /api/v1/storage, PUT /api/v1/storage/settings, /api/v1/storage/bays/N/smart
// (+ /history), POST /api/v1/storage/bays/N/prepare; per-channel retention is a camera
// setting (PATCH /api/v1/cameras/N: max_age_days, quota_gb; right "camera").

import { api } from "../api.js";
import {
  h, field, busy, notify, progressBar, confirmAction, table, section, fill, formatBytes,
  formatTime,
} from "../ui.js";
import { estimateSection } from "./storage/estimate.js";

export const title = "Storage";

const BAY_STATES = {
  empty: "empty", blank: "blank disk: prepare it to record on it", foreign: "another system's disk",
  mounting: "mounting…", preparing: "preparing…", recording: "recording", mounted: "mounted (playback only)",
  unmounted: "unmounted: safe to pull", error: "error",
};
const SMART_CLASS = { ok: "ok", warning: "warn", failing: "bad", error: "bad" };
const PREPARE_POLL_MS = 1000;

export async function show(main, ctx) {
  const { signal } = ctx;
  const canCameras = ctx.session.can("camera");
  const [storage, cameras] = await Promise.all([
    api.get("/api/v1/storage", { signal }),
    canCameras ? api.get("/api/v1/cameras", { signal }) : Promise.resolve([]),
  ]);

  const volumesBox = h("div", { class: "table-wrap" });
  const baysBox = h("div", { class: "table-wrap" });
  const historyBox = h("div", { class: "smart-history" });
  const prepare = prepareSection(storage, ctx, refresh);
  const state = { storage };

  function render() {
    fill(volumesBox, volumesTable(state.storage.volumes));
    fill(baysBox, baysTable(state.storage.bays, { history: (bay) => showHistory(bay, historyBox, signal), check: smartCheck }));
    prepare.update(state.storage.bays);
  }

  async function refresh() {
    state.storage = await api.get("/api/v1/storage", { signal });
    render();
  }

  async function smartCheck(bay, button) {
    const { error } = await busy(button, () => api.post(`/api/v1/storage/bays/${bay.bay}/smart`, undefined, { signal }));
    if (!error) {
      notify(`Bay ${bay.bay}: SMART checked.`);
      await refresh();
    }
  }

  render();
  main.append(
    h("h1", {}, "Storage"),
    section("Volumes", h("p", { class: "hint" }, "Where recordings are written now: bay disks and the configured directories."), volumesBox),
    section("Drive bays", baysBox, historyBox, prepare.element),
    settingsSection(storage.settings, storage.bays, ctx, refresh),
    canCameras ? retentionSection(cameras, ctx) : null,
    estimateSection({
      liveKbps: recordedKbps(cameras),
      diskBytes: storage.volumes.filter((v) => v.state !== "missing").reduce((sum, v) => sum + (v.total_bytes ?? 0), 0),
      reservePercent: storage.settings.min_free_percent,
    }),
  );
  ctx.every(5000, async () => {
    if (!prepare.running()) await refresh();
  });
}

// What each camera records now (kbit/s): the main stream, and the sub stream if recorded.
function recordedKbps(cameras) {
  const rates = [];
  for (const camera of cameras) {
    if (!camera.enabled || camera.mode === "off") continue;
    const streams = camera.live?.streams ?? {};
    let kbps = streams.main?.bitrate_kbps ?? 0;
    if (camera.record_sub) kbps += streams.sub?.bitrate_kbps ?? 0;
    if (kbps > 0) rates.push(Math.round(kbps));
  }
  return rates;
}

function volumesTable(volumes) {
  const latency = (v) => v.write_latency_ms_p50 === null ? "—"
    : `${v.write_latency_ms_p50.toFixed(1)} ms (p99 ${v.write_latency_ms_p99?.toFixed(1) ?? "—"} ms)`;
  return table([
    ["Volume", (v) => [h("strong", {}, v.name), h("div", { class: "hint" }, v.path)]],
    ["State", (v) => [h("span", { class: v.state === "ready" ? "ok" : ["failed", "stalled", "full"].includes(v.state) ? "bad" : "warn" }, v.state),
      v.reason ? h("div", { class: "hint" }, v.reason) : null]],
    ["Free", (v) => v.total_bytes ? [`${formatBytes(v.free_bytes)} of ${formatBytes(v.total_bytes)}`, usageBar(v)] : "—"],
    ["Group", (v) => String(v.group)],
    ["Streams", (v) => v.streams.length ? v.streams.join(", ") : h("span", { class: "muted" }, "none")],
    ["Write latency", latency],
  ], volumes, { caption: "Volumes", empty: "no volume: prepare a bay disk or configure a recording directory" });
}

function usageBar(volume) {
  const used = (volume.total_bytes - volume.free_bytes) / volume.total_bytes;
  return h("meter", { min: 0, max: 1, value: used, "aria-label": `volume ${volume.name} used`,
    title: `${Math.round(used * 100)} % used` });
}

function baysTable(bays, { history, check }) {
  const smart = (b) => {
    if (!b.identity) return "—";
    const state = b.smart ?? "not checked yet";
    return [h("span", { class: SMART_CLASS[b.smart] ?? "muted" }, state),
      b.smart_summary ? h("div", { class: "hint" }, b.smart_summary) : null,
      h("div", { class: "buttons" },
        h("button", { type: "button", onclick: (e) => history(b, e.currentTarget) }, `SMART history of bay ${b.bay}`),
        h("button", { type: "button", onclick: (e) => check(b, e.currentTarget) }, `Check bay ${b.bay} now`))];
  };
  return table([
    ["Bay", (b) => b.label ? `${b.bay} (${b.label})` : String(b.bay)],
    ["State", (b) => [h("span", { class: b.state === "recording" ? "ok" : b.state === "error" ? "bad" : null, "data-bay-state": b.bay }, BAY_STATES[b.state] ?? b.state),
      b.problem ? h("div", { class: "hint" }, b.problem) : null]],
    ["Disk", (b) => b.identity ? [b.model ?? "disk", h("div", { class: "hint" }, `serial ${b.serial ?? "—"}, ${b.device ?? ""}`)] : "—"],
    ["Size", (b) => formatBytes(b.size_bytes) || "—"],
    ["Filesystem", (b) => b.filesystem ?? "—"],
    ["SMART", smart],
  ], bays, { caption: "Drive bays", empty: "this recorder has no drive bays" });
}

async function showHistory(bay, box, signal) {
  fill(box, h("p", { class: "loading", role: "status" }, `Loading the SMART history of bay ${bay.bay}…`));
  try {
    const answer = await api.get(`/api/v1/storage/bays/${bay.bay}/smart/history?limit=50`, { signal });
    const value = (c, key) => c.values?.[key] ?? "—";
    fill(box, section(`SMART history of bay ${bay.bay}`,
      h("p", { class: "hint" }, `Disk ${answer.identity ?? "—"}; newest first.`),
      h("div", { class: "table-wrap" }, table([
        ["Checked", (c) => formatTime(c.time)],
        ["State", (c) => h("span", { class: SMART_CLASS[c.state] ?? "muted" }, c.state)],
        ["Summary", (c) => c.summary],
        ["Temperature (°C)", (c) => String(value(c, "temperature_c"))],
        ["Reallocated", (c) => String(value(c, "reallocated_sectors"))],
        ["Pending", (c) => String(value(c, "pending_sectors"))],
        ["Problems", (c) => c.reasons.map(([code, severity, v]) => `${code} (${severity}${v === null ? "" : ": " + v})`).join(", ") || "none"],
      ], answer.checks, { empty: "no check stored yet: use “Check now”" })),
      h("button", { type: "button", onclick: () => fill(box) }, "Close the history")));
  } catch (error) {
    if (error.name === "AbortError") return;
    fill(box, h("p", { class: "form-error", role: "alert" }, error.message));
  }
}

// Preparing (formatting) a bay's disk: pick the bay and filesystem, type the bay's word to
// confirm (it names the disk the dialog describes), then progress while the recorder
// works: the request lasts until the disk records, and the bay's state is polled meanwhile.
function prepareSection(storage, ctx, refresh) {
  const bay = field({ label: "Bay to prepare", name: "bay", type: "select", options: [] });
  const filesystem = field({ label: "Filesystem", name: "filesystem", type: "select", value: "ext4",
    options: [["ext4", "ext4"], ["xfs", "xfs"]] });
  const start = h("button", { type: "submit", class: "danger" }, "Prepare disk…");
  const progress = progressBar("Preparing the disk");
  progress.element.hidden = true;
  const form = h("form", { class: "card prepare", noValidate: true },
    h("h3", {}, "Prepare a disk"),
    h("p", { class: "hint" }, "Erases everything on the disk and makes it a recording disk of this recorder."),
    bay, filesystem, h("div", { class: "buttons" }, start), progress.element);
  let bays = storage.bays;
  let running = false;

  function update(current) {
    bays = current;
    const chosen = bay.control.value;
    const withDisk = bays.filter((b) => b.identity);
    fill(bay.control, withDisk.map((b) => h("option", { value: String(b.bay), selected: String(b.bay) === chosen },
      `Bay ${b.bay}: ${b.model ?? "disk"} ${formatBytes(b.size_bytes)} (${BAY_STATES[b.state] ?? b.state})`)));
    if (!withDisk.length) fill(bay.control, h("option", { value: "" }, "no disk in any bay"));
    start.disabled = running || !withDisk.length;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = bays.find((b) => String(b.bay) === bay.control.value);
    if (!target) return;
    const word = `bay${target.bay}`;
    const ok = await confirmAction(
      `This ERASES everything on the disk in bay ${target.bay}: ${target.model ?? "disk"}, serial ${target.serial ?? "—"}, `
      + `${formatBytes(target.size_bytes)}, ${target.device} (identity ${target.identity})${target.state === "recording" ? " — its recordings are lost" : ""}.`,
      { word, action: "Erase and prepare" });
    if (!ok) return;
    running = true;
    progress.element.hidden = false;
    const started = Date.now();
    progress.update(null, `Bay ${target.bay}: starting…`);
    const poll = setInterval(async () => {
      try {
        const now = (await api.get("/api/v1/storage/bays", { signal: ctx.signal })).find((b) => b.bay === target.bay);
        const seconds = Math.round((Date.now() - started) / 1000);
        if (now) progress.update(null, `Bay ${target.bay}: ${BAY_STATES[now.state] ?? now.state} (${seconds} s)`);
      } catch { /* the final answer tells */ }
    }, PREPARE_POLL_MS);
    ctx.signal.addEventListener("abort", () => clearInterval(poll));
    const { value, error } = await busy(start, () => api.post(`/api/v1/storage/bays/${target.bay}/prepare`,
      { confirm: target.identity, filesystem: filesystem.control.value }, { signal: ctx.signal }), { form });
    clearInterval(poll);
    running = false;
    if (error) {
      progress.element.hidden = true;
    } else {
      progress.update(1, `Bay ${target.bay}: prepared (${value.filesystem}), ${BAY_STATES[value.state] ?? value.state}.`);
      notify(`The disk in bay ${target.bay} is prepared.`);
    }
    await refresh().catch(() => {});
  });
  update(bays);
  return { element: form, update, running: () => running };
}

// What happens when the disks are full, the free-space reserve, SMART interval and the
// per-bay group / record settings.
function settingsSection(settings, bays, ctx, refresh) {
  const policy = field({ label: "When the disks are full", name: "full_policy", type: "select", value: settings.full_policy,
    options: [["overwrite", "Overwrite the oldest recordings"], ["stop", "Stop recording"]],
    hint: "Locked recordings are never overwritten." });
  const minFree = field({ label: "Keep free (% of each volume)", name: "min_free_percent", type: "number",
    value: settings.min_free_percent, attributes: { min: 0, max: 50, step: 1, inputmode: "numeric" } });
  const reserve = field({ label: "Keep free (minutes of recording)", name: "reserve_minutes", type: "number",
    value: settings.reserve_minutes, hint: "Whichever of the two is more.",
    attributes: { min: 0, max: 1440, step: 1, inputmode: "numeric" } });
  const smart = field({ label: "SMART check every (minutes)", name: "smart_interval_minutes", type: "number",
    value: settings.smart_interval_minutes, attributes: { min: 5, max: 1440, step: 1, inputmode: "numeric" } });
  const numbers = [...new Set([...bays.map((b) => b.bay), ...settings.bays.map((b) => b.bay)])].sort((a, b) => a - b);
  const perBay = numbers.map((number) => {
    const current = settings.bays.find((b) => b.bay === number) ?? { bay: number, group: 1, record: true };
    return {
      number,
      group: field({ label: `Bay ${number}: storage group`, name: `bays.${number}.group`, type: "number", value: current.group,
        attributes: { min: 1, max: 16, step: 1, inputmode: "numeric" } }),
      record: field({ label: `Bay ${number}: record on it (off: playback only)`, name: `bays.${number}.record`, type: "checkbox", value: current.record }),
    };
  });
  const save = h("button", { type: "submit", class: "primary" }, "Save storage settings");
  const form = h("form", { class: "card", noValidate: true }, policy, minFree, reserve, smart,
    perBay.length ? h("fieldset", { class: "bays" }, h("legend", {}, "Per bay"), perBay.map((b) => h("div", { class: "bay-row" }, b.group, b.record))) : null,
    h("div", { class: "buttons" }, save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      full_policy: policy.control.value,
      min_free_percent: Number(minFree.control.value),
      reserve_minutes: Number(reserve.control.value),
      smart_interval_minutes: Number(smart.control.value),
      bays: perBay.map((b) => ({ bay: b.number, group: Number(b.group.control.value), record: b.record.control.checked })),
    };
    const { error } = await busy(save, () => api.put("/api/v1/storage/settings", body, { signal: ctx.signal }), { form });
    if (!error) {
      notify("Storage settings saved.");
      await refresh().catch(() => {});
    }
  });
  return section("Full disks, free space and bays", form);
}

// How long each channel's recordings are kept (max age) and the most space they may take.
function retentionSection(cameras, ctx) {
  const rows = cameras.map((camera) => ({
    camera,
    age: field({ label: `Channel ${camera.channel}: keep at most (days)`, name: `max_age_days.${camera.channel}`, type: "number",
      value: camera.max_age_days, attributes: { min: 0, max: 3650, step: 1, inputmode: "numeric" } }),
    quota: field({ label: `Channel ${camera.channel}: space quota (GB)`, name: `quota_gb.${camera.channel}`, type: "number",
      value: camera.quota_gb ?? "", attributes: { min: 0, step: "any", inputmode: "decimal" } }),
  }));
  const save = h("button", { type: "submit", class: "primary" }, "Save retention");
  const form = h("form", { class: "card", noValidate: true },
    h("p", { class: "hint" }, "Days: 0 keeps recordings until the space is needed. Quota: empty for none."),
    rows.length ? rows.map((r) => h("div", { class: "retention-row" }, h("strong", {}, `${r.camera.channel}: ${r.camera.name}`), r.age, r.quota))
      : h("p", { class: "muted" }, "No cameras yet."),
    rows.length ? h("div", { class: "buttons" }, save) : null);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(save, async () => {
      let changed = 0;
      for (const row of rows) {
        const age = Number(row.age.control.value);
        const quotaText = row.quota.control.value.trim();
        const quota = quotaText === "" ? null : Number(quotaText);
        if (age === row.camera.max_age_days && quota === (row.camera.quota_gb ?? null)) continue;
        try {
          row.camera = await api.patch(`/api/v1/cameras/${row.camera.channel}`, { max_age_days: age, quota_gb: quota }, { signal: ctx.signal });
        } catch (error) {
          error.details = (error.details ?? []).map((d) => ({ ...d, field: `${String(d.field ?? "").split(".").pop()}.${row.camera.channel}` }));
          throw error;
        }
        changed += 1;
      }
      notify(changed ? `Retention saved for ${changed} channel(s).` : "Nothing changed.");
    }, { form });
  });
  return section("How long recordings are kept", form);
}
