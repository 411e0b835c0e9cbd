// System: what this recorder is, and — each part only with its right — its time
// ("system"), its network ("network"), the audit log ("log_view") and maintenance
// (export/import, support bundle, restore defaults, restart). The parts live in
// pages/system/*.js; this module lays them out.

import { api } from "../api.js";
import { fill, formatDuration, h, section } from "../ui.js";
import { showLogs } from "./system/logs.js";
import { showMaintenance } from "./system/maintenance.js";
import { showNetwork } from "./system/network.js";
import { showTime } from "./system/time.js";

export const title = "System";

function failed(box, error) {
  if (error?.name === "AbortError") throw error;
  fill(box, h("p", { class: "form-error", role: "alert" }, error.message ?? String(error)));
}

export async function show(main, ctx) {
  const can = (right) => ctx.session.can(right);
  const device = h("div");
  const parts = [section("This recorder", device)];
  const loads = [];
  const part = (right, heading, render) => {
    if (!can(right)) return;
    const box = h("div");
    parts.push(section(heading, box));
    loads.push(render(box, ctx).catch((error) => failed(box, error)));
  };
  part("system", "Time", showTime);
  part("network", "Network", showNetwork);
  part("log_view", "Log", showLogs);
  const maintenance = h("div");
  if (["import_export", "system", "restore_defaults", "reboot"].some(can)) {
    parts.push(section("Maintenance", maintenance));
    showMaintenance(maintenance, ctx);
  }
  main.append(h("h1", {}, title), ...parts);
  loads.push(api.get("/api/v1/system", { signal: ctx.signal }).then((info) => fill(device, h("dl", { class: "facts" },
    h("dt", {}, "Name"), h("dd", {}, info.name),
    h("dt", {}, "Model"), h("dd", {}, info.model ?? info.board_description),
    h("dt", {}, "Firmware"), h("dd", {}, info.version),
    h("dt", {}, "Host name"), h("dd", {}, info.hostname),
    h("dt", {}, "Running for"), h("dd", {}, formatDuration(info.uptime_seconds)))))
    .catch((error) => failed(device, error)));
  await Promise.all(loads);
}
