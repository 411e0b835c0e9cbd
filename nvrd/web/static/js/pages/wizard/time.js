// Step 2: the time zone (schedules and shown times follow it) and NTP, with the
// recorder's clock as it runs (GET/PUT /api/v1/system/time).

import { api } from "../../api.js";
import { h, field, showErrors, formatTime } from "../../ui.js";
import { every, errorsUnder } from "./common.js";

export const title = "Time";

function zones(current) {
  let names = [];
  try {
    names = Intl.supportedValuesOf("timeZone");
  } catch {
    // an old browser: the recorder's own zone and UTC
  }
  return [...new Set([current, "UTC", ...names])].sort((a, b) => a.localeCompare(b));
}

function clockText(moment, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short",
    }).format(moment);
  } catch {
    return moment.toISOString();
  }
}

export async function render(panel, ctx, signal, wizard) {
  const data = await api.get("/api/v1/system/time", { signal });
  // The recorder's clock, run on from the moment it was read.
  const offset = Date.parse(data.utc) - Date.now();
  const zone = field({ label: "Time zone", name: "timezone", type: "select", value: data.timezone,
    options: zones(data.timezone).map((name) => [name, name.replaceAll("_", " ")]),
    hint: "Recording schedules and every time shown follow it." });
  const ntp = field({ label: "Set the clock from NTP servers", name: "ntp.enabled", type: "checkbox", value: data.ntp.enabled });
  const servers = field({ label: "NTP servers", name: "ntp.servers", value: data.ntp.servers.join(", "),
    hint: "host or host:port, up to 4, separated by commas; asked in this order" });
  const clock = h("output", { class: "wizard-clock", "aria-label": "The recorder's clock" });
  const drift = h("p", { class: "hint" });
  const tick = () => { clock.textContent = clockText(new Date(Date.now() + offset), zone.control.value); };
  tick();
  every(signal, 1000, async () => tick());
  zone.control.addEventListener("change", tick);
  if (Math.abs(offset) > 5000) {
    drift.textContent = `This computer's clock differs from the recorder's by ${Math.round(Math.abs(offset) / 1000)} s.`;
  }
  const last = data.last_sync;
  const synced = last ? (last.error ? `Last NTP check (${formatTime(last.time)}): ${last.error}`
    : `Last NTP check (${formatTime(last.time)}): ${last.server}, off by ${last.offset_ms} ms.`) : null;
  const toggle = () => { servers.hidden = !ntp.control.checked && !servers.control.value; };
  ntp.control.addEventListener("change", toggle);
  toggle();

  const form = h("form", { class: "card narrow", noValidate: true },
    h("p", {}, "The recorder's clock: ", clock), drift, zone, ntp, servers,
    synced ? h("p", { class: "hint" }, synced) : null,
    data.os_ntp_clients?.length ? h("p", { class: "warn" },
      `The operating system runs its own NTP client too (${data.os_ntp_clients.join(", ")}): turn one of them off.`) : null);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    wizard.next();
  });
  panel.append(form);

  return {
    async save() {
      const body = {
        timezone: zone.control.value,
        ntp: { enabled: ntp.control.checked, servers: servers.control.value.split(/[\s,]+/).filter(Boolean) },
      };
      try {
        await api.put("/api/v1/system/time", body);
      } catch (error) {
        showErrors(form, error);
        if (errorsUnder(error, "ntp.servers", servers.control)) {
          // said next to the servers: the box need not say it again
          const elsewhere = [...error.fields().keys()].filter((name) => !`.${name}.`.includes(".ntp.servers."));
          if (!elsewhere.length) form.querySelector(":scope > .form-error").hidden = true;
          servers.control.focus();
        }
        return false;
      }
      return true;
    },
  };
}
