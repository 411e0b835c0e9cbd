// Step 4: the drive bays (state, disk, size, SMART) with "Prepare" for a blank or foreign
// disk, and the recording volumes. Preparing erases the disk, so it is confirmed by
// typing the disk's device name, which the API wants as proof that the disk meant is the
// one in the bay (POST /api/v1/storage/bays/N/prepare {confirm}).

import { api } from "../../api.js";
import { h, fill, table, busy, notify, progressBar, confirmAction, formatBytes } from "../../ui.js";
import { every } from "./common.js";

export const title = "Disks";

const STATES = {
  empty: "empty", blank: "blank disk: prepare it", foreign: "disk from elsewhere: prepare it (erases it)",
  mounting: "mounting…", preparing: "preparing…", recording: "recording", mounted: "mounted, playback only",
  unmounted: "unmounted: safe to pull", error: "error",
};
const PREPARABLE = new Set(["blank", "foreign", "error", "mounted", "unmounted"]);

export async function render(panel, ctx, signal, wizard) {
  const baysArea = h("div", { class: "table-wrap" });
  const volumesArea = h("div", { class: "table-wrap" });
  const running = new Map(); // bay -> {progress, error}

  async function loadBays() {
    let bays;
    try {
      bays = await api.get("/api/v1/storage/bays", { signal });
    } catch (error) {
      if (error?.name === "AbortError") throw error;
      fill(baysArea, h("p", { class: "muted" }, `No drive bays to show: ${error.message}`));
      return;
    }
    fill(baysArea, table([
      ["Bay", (b) => b.label ? `${b.bay} (${b.label})` : String(b.bay)],
      ["State", (b) => h("span", { class: b.state === "error" ? "bad" : b.state === "recording" ? "ok" : "" },
        STATES[b.state] ?? b.state, b.problem ? `: ${b.problem}` : "")],
      ["Disk", (b) => [b.model ?? "", b.serial ? h("span", { class: "muted" }, ` ${b.serial}`) : ""]],
      ["Size", (b) => formatBytes(b.size_bytes)],
      ["SMART", (b) => b.smart ? h("span", { class: { ok: "ok", warning: "warn", failing: "bad" }[b.smart] ?? "" },
        b.smart, b.smart_summary ? ` (${b.smart_summary})` : "") : ""],
      ["", (b) => bayAction(b)],
    ], bays, { caption: "Drive bays", empty: "this recorder has no drive bays" }));
  }

  function bayAction(bay) {
    const state = running.get(bay.bay);
    const parts = [];
    if (state?.progress) parts.push(state.progress.element);
    if (state?.error) parts.push(h("p", { class: "error", role: "alert" }, state.error));
    if (bay.identity && PREPARABLE.has(bay.state) && !state?.progress) {
      const button = h("button", { type: "button", "aria-label": `Prepare the disk in bay ${bay.bay}` }, "Prepare");
      button.addEventListener("click", () => prepare(bay, button));
      parts.push(button);
    }
    return parts;
  }

  async function prepare(bay, button) {
    const word = bay.device ?? bay.identity;
    const ok = await confirmAction(
      `Prepare the disk in bay ${bay.bay} (${bay.model ?? "disk"}, ${formatBytes(bay.size_bytes)}) as a `
      + "recording disk? Everything on it is erased.", { word, action: "Erase and prepare" });
    if (!ok) return;
    const progress = progressBar(`Preparing bay ${bay.bay}`);
    progress.update(null, "erasing and formatting: a large disk takes minutes");
    running.set(bay.bay, { progress });
    await loadBays();
    // Not tied to the step's signal: the recorder goes on preparing whatever the page
    // does, and a dropped request must not look like a failure.
    const request = busy(button, () => api.post(`/api/v1/storage/bays/${bay.bay}/prepare`, { confirm: word }), { report: false });
    const { error } = await wizard.hold(request);
    running.set(bay.bay, error ? { error: `Preparing failed: ${error.message}` } : {});
    if (!error) notify(`The disk in bay ${bay.bay} is ready to record on.`);
    if (!signal.aborted) await Promise.all([loadBays(), loadVolumes()]);
  }

  async function loadVolumes() {
    let storage;
    try {
      storage = await api.get("/api/v1/storage", { signal });
    } catch (error) {
      if (error?.name === "AbortError") throw error;
      fill(volumesArea, h("p", { class: "form-error", role: "alert" }, `The volumes could not be read: ${error.message}`));
      return;
    }
    const writable = storage.volumes.filter((v) => v.state === "ready");
    fill(volumesArea,
      table([
        ["Volume", (v) => v.name],
        ["Where", (v) => h("code", {}, v.path)],
        ["State", (v) => h("span", { class: v.state === "ready" ? "ok" : "bad" }, v.state, v.reason ? `: ${v.reason}` : "")],
        ["Free", (v) => v.total_bytes ? `${formatBytes(v.free_bytes)} of ${formatBytes(v.total_bytes)}` : ""],
      ], storage.volumes, { caption: "Recording volumes", empty: "no recording volume yet" }),
      h("p", { class: writable.length ? "ok" : "warn", role: "status" }, writable.length
        ? `${writable.length} volume${writable.length === 1 ? "" : "s"} ready to record on.`
        : "Nothing to record on yet: prepare a disk above."));
  }

  await Promise.all([loadBays(), loadVolumes()]);
  every(signal, 3000, async () => {
    if ([...running.values()].some((s) => s.progress)) await loadBays();
  });
  panel.append(baysArea, volumesArea);
  return { save: async () => true };
}
