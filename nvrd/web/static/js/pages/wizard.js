// The setup wizard: from an uninitialized box to cameras recording, one step at a time.
//
// On first boot (no session yet) it starts with the administrator's password; opened
// later from Settings by an administrator it starts at the time. Each step saves through
// the API when the person presses Next and stays, with the refusal next to its field,
// when the recorder refuses. The step is kept in the route (#/wizard?step=cameras), so a
// reload comes back to it.
//
// A step module (pages/wizard/*.js) exports `title` and
// `render(panel, ctx, signal, wizard) -> {save()}`: `signal` fires when the step is left,
// `save()` resolves true to go on; `wizard.next()` is Next (a form's Enter key) and
// `wizard.hold(promise)` keeps Back and Next disabled while a long operation runs.

import { api } from "../api.js";
import { h, fill, busy, notify } from "../ui.js";
import * as account from "./wizard/account.js";
import * as time from "./wizard/time.js";
import * as network from "./wizard/network.js";
import * as disks from "./wizard/disks.js";
import * as cameras from "./wizard/cameras.js";
import * as recording from "./wizard/recording.js";
import { every } from "./wizard/common.js";

export const title = "Setup wizard";

const finish = {
  title: "Finish",
  async render(panel, ctx, signal) {
    const summary = h("p", { role: "status" });
    const update = async () => {
      const list = await api.get("/api/v1/cameras", { signal });
      const recordingNow = list.filter((camera) => camera.live.recording).length;
      summary.textContent = list.length
        ? `${list.length} camera${list.length === 1 ? "" : "s"} on this recorder, ${recordingNow} recording now.`
        : "No camera yet: PoE cameras plugged in later are added by themselves.";
    };
    await update();
    every(signal, 2000, update);
    panel.append(h("p", {}, "The recorder is set up. Every setting can be changed later under Settings."),
      summary, h("p", {}, "Finish opens the dashboard with the live view of every camera."));
    return { save: async () => { ctx.navigate("dashboard"); return false; } };
  },
};

const STEPS = [
  { id: "administrator", module: account, firstBootOnly: true },
  { id: "time", module: time },
  { id: "network", module: network },
  { id: "disks", module: disks },
  { id: "cameras", module: cameras },
  { id: "recording", module: recording },
  { id: "finish", module: finish },
];

export async function show(main, ctx) {
  const firstBoot = !ctx.session;
  // The first-boot page is shown whatever the address: make it say where we are, so the
  // step can be kept in it and a reload after step 1 comes back here.
  if (!/^#\/?wizard\b/.test(location.hash)) history.replaceState(null, "", "#/wizard");
  const steps = STEPS.filter((step) => firstBoot || !step.firstBootOnly);
  let initialized = !firstBoot;

  const items = steps.map((step, i) => h("li", {}, h("span", { class: "number" }, String(i + 1)), " ", step.module.title));
  const panel = h("div", { class: "wizard-panel" });
  const back = h("button", { type: "button" }, "Back");
  const next = h("button", { type: "button", class: "primary" }, "Next");
  main.append(
    h("h1", {}, firstBoot ? "Set up the recorder" : "Setup wizard"),
    h("nav", { "aria-label": "Setup steps" }, h("ol", { class: "wizard-steps" }, items)),
    panel,
    h("div", { class: "buttons wizard-buttons" }, back, next));

  let index = firstBoot ? 0 : Math.max(0, steps.findIndex((step) => step.id === ctx.params.get("step")));
  let current = null;
  let held = 0;

  const canGoBack = () => index > 0 && !(steps[index - 1].firstBootOnly && initialized);
  const setButtons = () => {
    back.disabled = held > 0 || !canGoBack();
    next.disabled = held > 0;
  };

  const wizard = {
    next: () => next.click(),
    async hold(promise) {
      held += 1;
      setButtons();
      try {
        return await promise;
      } finally {
        held -= 1;
        setButtons();
      }
    },
  };

  async function go(to, { focus = true } = {}) {
    current?.controller.abort();
    const controller = new AbortController();
    ctx.signal.addEventListener("abort", () => controller.abort(), { once: true });
    index = to;
    const step = steps[index];
    items.forEach((item, i) => {
      item.setAttribute("aria-current", i === index ? "step" : "false");
      item.classList.toggle("done", i < index);
    });
    next.textContent = index === steps.length - 1 ? "Finish" : "Next";
    setButtons();
    if (initialized) ctx.setParams({ step: step.id });
    const heading = h("h2", { tabindex: "-1" }, `Step ${index + 1} of ${steps.length}: ${step.module.title}`);
    const body = h("div", { class: "wizard-step", "data-step": step.id });
    fill(panel, heading, body);
    let handle;
    try {
      handle = await step.module.render(body, ctx, controller.signal, wizard);
    } catch (error) {
      if (error?.name === "AbortError") throw error;
      // a step that cannot load (a service not running) must not block the rest
      body.append(h("p", { class: "form-error", role: "alert" },
        `This step could not load: ${error.message ?? error}. You can go on and do it later under Settings.`));
      handle = { save: async () => true };
    }
    current = { controller, handle };
    if (focus) heading.focus();
  }

  back.addEventListener("click", () => {
    if (canGoBack()) go(index - 1).catch(report);
  });
  next.addEventListener("click", async () => {
    if (next.disabled) return;
    const { value, error } = await busy(next, () => current.handle.save(), { report: false });
    setButtons();
    if (error) return report(error);
    if (!value) return;
    if (steps[index].firstBootOnly) initialized = true;
    if (index < steps.length - 1) await go(index + 1).catch(report);
  });

  await go(index, { focus: false });
}

function report(error) {
  if (error?.name === "AbortError") return;
  console.error(error);
  notify(error.message ?? String(error), "error");
}
