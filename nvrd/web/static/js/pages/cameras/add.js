// Adding a camera, three ways: search the camera network (ONVIF WS-Discovery), by
// address (ONVIF: the camera says what it is and which streams it has), or by RTSP URL
// (any camera). Each calls `added(camera)` with the API's answer.

import { api } from "../../api.js";
import { h, field, fill, busy, notify, table, progressBar, errorBox } from "../../ui.js";

const DISCOVERY_SECONDS = 3;

// The form's box for refusals that belong to no field, hidden until used (ui.js's
// showErrors makes one when a form has none, but visible, and then leaves it empty when
// every message found its field).
export function addCamera(ctx, added) {
  const onvif = onvifForm(ctx, added);
  return h("div", { class: "grid add-camera" },
    discoverCard(ctx, onvif.useAddress),
    onvif.element,
    rtspForm(ctx, added));
}

function channelField() {
  return field({ label: "Channel", name: "channel", type: "number", hint: "Empty: the lowest free channel.",
    attributes: { min: 1, step: 1, inputmode: "numeric" } });
}

function optional(text) {
  const value = text.trim();
  return value === "" ? undefined : value;
}

function channelValue(control) {
  const text = control.value.trim();
  if (text === "") return undefined;
  const value = Number(text);
  return Number.isInteger(value) ? value : text;
}

// --- search --------------------------------------------------------------------------------

function discoverCard(ctx, useAddress) {
  const search = h("button", { type: "button", class: "primary" }, "Search the network");
  const progress = progressBar("Searching for cameras");
  progress.element.hidden = true;
  const results = h("div", { class: "table-wrap", "aria-live": "polite" });
  search.addEventListener("click", async () => {
    progress.element.hidden = false;
    progress.update(null, `Listening for answers for ${DISCOVERY_SECONDS} s…`);
    const { value, error } = await busy(search, () => api.post("/api/v1/cameras/discover",
      { seconds: DISCOVERY_SECONDS }, { signal: ctx.signal }), { report: false });
    progress.element.hidden = true;
    if (error) {
      if (error.name !== "AbortError") fill(results, h("p", { class: "error", role: "alert" }, error.message));
      return;
    }
    fill(results, table([
      ["Address", (c) => `${c.address}:${c.port}`],
      ["Camera", (c) => [c.name || "—", c.hardware ? h("br") : null, c.hardware ? h("span", { class: "muted" }, c.hardware) : null]],
      ["MAC", (c) => c.mac || "—"],
      ["Channel", (c) => (c.channel === null ? "not added" : `on channel ${c.channel}`)],
      ["", (c) => (c.channel === null
        ? h("button", { type: "button", "aria-label": `Add the camera at ${c.address}`, onclick: () => useAddress(c.address, c.port) }, "Add…")
        : null)],
    ], value, { caption: `${value.length} camera${value.length === 1 ? "" : "s"} answered`, empty: "No camera answered. Check that the cameras are powered and on the camera network." }));
  });
  return h("section", { class: "card", "aria-label": "Search the network" },
    h("h3", {}, "Search the network"),
    h("p", { class: "hint" }, "Finds ONVIF cameras on the camera network (WS-Discovery)."),
    h("div", { class: "buttons" }, search), progress.element, results);
}

// --- by address (ONVIF) ----------------------------------------------------------------------

function onvifForm(ctx, added) {
  const address = field({ label: "Address", name: "address", attributes: { autocomplete: "off", inputmode: "url" } });
  const port = field({ label: "Port (HTTP)", name: "port", type: "number", value: 80, attributes: { min: 1, max: 65535 } });
  const username = field({ label: "User name", name: "username", value: "admin", attributes: { autocomplete: "off" } });
  const password = field({ label: "Password", name: "password", type: "password", attributes: { autocomplete: "new-password" } });
  const channel = channelField();
  const name = field({ label: "Name", name: "name", hint: "Empty: “Camera <channel>”.", attributes: { maxLength: 64 } });
  const check = h("button", { type: "button" }, "Check camera");
  const add = h("button", { type: "submit", class: "primary" }, "Add camera");
  const activate = h("button", { type: "button", hidden: true }, "Activate with this password");
  const found = h("div", { role: "status" });
  const form = h("form", { class: "card", "aria-label": "Add by address (ONVIF)" }, errorBox(),
    h("h3", {}, "Add by address (ONVIF)"),
    address, port, username, password, channel, name,
    h("div", { class: "buttons" }, check, add, activate), found);
  form.noValidate = true;

  const account = () => ({
    address: address.control.value.trim(), port: Number(port.control.value) || port.control.value,
    username: username.control.value, password: password.control.value,
  });
  const refused = (error) => {
    activate.hidden = error?.code !== "inactive";
  };

  check.addEventListener("click", async () => {
    fill(found);
    const { value, error } = await busy(check, () => api.post("/api/v1/cameras/probe", account(), { signal: ctx.signal }), { form });
    refused(error);
    if (!value) return;
    fill(found, h("dl", { class: "probe" },
      h("dt", {}, "Camera"), h("dd", {}, `${value.manufacturer} ${value.model} (firmware ${value.firmware})`),
      h("dt", {}, "MAC"), h("dd", {}, value.mac || "—"),
      h("dt", {}, "Streams"), h("dd", {}, value.profiles.map((p) => h("div", {},
        `${p.name}: ${p.encoding} ${p.width}×${p.height}${p.fps ? ` ${p.fps} fps` : ""}`,
        p.token === value.main_profile ? " (main)" : p.token === value.sub_profile ? " (sub)" : ""))),
      h("dt", {}, "Clock"), h("dd", {}, `${value.clock_offset_s >= 0 ? "+" : ""}${value.clock_offset_s} s from the recorder's`),
      value.channel !== null ? [h("dt", {}, "Already"), h("dd", {}, `recorded on channel ${value.channel}`)] : null));
  });

  activate.addEventListener("click", async () => {
    const { error } = await busy(activate, () => api.post("/api/v1/cameras/activate", account(), { signal: ctx.signal }), { form });
    if (!error) {
      activate.hidden = true;
      notify("The camera is activated with this user name and password: it can be added now.");
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { ...account(), channel: channelValue(channel.control), name: optional(name.control.value) };
    const { value, error } = await busy(add, () => api.post("/api/v1/cameras/onvif", body, { signal: ctx.signal }), { form });
    refused(error);
    if (!value) return;
    form.reset();
    fill(found);
    added(value);
  });

  return {
    element: form,
    useAddress(host, httpPort) {
      address.control.value = host;
      port.control.value = httpPort;
      password.control.focus();
    },
  };
}

// --- by RTSP URL -----------------------------------------------------------------------------

function rtspForm(ctx, added) {
  const main = field({ label: "Main stream URL", name: "main.url", hint: "rtsp://address:554/… (the recorded stream)",
    attributes: { autocomplete: "off", inputmode: "url", placeholder: "rtsp://" } });
  const sub = field({ label: "Sub stream URL", name: "sub.url", hint: "Optional: the low-resolution stream (live grids, motion).",
    attributes: { autocomplete: "off", inputmode: "url" } });
  const username = field({ label: "User name", name: "username", attributes: { autocomplete: "off" } });
  const password = field({ label: "Password", name: "password", type: "password", attributes: { autocomplete: "new-password" } });
  const channel = channelField();
  const name = field({ label: "Name", name: "name", hint: "Empty: “Camera <channel>”.", attributes: { maxLength: 64 } });
  const add = h("button", { type: "submit", class: "primary" }, "Add camera");
  const form = h("form", { class: "card", "aria-label": "Add by RTSP URL" }, errorBox(),
    h("h3", {}, "Add by RTSP URL"), main, sub, username, password, channel, name, h("div", { class: "buttons" }, add));
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { main: { url: main.control.value.trim() } };
    const subUrl = optional(sub.control.value);
    if (subUrl) body.sub = { url: subUrl };
    if (username.control.value) body.username = username.control.value;
    if (password.control.value) body.password = password.control.value;
    const number = channelValue(channel.control);
    if (number !== undefined) body.channel = number;
    const label = optional(name.control.value);
    if (label) body.name = label;
    const { value } = await busy(add, () => api.post("/api/v1/cameras", body, { signal: ctx.signal }), { form });
    if (!value) return;
    form.reset();
    added(value);
  });
  return form;
}
