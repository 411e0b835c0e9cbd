// Step 5: cameras. PoE cameras add themselves (plug-and-play): the list is polled and a
// camera that arrives is announced. "Search the network" lists the ONVIF cameras that
// answer WS-Discovery, each with Add (an account form); "Add by address" is the same form
// with the address typed. A camera's refusal is shown next to the field it is about: a
// wrong password next to the password.

import { api } from "../../api.js";
import { h, field, fill, table, busy, notify, showErrors, clearErrors, setFieldError } from "../../ui.js";
import { every } from "./common.js";

export const title = "Cameras";

// The camera's refusal codes (nvrd/web/routes/camera_setup.py) and the field each is about.
const REFUSAL_FIELD = {
  wrong_password: "password", inactive: "password", locked: "password",
  unreachable: "address", not_onvif: "port", fault: "address",
};

function hostOf(camera) {
  if (camera.onvif?.host) return camera.onvif.host;
  try {
    return new URL(camera.main.url).hostname;
  } catch {
    return "";
  }
}

export async function render(panel, ctx, signal, wizard) {
  const seen = new Set();
  const arrived = new Set();
  let first = true;
  let cameras = [];
  const news = h("p", { class: "wizard-news", role: "status" });
  const listArea = h("div", { class: "table-wrap" });
  const portsArea = h("div", { class: "table-wrap" });
  const foundArea = h("div", { class: "table-wrap" });
  const formArea = h("div");
  let found = null;

  async function refresh() {
    const [list, ports] = await Promise.all([
      api.get("/api/v1/cameras", { signal }),
      api.get("/api/v1/cameras/plug-and-play", { signal }).catch((error) => {
        if (error?.name === "AbortError") throw error;
        return [];
      }),
    ]);
    cameras = [...list].sort((a, b) => a.channel - b.channel);
    const fresh = cameras.filter((camera) => !seen.has(camera.channel));
    fresh.forEach((camera) => seen.add(camera.channel));
    if (!first && fresh.length) {
      fresh.forEach((camera) => arrived.add(camera.channel));
      news.textContent = fresh.map((c) => `New camera on channel ${c.channel}: ${c.name}.`).join(" ");
    }
    first = false;
    fill(listArea, table([
      ["Channel", (c) => String(c.channel)],
      ["Name", (c) => [c.name, arrived.has(c.channel) ? [" ", h("span", { class: "badge ok" }, "new")] : null]],
      ["Model", (c) => [c.onvif?.manufacturer, c.onvif?.model].filter(Boolean).join(" ")],
      ["Address", (c) => hostOf(c)],
      ["Video", (c) => h("span", { class: c.live.online ? "online" : "offline" }, c.live.online ? "online" : "offline")],
      ["Recording", (c) => (c.live.recording ? h("span", { class: "ok" }, "recording") : h("span", { class: "muted" }, "not yet"))],
    ], cameras, { caption: "Cameras on this recorder", empty: "no camera yet" }));
    const busyPorts = ports.filter((p) => p.state !== "idle" && p.state !== "empty");
    fill(portsArea, busyPorts.length ? table([
      ["PoE port", (p) => String(p.port)],
      ["Channel", (p) => String(p.channel)],
      ["State", (p) => p.state],
      ["Details", (p) => h("span", { class: "muted" }, p.message)],
    ], busyPorts, { caption: "PoE plug-and-play" }) : null);
    if (found) showFound();
  }

  function showFound() {
    const channelOf = (camera) => camera.channel
      ?? cameras.find((c) => c.onvif?.mac && c.onvif.mac === camera.mac)?.channel ?? null;
    fill(foundArea, table([
      ["Address", (f) => f.address],
      ["Camera", (f) => [f.name, f.hardware].filter(Boolean).join(" ")],
      ["MAC", (f) => f.mac],
      ["", (f) => {
        const channel = channelOf(f);
        if (channel !== null) return h("span", { class: "muted" }, `on channel ${channel}`);
        const add = h("button", { type: "button", "aria-label": `Add camera ${f.address}` }, "Add");
        add.addEventListener("click", () => openForm({ address: f.address, port: f.port, title: `Add the camera at ${f.address}` }));
        return add;
      }],
    ], found, { caption: "Cameras found on the network", empty: "no camera answered" }));
  }

  const search = h("button", { type: "button" }, "Search the network");
  search.addEventListener("click", async () => {
    fill(foundArea, h("p", { class: "loading", role: "status" }, "Searching…"));
    const { value, error } = await busy(search, () => api.post("/api/v1/cameras/discover", {}, { signal }), { report: false });
    if (error) {
      if (error.name !== "AbortError") fill(foundArea, h("p", { class: "form-error", role: "alert" }, `The search failed: ${error.message}`));
      return;
    }
    found = value;
    showFound();
  });
  const byAddress = h("button", { type: "button" }, "Add by address");
  byAddress.addEventListener("click", () => openForm({ title: "Add a camera by its address" }));

  function openForm({ address = "", port = 80, title }) {
    const fields = {
      address: field({ label: "Address", name: "address", value: address, hint: "the camera's IP address or name" }),
      port: field({ label: "ONVIF port", name: "port", type: "number", value: port, attributes: { min: 1, max: 65535 } }),
      username: field({ label: "Camera user name", name: "username", value: "admin", attributes: { autocomplete: "off", autocapitalize: "none" } }),
      password: field({ label: "Camera password", name: "password", type: "password", attributes: { autocomplete: "off" } }),
      channel: field({ label: "Channel", name: "channel", type: "number", attributes: { min: 1, max: 4096 }, hint: "empty: the lowest free channel" }),
    };
    const submit = h("button", { type: "submit", class: "primary" }, "Add camera");
    const cancel = h("button", { type: "button" }, "Cancel");
    const activate = h("button", { type: "button", hidden: true }, "Activate the camera with this password");
    const form = h("form", { class: "card narrow wizard-camera-form", noValidate: true, "aria-label": title },
      h("h3", {}, title), Object.values(fields), h("div", { class: "buttons" }, submit, activate, cancel));
    const account = () => ({
      address: fields.address.control.value.trim(), port: Number(fields.port.control.value) || 80,
      username: fields.username.control.value.trim(), password: fields.password.control.value,
    });
    const refused = (error) => {
      const name = REFUSAL_FIELD[error.code];
      activate.hidden = error.code !== "inactive";
      if (name && !error.fields().size) {
        clearErrors(form);
        setFieldError(fields[name].control, error.message);
        fields[name].control.focus();
      } else if (error.status === 409 && /channel/.test(error.message) && fields.channel.control.value) {
        clearErrors(form);
        setFieldError(fields.channel.control, error.message);
        fields.channel.control.focus();
      } else {
        showErrors(form, error);
      }
    };
    const add = async () => {
      const body = account();
      const channel = fields.channel.control.value;
      if (channel) body.channel = Number(channel);
      const { value, error } = await busy(submit, () => api.post("/api/v1/cameras/onvif", body), { form, report: false });
      if (error) return refused(error);
      notify(`Camera added on channel ${value.channel}: ${value.name}.`);
      seen.add(value.channel);
      arrived.add(value.channel);
      fill(formArea);
      await refresh();
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      wizard.hold(add());
    });
    activate.addEventListener("click", async () => {
      const { error } = await busy(activate, () => api.post("/api/v1/cameras/activate", account()), { form, report: false });
      if (error) return refused(error);
      activate.hidden = true;
      await wizard.hold(add());
    });
    cancel.addEventListener("click", () => fill(formArea));
    fill(formArea, form);
    (address ? fields.password : fields.address).control.focus();
  }

  await refresh();
  every(signal, 2000, refresh);
  panel.append(
    h("p", {}, "Cameras plugged into the recorder's PoE ports are added by themselves, on the channel of "
      + "their port: they appear below within a minute or two (a camera needs that long to start)."),
    news, listArea, portsArea,
    h("h3", {}, "Other cameras on the network"),
    h("div", { class: "buttons" }, search, byAddress),
    foundArea, formArea);
  return { save: async () => true };
}
