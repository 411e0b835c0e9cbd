// PTZ: a control pad (pan/tilt in eight directions, zoom, focus, iris; held = moving,
// released = stop; usable by keyboard: arrow keys and + / − on the pad, Enter or Space held
// on a button), presets (go to, set, clear, name) and tours over presets, for the chosen
// channel's dome, with its live picture when the account may watch it.
//
// API: POST /api/v1/channels/N/ptz/move|stop|zoom|focus|iris,
// PUT/POST/DELETE /api/v1/channels/N/ptz/presets/P, POST/DELETE /api/v1/channels/N/ptz/tours.
// Preset names: the domes (Pelco-D/P) store numbers only and the recorder has no place for
// names yet, so the names are kept in this browser (localStorage), per channel.

import { api, ApiError } from "../api.js";
import { playLive } from "../live-player.js";
import { h, field, busy, notify, section, fill, table } from "../ui.js";

export const title = "PTZ";

const DIRECTIONS = [
  ["up-left", "↖", "left", "up"], ["up", "↑", "stop", "up"], ["up-right", "↗", "right", "up"],
  ["left", "←", "left", "stop"], null, ["right", "→", "right", "stop"],
  ["down-left", "↙", "left", "down"], ["down", "↓", "stop", "down"], ["down-right", "↘", "right", "down"],
];
const KEYS = { ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right" };

export async function show(main, ctx) {
  const { signal } = ctx;
  const channels = await ptzChannels(ctx);
  const wanted = Number(ctx.params.get("channel"));
  const channel = channels.some((c) => c.channel === wanted) ? wanted : channels[0]?.channel ?? null;

  const picker = field({ label: "Channel", name: "channel", type: "select", value: channel,
    options: channels.map((c) => [c.channel, `${c.channel}: ${c.name}${c.kind ? ` (${c.kind})` : ""}`]) });
  picker.control.addEventListener("change", () => {
    ctx.setParams({ channel: picker.control.value });
    ctx.navigate("settings/ptz", { channel: picker.control.value });
  });
  main.append(h("h1", {}, "PTZ"));
  if (channel === null) {
    main.append(h("p", {}, "No channel has a PTZ dome you may control. A dome is set in the camera's settings "
      + "(RS-485: protocol and address; or ONVIF PTZ)."));
    return;
  }
  const base = `/api/v1/channels/${channel}/ptz`;
  const say = h("p", { class: "ptz-status", role: "status", "aria-live": "polite" });
  const send = async (path, body) => {
    try {
      await api.post(base + path, body, { signal });
      return true;
    } catch (error) {
      if (error.name !== "AbortError") say.textContent = error.message;
      return false;
    }
  };

  const video = ctx.session.canChannel("live", channel)
    ? h("video", { class: "ptz-video", muted: true, autoplay: true, playsInline: true, "aria-label": `live view of channel ${channel}` })
    : null;
  if (video) {
    const player = playLive(video, `/api/v1/channels/${channel}/live?stream=sub`, { onStatus: () => {} });
    signal.addEventListener("abort", () => player.close());
  }
  main.append(picker, h("div", { class: "ptz-layout" },
    video ? h("div", { class: "ptz-view" }, video) : null,
    h("div", { class: "ptz-controls" }, controlPad(send, say), say)),
  presetsSection(channel, base, signal, say),
  toursSection(base, signal));
}

// Channels with a dome this account may move: the cameras' settings say which have one
// (RS-485 `ptz` or ONVIF `onvif.ptz`); without the right to read them, every channel the
// account has the ptz right on is offered (the API answers 404 "no PTZ" for the others).
async function ptzChannels(ctx) {
  try {
    const cameras = await api.get("/api/v1/cameras", { signal: ctx.signal });
    return cameras.filter((c) => (c.ptz || c.onvif?.ptz) && ctx.session.canChannel("ptz", c.channel))
      .map((c) => ({ channel: c.channel, name: c.name, kind: c.ptz ? `${c.ptz.protocol} address ${c.ptz.address}` : "ONVIF" }));
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
    const rights = ctx.session.rights;
    const numbers = rights.all_channels.includes("ptz") ? Array.from({ length: 16 }, (_, i) => i + 1)
      : Object.entries(rights.channels ?? {}).filter(([, r]) => r.includes("ptz")).map(([n]) => Number(n));
    return numbers.map((n) => ({ channel: n, name: `Channel ${n}`, kind: null }));
  }
}

// --- the pad -------------------------------------------------------------------------------

function controlPad(send, say) {
  const speed = field({ label: "Speed", name: "speed", type: "range", value: 32, attributes: { min: 1, max: 63, step: 1 } });
  let moving = null;  // what the dome was told last ("up-left", "zoom in", ...), null: stopped

  async function start(what, path, body) {
    if (moving === what) return;
    moving = what;
    if (await send(path, body)) say.textContent = `Moving: ${what}`;
  }
  async function stop() {
    if (moving === null) return;
    moving = null;
    if (await send("/stop")) say.textContent = "Stopped";
  }
  const move = ([name, , pan, tilt]) => start(name, "/move", {
    pan, tilt, pan_speed: Number(speed.control.value), tilt_speed: Number(speed.control.value) });

  // A button that moves while held: pointer held, or Enter / Space held when focused.
  function holdButton(label, text, onStart) {
    const button = h("button", { type: "button", "aria-label": label, class: "ptz-button" }, text);
    button.addEventListener("pointerdown", (event) => {
      button.setPointerCapture?.(event.pointerId);
      onStart();
    });
    for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(name, stop);
    button.addEventListener("keydown", (event) => {
      if ((event.key === "Enter" || event.key === " ") && !event.repeat) {
        event.preventDefault();
        onStart();
      }
    });
    button.addEventListener("keyup", (event) => {
      if (event.key === "Enter" || event.key === " ") stop();
    });
    button.addEventListener("blur", stop);
    return button;
  }

  const grid = h("div", { class: "ptz-pad", role: "group", "aria-label": "Pan and tilt (arrow keys move while held)" },
    DIRECTIONS.map((d) => (d === null
      ? h("button", { type: "button", class: "ptz-button ptz-stop", "aria-label": "Stop", onclick: () => { moving = "?"; stop(); } }, "■")
      : holdButton(`Move ${d[0]}`, d[1], () => move(d)))));
  grid.addEventListener("keydown", (event) => {
    const direction = KEYS[event.key];
    if (!direction) return;
    event.preventDefault();
    if (!event.repeat) move(DIRECTIONS.find((d) => d && d[0] === direction));
  });
  grid.addEventListener("keyup", (event) => {
    if (KEYS[event.key]) stop();
  });
  const pair = (label, path, key, [a, aText], [b, bText]) => h("div", { class: "ptz-pair", role: "group", "aria-label": label },
    h("span", {}, label),
    holdButton(`${label} ${a}`, aText, () => start(`${label.toLowerCase()} ${a}`, path, { [key]: a })),
    holdButton(`${label} ${b}`, bText, () => start(`${label.toLowerCase()} ${b}`, path, { [key]: b })));
  const lens = h("div", { class: "ptz-lens" },
    pair("Zoom", "/zoom", "direction", ["in", "+"], ["out", "−"]),
    pair("Focus", "/focus", "direction", ["near", "near"], ["far", "far"]),
    pair("Iris", "/iris", "direction", ["open", "open"], ["close", "close"]));
  lens.addEventListener("keydown", (event) => {
    if (event.key === "+" && !event.repeat) start("zoom in", "/zoom", { direction: "in" });
    if (event.key === "-" && !event.repeat) start("zoom out", "/zoom", { direction: "out" });
  });
  lens.addEventListener("keyup", (event) => {
    if (event.key === "+" || event.key === "-") stop();
  });
  return h("div", { class: "card" }, grid, lens, speed);
}

// --- presets -------------------------------------------------------------------------------

function namesKey(channel) {
  return `nvrd.ptz.presets.${channel}`;
}

function loadNames(channel) {
  try {
    return JSON.parse(localStorage.getItem(namesKey(channel)) ?? "{}");
  } catch {
    return {};
  }
}

function presetsSection(channel, base, signal, say) {
  const names = loadNames(channel);
  const saveNames = () => localStorage.setItem(namesKey(channel), JSON.stringify(names));
  const number = field({ label: "Preset number", name: "preset", type: "number", value: 1,
    attributes: { min: 1, max: 255, step: 1, inputmode: "numeric" } });
  const name = field({ label: "Preset name", name: "preset_name", value: names[1] ?? "",
    hint: "Names are kept in this browser: the dome stores numbers only.", attributes: { maxLength: 32, autocomplete: "off" } });
  number.control.addEventListener("input", () => { name.control.value = names[Number(number.control.value)] ?? ""; });
  const listBox = h("div", { class: "table-wrap" });
  const form = h("form", { class: "card", noValidate: true });

  const preset = () => Number(number.control.value);
  async function call(button, method, target, what) {
    const path = `${base}/presets/${target}`;
    const { error } = await busy(button, () => (method === "POST" ? api.post(path, {}, { signal })
      : method === "PUT" ? api.put(path, undefined, { signal }) : api.delete(path, { signal })), { form });
    if (!error) say.textContent = what;
    return !error;
  }
  const goTo = async (target, button) => {
    await call(button, "POST", target, `Going to preset ${target}${names[target] ? ` (${names[target]})` : ""}`);
  };
  const buttons = {
    go: h("button", { type: "button", class: "primary" }, "Go to preset"),
    set: h("button", { type: "button" }, "Set preset here"),
    clear: h("button", { type: "button", class: "danger" }, "Clear preset"),
  };
  buttons.go.addEventListener("click", () => goTo(preset(), buttons.go));
  buttons.set.addEventListener("click", async () => {
    const target = preset();
    if (await call(buttons.set, "PUT", target, `Preset ${target} set where the camera points`)) {
      const text = name.control.value.trim();
      names[target] = text || names[target] || `Preset ${target}`;
      saveNames();
      render();
      notify(`Preset ${target} set.`);
    }
  });
  buttons.clear.addEventListener("click", async () => {
    const target = preset();
    if (await call(buttons.clear, "DELETE", target, `Preset ${target} cleared`)) {
      delete names[target];
      saveNames();
      render();
    }
  });
  fill(form, h("div", { class: "preset-fields" }, number, name), h("div", { class: "buttons" }, buttons.go, buttons.set, buttons.clear));

  function render() {
    const known = Object.keys(names).map(Number).sort((a, b) => a - b).map((n) => ({ n, name: names[n] }));
    fill(listBox, table([
      ["Preset", (p) => String(p.n)],
      ["Name", (p) => p.name],
      ["", (p) => h("button", { type: "button", "aria-label": `Go to preset ${p.n}`, onclick: (e) => goTo(p.n, e.currentTarget) }, "Go to")],
    ], known, { caption: "Presets set from this browser", empty: "none set here yet" }));
  }
  render();
  return section("Presets", form, listBox);
}

// --- tours ---------------------------------------------------------------------------------

function toursSection(base, signal) {
  const stops = field({ label: "Tour stops (preset:seconds)", name: "stops", value: "1:10, 2:10",
    hint: "Each preset in turn, staying the seconds given (travel included), e.g. 1:10, 2:15, 5:10." });
  const loop = field({ label: "Loop", name: "loop", type: "checkbox", value: true });
  const start = h("button", { type: "submit", class: "primary" }, "Start tour");
  const stop = h("button", { type: "button" }, "Stop tour");
  const form = h("form", { class: "card", noValidate: true }, stops, loop, h("div", { class: "buttons" }, start, stop));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parsed = stops.control.value.split(/[\s,;]+/).filter(Boolean).map((item) => {
      const [preset, seconds = "10"] = item.split(":");
      return { preset: Number(preset), dwell_seconds: Number(seconds) };
    });
    const { error } = await busy(start, () => api.post(`${base}/tours`, { stops: parsed, loop: loop.control.checked }, { signal }),
      { form });
    if (!error) notify("Tour started: a move by hand stops it.");
  });
  stop.addEventListener("click", async () => {
    const { error } = await busy(stop, () => api.delete(`${base}/tours`, { signal }), { form });
    if (!error) notify("Tour stopped.");
  });
  return section("Tour", form);
}
