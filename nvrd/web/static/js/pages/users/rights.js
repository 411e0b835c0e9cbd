// A rights editor: system rights as checkboxes, channel rights on every channel, and
// extra channel rights per channel (the shape of the API's RightsModel,
// nvrd/web/routes/accounts.py). `value()` gives the rights as the API takes them.

import { h } from "../../ui.js";

export const SYSTEM_RIGHTS = [
  ["camera", "Cameras and channels"],
  ["network", "Network"],
  ["storage", "Storage (disks, format, retention)"],
  ["events", "Event and alarm rules"],
  ["system", "Name, time, NTP"],
  ["security", "Security (certificates, lockout)"],
  ["accounts", "Users and groups"],
  ["upgrade", "Firmware upgrade"],
  ["restore_defaults", "Restore defaults"],
  ["import_export", "Configuration export and import"],
  ["log_view", "View logs"],
  ["log_clear", "Clear logs"],
  ["reboot", "Reboot and shut down"],
  ["backup", "Backup and bulk export"],
  ["ptz", "PTZ configuration"],
  ["alarm_output", "Alarm relays by hand"],
];
export const CHANNEL_RIGHTS = [
  ["live", "Live"], ["playback", "Playback"], ["ptz", "PTZ control"], ["export", "Export"],
];

const SYSTEM_LABELS = new Map(SYSTEM_RIGHTS);
const CHANNEL_LABELS = new Map(CHANNEL_RIGHTS);

// The rights in a few words ("Live, Playback on all channels; Cameras, Storage").
export function describeRights(rights) {
  const parts = [];
  if (rights.all_channels.length) {
    parts.push(rights.all_channels.map((r) => CHANNEL_LABELS.get(r) ?? r).join(", ") + " on all channels");
  }
  for (const [channel, list] of Object.entries(rights.channels ?? {})) {
    parts.push(list.map((r) => CHANNEL_LABELS.get(r) ?? r).join(", ") + ` on channel ${channel}`);
  }
  if (rights.system.length) parts.push(rights.system.map((r) => SYSTEM_LABELS.get(r) ?? r).join(", "));
  return parts.join("; ") || "no rights";
}

function checkbox(label, checked, name) {
  const input = h("input", { type: "checkbox", checked, name });
  return { input, element: h("label", { class: "check" }, input, " ", label) };
}

// `rights`: the current value; `channels`: channel numbers to offer per-channel rights
// for; `prefix`: names the fieldsets (several editors on one page stay apart).
export function rightsEditor(rights, channels, { legend = "Rights" } = {}) {
  const system = new Map();
  const all = new Map();
  const perChannel = new Map();
  const numbers = [...new Set([...channels, ...Object.keys(rights.channels ?? {}).map(Number)])].sort((a, b) => a - b);
  const systemBoxes = SYSTEM_RIGHTS.map(([right, label]) => {
    const box = checkbox(label, rights.system.includes(right), "rights.system");
    system.set(right, box.input);
    return box.element;
  });
  const allBoxes = CHANNEL_RIGHTS.map(([right, label]) => {
    const box = checkbox(label, rights.all_channels.includes(right), "rights.all_channels");
    all.set(right, box.input);
    return box.element;
  });
  const rows = numbers.map((channel) => {
    const have = (rights.channels ?? {})[String(channel)] ?? [];
    const cells = CHANNEL_RIGHTS.map(([right, label]) => {
      const input = h("input", { type: "checkbox", checked: have.includes(right),
                                 "aria-label": `${label} on channel ${channel}` });
      perChannel.set(`${channel}:${right}`, input);
      return h("td", {}, input);
    });
    return h("tr", {}, h("th", { scope: "row" }, `Channel ${channel}`), cells);
  });
  const element = h("fieldset", { class: "rights" },
    h("legend", {}, legend),
    h("fieldset", {}, h("legend", {}, "System rights"), h("div", { class: "check-grid" }, systemBoxes)),
    h("fieldset", {}, h("legend", {}, "On every channel (also channels added later)"),
      h("div", { class: "check-grid" }, allBoxes)),
    numbers.length ? h("div", { class: "table-wrap" }, h("table", { class: "channel-rights" },
      h("caption", {}, "Extra rights on single channels"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Channel"),
        CHANNEL_RIGHTS.map(([, label]) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, rows))) : null);
  return {
    element,
    value() {
      const channelsOut = {};
      for (const channel of numbers) {
        const list = CHANNEL_RIGHTS.map(([r]) => r)
          .filter((right) => perChannel.get(`${channel}:${right}`).checked && !all.get(right).checked);
        if (list.length) channelsOut[channel] = list;
      }
      return {
        system: [...system].filter(([, input]) => input.checked).map(([right]) => right),
        all_channels: [...all].filter(([, input]) => input.checked).map(([right]) => right),
        channels: channelsOut,
      };
    },
  };
}
