// The record-time estimate with the recorder manual's formula (Appendix 1, reference
// nvr-manual-3 §1.6), so an installer can size the disks before buying them and check how
// long the disks in the box hold at the cameras' real bitrates:
//
//   (1) q = d / 8 × 3600 / 1024          MB per hour per channel, d = bitrate in kbit/s
//   (2) m = q × h × D                     MB per channel, h = hours recorded per day, D = days
//   (3) total = Σ m                       continuous (scheduled) recording
//   (4) total = Σ m × a%                  event recording, a% = the share of time with events
//
// MB here is the manual's: 1024 × 1024 bytes (its worked example: 4096 kbit/s → 1800 MB/h,
// 24 h × 30 d → 1,296,000 MB ≈ 1.24 TiB). Disks are sold in decimal GB/TB: a disk's size is
// converted to those MB before dividing.

import { h, field, section } from "../../ui.js";

const MIB = 1024 * 1024;

// (1): MB per hour of one channel at `kbps`.
export function megabytesPerHour(kbps) {
  return (kbps / 8) * 3600 / 1024;
}

// (2)-(4): MB needed for `channels` channels at `kbps` each, `hours` a day, `days` days,
// recording `share` (0..1) of the time (1: continuous).
export function megabytesNeeded({ kbps, channels, hours, days, share = 1 }) {
  return megabytesPerHour(kbps) * hours * days * channels * share;
}

// The days `diskBytes` (less the reserve kept free) holds, the inverse of (2)-(4).
export function daysHeld({ kbps, channels, hours, share = 1, diskBytes, reservePercent = 0 }) {
  const perDay = megabytesPerHour(kbps) * hours * channels * share;
  if (!(perDay > 0)) return null;
  return usableMegabytes(diskBytes, reservePercent) / perDay;
}

export function usableMegabytes(diskBytes, reservePercent = 0) {
  return Math.max(0, diskBytes * (1 - reservePercent / 100)) / MIB;
}

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const twoDecimals = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

// "1,296,000 MB (1.24 TiB)"
export function formatMegabytes(mb) {
  const tib = mb / (1024 * 1024);
  const gib = mb / 1024;
  const big = tib >= 1 ? `${twoDecimals.format(tib)} TiB` : `${oneDecimal.format(gib)} GiB`;
  return `${number.format(Math.round(mb))} MB (${big})`;
}

// The section of the storage page: inputs defaulted from the live bitrates (`liveKbps`:
// per recording channel) and the real disks (`diskBytes`), outputs recomputed on every
// change. `reservePercent`: what the storage keeps free (storage.min_free_percent).
export function estimateSection({ liveKbps, diskBytes, reservePercent }) {
  const average = liveKbps.length ? liveKbps.reduce((a, b) => a + b, 0) / liveKbps.length : 0;
  const kbps = field({ label: "Bitrate per channel (kbit/s)", name: "estimate_kbps", type: "number",
    value: average > 0 ? Math.round(average) : 4096,
    hint: liveKbps.length
      ? `Live now: ${liveKbps.map((v) => number.format(v)).join(", ")} kbit/s (what each channel records, main + sub).`
      : "No camera delivers now: 4096 kbit/s is a typical 4 MP main stream.",
    attributes: { min: 1, max: 100000, step: 1, inputmode: "numeric" } });
  const channels = field({ label: "Channels", name: "estimate_channels", type: "number",
    value: Math.max(1, liveKbps.length), attributes: { min: 1, max: 256, step: 1, inputmode: "numeric" } });
  const hours = field({ label: "Hours recorded per day", name: "estimate_hours", type: "number", value: 24,
    attributes: { min: 0, max: 24, step: 0.5, inputmode: "decimal" } });
  const mode = field({ label: "Recording", name: "estimate_mode", type: "select", value: "continuous",
    options: [["continuous", "Continuous (scheduled)"], ["event", "On events only (motion, alarm)"]] });
  const share = field({ label: "Share of time with events (%)", name: "estimate_share", type: "number", value: 20,
    hint: "The manual's a%: how much of the recording hours has motion or alarms.",
    attributes: { min: 1, max: 100, step: 1, inputmode: "numeric" } });
  const days = field({ label: "Days to keep", name: "estimate_days", type: "number", value: 30,
    attributes: { min: 1, max: 3650, step: 1, inputmode: "numeric" } });
  const disk = field({ label: "Disk space (GB, as sold)", name: "estimate_disk_gb", type: "number",
    value: diskBytes > 0 ? Math.round(diskBytes / 1e9) : 2000,
    hint: diskBytes > 0 ? `The recording disks in the box: ${number.format(diskBytes / 1e9)} GB.` : "No recording disk yet: 2000 GB assumed.",
    attributes: { min: 1, max: 1000000, step: 1, inputmode: "numeric" } });

  const perHour = h("output", { "data-estimate": "per-hour" });
  const needed = h("output", { "data-estimate": "needed" });
  const held = h("output", { "data-estimate": "held" });
  const working = h("p", { class: "hint estimate-working" });
  const results = h("dl", { class: "estimate-results", "aria-live": "polite" },
    h("dt", {}, "Per channel and hour"), h("dd", {}, perHour),
    h("dt", {}, "Space needed for the days to keep"), h("dd", {}, needed),
    h("dt", {}, "The disk space holds"), h("dd", {}, held));

  const value = (f) => Number(f.control.value);
  function update() {
    share.hidden = mode.control.value !== "event";
    const input = {
      kbps: value(kbps), channels: value(channels), hours: value(hours), days: value(days),
      share: mode.control.value === "event" ? value(share) / 100 : 1,
    };
    const valid = [input.kbps, input.channels, input.hours, input.days, input.share].every((v) => Number.isFinite(v) && v >= 0);
    if (!valid) {
      for (const out of [perHour, needed, held]) out.value = "—";
      return;
    }
    const q = megabytesPerHour(input.kbps);
    const total = megabytesNeeded(input);
    const diskTotal = value(disk) * 1e9;
    const holds = daysHeld({ ...input, diskBytes: diskTotal, reservePercent });
    perHour.value = `${oneDecimal.format(q)} MB`;
    needed.value = formatMegabytes(total);
    held.value = holds === null ? "—" : `${oneDecimal.format(holds)} days`
      + (holds < input.days ? ` — less than the ${number.format(input.days)} days to keep` : "");
    held.classList.toggle("bad", holds !== null && holds < input.days);
    working.textContent = `q = ${number.format(input.kbps)} / 8 × 3600 / 1024 = ${oneDecimal.format(q)} MB/h; `
      + `${oneDecimal.format(q)} × ${input.hours} h × ${input.days} d × ${input.channels} channel(s)`
      + (input.share < 1 ? ` × ${Math.round(input.share * 100)} %` : "")
      + ` = ${number.format(Math.round(total))} MB. The disks keep ${reservePercent} % free (storage setting), `
      + `so ${formatMegabytes(usableMegabytes(diskTotal, reservePercent))} of ${number.format(value(disk))} GB record.`;
  }
  const form = h("form", { class: "card estimate", noValidate: true, oninput: update, onchange: update,
    onsubmit: (event) => event.preventDefault() },
  h("div", { class: "estimate-inputs" }, kbps, channels, hours, mode, share, days, disk),
  results, working);
  update();
  return section("Record-time estimate",
    h("p", { class: "hint" }, "The manual's formula: MB per hour = bitrate (kbit/s) ÷ 8 × 3600 ÷ 1024; "
      + "space = MB per hour × hours per day × days × channels (× the share of time with events)."),
    form);
}
