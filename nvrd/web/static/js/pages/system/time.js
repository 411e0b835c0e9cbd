// The recorder's time (right "system"): time zone, NTP servers and how often they are
// asked, "sync now", and setting the clock by hand (only while NTP is off: it would be
// undone). /api/v1/system/time in nvrd/web/routes/system.py.

import { api } from "../../api.js";
import { busy, field, fill, formatTime, h, notify } from "../../ui.js";

function zones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
}

function syncWords(sync) {
  if (!sync) return "not checked since the recorder started";
  if (sync.error) return `${formatTime(sync.time)}: ${sync.error}`;
  const off = sync.offset_ms === null ? "" : `, off by ${sync.offset_ms.toFixed(1)} ms`;
  return `${formatTime(sync.time)} from ${sync.server}${off}${sync.stepped ? " (clock set)" : ""}`;
}

// Fills `box`; resolves once the time is shown.
export async function showTime(box, { signal }) {
  const state = await api.get("/api/v1/system/time", { signal });
  render(state);

  function render(time) {
    const list = "tz-list-" + Math.random().toString(36).slice(2);
    const zone = field({ label: "Time zone", name: "timezone", value: time.timezone,
                         attributes: { autocomplete: "off" }, hint: "e.g. Europe/Berlin, America/New_York" });
    zone.control.setAttribute("list", list);
    const enabled = field({ label: "Set the clock from NTP servers", name: "ntp.enabled", type: "checkbox", value: time.ntp.enabled });
    const servers = field({ label: "NTP servers", name: "ntp.servers", value: time.ntp.servers.join(" "),
                           hint: "Up to 4, separated by spaces: host or host:port, asked in this order." });
    const interval = field({ label: "Check every (minutes)", name: "ntp.interval_minutes", type: "number",
                             value: time.ntp.interval_minutes, attributes: { min: 1, max: 10080, inputmode: "numeric" } });
    const save = h("button", { type: "submit", class: "primary" }, "Save time settings");
    const form = h("form", { class: "narrow", noValidate: true },
      zone, h("datalist", { id: list }, zones().map((z) => h("option", { value: z }))),
      enabled, servers, interval, h("div", { class: "buttons" }, save));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { error, value } = await busy(save, () => api.put("/api/v1/system/time", {
        timezone: zone.control.value.trim(),
        ntp: { enabled: enabled.control.checked,
               servers: servers.control.value.split(/[\s,]+/).filter(Boolean),
               interval_minutes: Number(interval.control.value) },
      }), { form });
      if (error) return;
      notify("Time settings saved.");
      render(value);
    });

    const syncButton = h("button", { type: "button" }, "Sync now");
    const syncResult = h("p", { role: "status" });
    syncButton.addEventListener("click", async () => {
      const { error, value } = await busy(syncButton, () => api.post("/api/v1/system/time/sync"), { report: false });
      syncResult.className = error ? "error" : "";
      fill(syncResult, error ? error.message : syncWords(value));
    });

    const manual = field({ label: "New time (this browser's time zone)", name: "utc", type: "datetime-local",
                           attributes: { step: 1 } });
    const setButton = h("button", { type: "submit" }, "Set the clock");
    const setForm = h("form", { class: "narrow", noValidate: true }, manual,
      h("div", { class: "buttons" }, setButton,
        h("button", { type: "button", class: "link", onclick: () => { manual.control.value = localInput(new Date()); } },
          "Use this computer's time")));
    setForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { error, value } = await busy(setButton, async () => {
        if (!manual.control.value) throw new Error("Enter the new date and time.");
        return api.post("/api/v1/system/time/set", { utc: new Date(manual.control.value).toISOString() });
      }, { form: setForm });
      if (error) return;
      notify(`The clock is set (moved by ${(value.step_ms / 1000).toFixed(1)} s).`);
      render(await api.get("/api/v1/system/time", { signal }));
    });

    fill(box,
      h("dl", { class: "facts" },
        h("dt", {}, "Recorder time"), h("dd", {}, `${time.local.replace("T", " ").slice(0, 19)} (${time.timezone})`),
        h("dt", {}, "Last NTP check"), h("dd", { class: time.sync_overdue ? "warn" : "" },
          syncWords(time.last_sync), time.sync_overdue ? " — overdue: no server answered lately" : ""),
        time.os_ntp_clients.length ? [h("dt", {}, "Also setting the clock"),
          h("dd", { class: "warn" }, `${time.os_ntp_clients.join(", ")}: turn them off, they fight over the clock`)] : null),
      form,
      h("div", { class: "buttons" }, syncButton), syncResult,
      h("h3", {}, "Set the clock by hand"),
      time.ntp.enabled ? h("p", { class: "hint" }, "Turn NTP off first: it would undo a time set by hand.") : null,
      setForm);
  }
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
