// Cameras: the channel list (name, address, streams, online, recording — refreshed every
// few seconds), a channel's settings (name, enabled, stream URLs and transports, account),
// removing a channel, adding cameras (search, by address, by RTSP URL) and the camera list
// as CSV (export, import with a report per row).
//
// Route parameter: ?channel=N opens that channel's settings.

import { api } from "../api.js";
import { h, field, fill, busy, notify, confirmAction, section, formatTime, errorBox } from "../ui.js";
import { addCamera } from "./cameras/add.js";
import { csvSection } from "./cameras/csv.js";

export const title = "Cameras";

const REFRESH_MS = 3000;

export async function show(main, ctx) {
  const { signal } = ctx;
  const state = { cameras: await api.get("/api/v1/cameras", { signal }), editing: null, shown: "" };
  const list = h("div", { class: "table-wrap" });
  const updated = h("p", { class: "hint" });
  const editArea = h("div");

  async function refresh() {
    state.cameras = await api.get("/api/v1/cameras", { signal });
    renderList();
  }

  function renderList() {
    // The rows are rebuilt only when channels come or go or are renamed; otherwise only
    // their status cells change (keyboard focus on a row's button stays where it is).
    const shape = state.cameras.map((c) => `${c.channel}:${c.name}:${c.enabled}`).join("|");
    if (shape !== state.shown) {
      state.shown = shape;
      fill(list, cameraTable(state.cameras, { edit, remove }));
    }
    for (const camera of state.cameras) {
      const row = list.querySelector(`tr[data-channel="${camera.channel}"]`);
      if (!row) continue;
      fill(row.querySelector(".c-address"), address(camera));
      fill(row.querySelector(".c-streams"), streams(camera));
      fill(row.querySelector(".c-online"), onlineBadge(camera));
      fill(row.querySelector(".c-recording"), recordingBadge(camera));
    }
    updated.textContent = `Status as of ${formatTime(Date.now(), { date: false })}.`;
  }

  function edit(channel) {
    const camera = state.cameras.find((c) => c.channel === channel);
    if (!camera) return;
    state.editing = channel;
    ctx.setParams({ channel });
    fill(editArea, editForm(camera, ctx, {
      saved(changed) {
        replace(state, changed);
        renderList();
        notify(`Channel ${changed.channel} saved.`);
        edit(changed.channel);
      },
      close() {
        state.editing = null;
        ctx.setParams({});
        fill(editArea);
        list.querySelector(`tr[data-channel="${channel}"] button`)?.focus();
      },
    }));
    editArea.querySelector("input")?.focus();
  }

  async function remove(channel) {
    const camera = state.cameras.find((c) => c.channel === channel);
    if (!camera) return;
    const yes = await confirmAction(`Remove channel ${channel} (${camera.name})? Its recordings stay on the disks until `
      + "retention deletes them.", { action: "Remove channel" });
    if (!yes) return;
    try {
      await api.delete(`/api/v1/cameras/${channel}`, { signal });
    } catch (error) {
      if (error.name !== "AbortError") notify(`Channel ${channel} was not removed: ${error.message}`, "error");
      return;
    }
    notify(`Channel ${channel} removed.`);
    if (state.editing === channel) {
      state.editing = null;
      ctx.setParams({});
      fill(editArea);
    }
    await refresh();
  }

  main.append(
    h("h1", {}, "Cameras"),
    section("Channels", list, updated, editArea),
    section("Add a camera", addCamera(ctx, async (camera) => {
      notify(`Camera added on channel ${camera.channel} (${camera.name}).`);
      await refresh();
    })),
    section("Camera list file", csvSection(ctx, async () => refresh())));
  renderList();
  const wanted = Number(ctx.params.get("channel"));
  if (wanted) edit(wanted);
  ctx.every(REFRESH_MS, refresh);
}

function replace(state, camera) {
  const index = state.cameras.findIndex((c) => c.channel === camera.channel);
  if (index >= 0) state.cameras[index] = camera;
  else state.cameras.push(camera);
}

// --- the list ------------------------------------------------------------------------------

function cameraTable(cameras, { edit, remove }) {
  const head = ["Channel", "Name", "Address", "Streams", "Online", "Recording", "Actions"];
  return h("table", { class: "cameras" },
    h("caption", { class: "sr-label" }, "Channels"),
    h("thead", {}, h("tr", {}, head.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, cameras.length ? cameras.map((c) => h("tr", { "data-channel": String(c.channel) },
      h("td", {}, String(c.channel)),
      h("td", {}, c.name),
      h("td", { class: "c-address" }),
      h("td", { class: "c-streams" }),
      h("td", { class: "c-online" }),
      h("td", { class: "c-recording" }),
      h("td", { class: "actions" },
        h("button", { type: "button", "aria-label": `Edit channel ${c.channel} (${c.name})`, onclick: () => edit(c.channel) }, "Edit"),
        h("button", { type: "button", class: "link danger-link", "aria-label": `Remove channel ${c.channel} (${c.name})`,
          onclick: () => remove(c.channel) }, "Remove"))))
      : h("tr", {}, h("td", { colspan: head.length, class: "empty" }, "No cameras yet: add one below."))));
}

// The host (and port) a camera is reached at: its ONVIF service, else its main stream.
export function address(camera) {
  if (camera.onvif) return `${camera.onvif.host}:${camera.onvif.port}`;
  const match = /^[a-z]+:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^/:?#]+)(?::(\d+))?/i.exec(camera.main?.url ?? "");
  return match ? (match[2] ? `${match[1]}:${match[2]}` : match[1]) : "—";
}

function streams(camera) {
  const live = camera.live?.streams ?? {};
  if (!camera.enabled) return h("span", { class: "muted" }, "not connected (disabled)");
  const names = ["main", "sub"].filter((name) => camera[name]);
  return names.map((name) => {
    const s = live[name];
    const facts = s && s.online
      ? [s.codec?.toUpperCase(), s.width && s.height ? `${s.width}×${s.height}` : null, s.fps ? `${Math.round(s.fps)} fps` : null,
         s.bitrate_kbps ? `${Math.round(s.bitrate_kbps)} kb/s` : null].filter(Boolean).join(" ")
      : (s?.last_error ? `no video: ${s.last_error}` : "no video");
    return h("div", {}, h("span", { class: "muted" }, `${name}: `), facts);
  });
}

function onlineBadge(camera) {
  if (!camera.enabled) return h("span", { class: "badge muted" }, "disabled");
  return camera.live?.online ? h("span", { class: "badge online" }, "online") : h("span", { class: "badge offline" }, "offline");
}

function recordingBadge(camera) {
  const live = camera.live ?? {};
  const mode = { auto: "by schedule", manual: "always", off: "off" }[camera.mode] ?? camera.mode;
  return [live.recording ? h("span", { class: "badge recording" }, "recording") : h("span", { class: "badge muted" }, "not recording"),
    " ", h("span", { class: "muted" }, `(${mode})`)];
}

// --- a channel's settings ------------------------------------------------------------------

function editForm(camera, ctx, { saved, close }) {
  const name = field({ label: "Name", name: "name", value: camera.name, attributes: { maxLength: 64 } });
  const enabled = field({ label: "Enabled (the channel is connected and recorded)", name: "enabled", type: "checkbox", value: camera.enabled });
  const transports = [["", "default (as the recorder's setting)"], ["tcp", "TCP"], ["udp", "UDP"]];
  const mainUrl = field({ label: "Main stream URL", name: "main.url", value: camera.main.url,
    hint: "A password in the URL is shown as ***; retype the URL with it to change it.", attributes: { autocomplete: "off", inputmode: "url" } });
  const mainTransport = field({ label: "Main stream transport", name: "main.transport", type: "select", value: camera.main.transport ?? "", options: transports });
  const subUrl = field({ label: "Sub stream URL", name: "sub.url", value: camera.sub?.url ?? "",
    hint: "Empty: no sub stream.", attributes: { autocomplete: "off", inputmode: "url" } });
  const subTransport = field({ label: "Sub stream transport", name: "sub.transport", type: "select", value: camera.sub?.transport ?? "", options: transports });
  const recordSub = field({ label: "Record the sub stream too (fast scrubbing, phone playback)", name: "record_sub", type: "checkbox", value: camera.record_sub });
  const username = field({ label: "User name", name: "username", value: camera.username, attributes: { autocomplete: "off" } });
  const password = field({ label: "Password", name: "password", type: "password",
    hint: camera.password ? "A password is set: leave empty to keep it." : "No password is set.", attributes: { autocomplete: "new-password" } });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const cancel = h("button", { type: "button", onclick: close }, "Close");
  const liveFacts = liveTable(camera);
  const form = h("form", { class: "card edit-camera", "aria-label": `Channel ${camera.channel} settings` }, errorBox(),
    h("h3", {}, `Channel ${camera.channel}: ${camera.name}`),
    camera.onvif ? h("p", { class: "muted" }, `ONVIF camera ${[camera.onvif.manufacturer, camera.onvif.model].filter(Boolean).join(" ")} at `
      + `${camera.onvif.host}:${camera.onvif.port}${camera.onvif.mac ? `, MAC ${camera.onvif.mac}` : ""}.`) : null,
    h("div", { class: "grid" },
      h("div", {}, name, enabled, username, password),
      h("fieldset", {}, h("legend", {}, "Streams"), mainUrl, mainTransport, subUrl, subTransport, recordSub)),
    liveFacts,
    h("p", { class: "hint" }, "Recording mode, schedule and pre/post-record times: ",
      h("a", { href: `#/settings/recording?channel=${camera.channel}` }, "recording settings"), "."),
    h("div", { class: "buttons" }, save, cancel));
  form.noValidate = true;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    const newName = name.control.value.trim();
    if (newName !== camera.name) changes.name = newName;
    if (enabled.control.checked !== camera.enabled) changes.enabled = enabled.control.checked;
    if (recordSub.control.checked !== camera.record_sub) changes.record_sub = recordSub.control.checked;
    if (username.control.value !== camera.username) changes.username = username.control.value;
    if (password.control.value) changes.password = password.control.value;
    const stream = (key, urlField, transportField) => {
      const url = urlField.control.value.trim();
      const transport = transportField.control.value || null;
      const before = camera[key];
      if (!url) return before ? null : undefined;  // null removes the stream
      if (before && url === before.url && transport === (before.transport ?? null)) return undefined;
      const value = { url };
      if (transport) value.transport = transport;
      return value;
    };
    const main = stream("main", mainUrl, mainTransport);
    const sub = stream("sub", subUrl, subTransport);
    if (main !== undefined) changes.main = main;
    if (sub !== undefined) changes.sub = sub;
    if (!Object.keys(changes).length) {
      notify("Nothing changed.");
      return;
    }
    const { value } = await busy(save, () => api.patch(`/api/v1/cameras/${camera.channel}`, changes, { signal: ctx.signal }), { form });
    if (value) saved(value);
  });
  return form;
}

function liveTable(camera) {
  const streams = Object.entries(camera.live?.streams ?? {});
  if (!streams.length) return null;
  return h("details", { class: "live-facts" }, h("summary", {}, "What the streams deliver"),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Stream", "State", "Codec", "Size", "Frame rate", "Bit rate", "Reconnects", "Last error"]
        .map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, streams.map(([name, s]) => h("tr", {},
        h("td", {}, name), h("td", {}, s.online ? "online" : "offline"), h("td", {}, s.codec ?? "—"),
        h("td", {}, s.width ? `${s.width}×${s.height}` : "—"), h("td", {}, s.fps ? `${s.fps.toFixed(1)} fps` : "—"),
        h("td", {}, s.bitrate_kbps ? `${Math.round(s.bitrate_kbps)} kb/s` : "—"), h("td", {}, String(s.reconnects)),
        h("td", {}, s.last_error ?? "—")))))));
}
