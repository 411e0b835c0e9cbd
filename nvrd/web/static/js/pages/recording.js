// Recording settings: per channel the mode (by schedule / always / off), its schedule and
// the pre- and post-record times (PATCH /api/v1/cameras/{ch}), copied to other channels
// on request; the named week schedules (PUT /api/v1/recording/schedules/{name}) in the
// week editor; and the holidays on which schedules use their "Holidays" periods.
//
// Route parameters: ?channel=N (the channel shown) and ?schedule=name (the schedule in
// the editor), so a reload comes back to the same place.

import { api } from "../api.js";
import { h, field, fill, busy, notify, confirmAction, section, setFieldError, errorBox } from "../ui.js";
import { createWeekEditor, emptyDays, continuousDays } from "./recording/week-editor.js";

export const title = "Recording";

const ALWAYS = "always";
const MODES = [["auto", "By schedule"], ["manual", "Always (manual recording)"], ["off", "Off"]];
const PRE_RECORD = [0, 30];   // CameraConfig.pre_record_seconds
const POST_RECORD = [10, 300];  // CameraConfig.post_record_seconds

const schedulePath = (name) => `/api/v1/recording/schedules/${encodeURIComponent(name)}`;

export async function show(main, ctx) {
  const { signal } = ctx;
  const [cameras, { schedules }, { holidays }] = await Promise.all([
    api.get("/api/v1/cameras", { signal }),
    api.get("/api/v1/recording/schedules", { signal }),
    api.get("/api/v1/recording/holidays", { signal }),
  ]);
  const state = {
    cameras,
    schedules: schedules.map((s) => ({ ...s, saved: true })),
    channel: null,
  };
  const wanted = Number(ctx.params.get("channel"));
  state.channel = cameras.find((c) => c.channel === wanted)?.channel ?? cameras[0]?.channel ?? null;

  const channelArea = h("div");
  const scheduleArea = h("div");
  main.append(
    h("h1", {}, "Recording"),
    section("Channel settings", channelArea),
    section("Week schedules",
      h("p", { class: "hint" }, "A channel recording “by schedule” follows one of these. Each day has up to six "
        + "periods; outside them the channel does not record. The built-in schedule “always” records "
        + "continuously, all day, every day."),
      scheduleArea),
    section("Holidays", holidayEditor(holidays, ctx)));

  const schedules$ = scheduleEditor(scheduleArea, state, ctx, () => channels$.scheduleNamesChanged());
  const channels$ = channelEditor(channelArea, state, ctx, (name) => schedules$.select(name));
  const asked = ctx.params.get("schedule");
  const channelSchedule = cameras.find((c) => c.channel === state.channel)?.schedule;
  await schedules$.select(asked ?? (channelSchedule !== ALWAYS ? channelSchedule : null), { quiet: true });
}

function currentParams(state, extra = {}) {
  const params = {};
  if (state.channel !== null) params.channel = state.channel;
  if (state.scheduleName) params.schedule = state.scheduleName;
  return { ...params, ...extra };
}

// --- one channel's recording settings ------------------------------------------------------

function channelEditor(area, state, ctx, openSchedule) {
  const { signal } = ctx;
  if (!state.cameras.length) {
    fill(area, h("p", {}, "There are no cameras yet. ", h("a", { href: "#/settings/cameras" }, "Add a camera"),
      " first; the schedules below can be prepared meanwhile."));
    return { scheduleNamesChanged() {} };
  }
  const picker = field({
    label: "Channel", name: "channel", type: "select", value: state.channel,
    options: state.cameras.map((c) => [c.channel, `${c.channel} — ${c.name}`]),
  });
  picker.control.addEventListener("change", () => {
    state.channel = Number(picker.control.value);
    ctx.setParams(currentParams(state));
    render();
  });
  const formArea = h("div");
  fill(area, h("div", { class: "narrow" }, picker), formArea);
  let scheduleSelect = null;

  function scheduleOptions(current) {
    const names = [ALWAYS, ...state.schedules.filter((s) => s.saved).map((s) => s.name)];
    if (current && !names.includes(current)) names.push(current);
    return names.map((name) => [name, name === ALWAYS ? "always (continuous, built in)" : name]);
  }

  function render() {
    const camera = state.cameras.find((c) => c.channel === state.channel);
    const mode = field({ label: "Recording mode", name: "mode", type: "select", value: camera.mode, options: MODES,
      hint: "By schedule: as the schedule's periods say. Always: continuously, whatever the schedule." });
    const schedule = field({ label: "Schedule", name: "schedule", type: "select", value: camera.schedule,
      options: scheduleOptions(camera.schedule) });
    scheduleSelect = schedule.control;
    const pre = field({ label: "Pre-record (s)", name: "pre_record_seconds", type: "number", value: camera.pre_record_seconds,
      hint: `Video kept from before an event that starts recording (${PRE_RECORD[0]}–${PRE_RECORD[1]} s).`,
      attributes: { min: PRE_RECORD[0], max: PRE_RECORD[1], step: 1, inputmode: "numeric" } });
    const post = field({ label: "Post-record (s)", name: "post_record_seconds", type: "number", value: camera.post_record_seconds,
      hint: `Recording goes on this long after the event ends (${POST_RECORD[0]}–${POST_RECORD[1]} s).`,
      attributes: { min: POST_RECORD[0], max: POST_RECORD[1], step: 1, inputmode: "numeric" } });
    const edit = h("button", { type: "button", class: "link", onclick: () => openSchedule(schedule.control.value) },
      "Edit this schedule");
    const syncEdit = () => { edit.hidden = schedule.control.value === ALWAYS; };
    schedule.control.addEventListener("change", syncEdit);
    syncEdit();
    const values = () => ({
      mode: mode.control.value,
      schedule: schedule.control.value,
      pre_record_seconds: numberOf(pre.control.value),
      post_record_seconds: numberOf(post.control.value),
    });
    const save = h("button", { type: "submit", class: "primary" }, "Save channel settings");
    const form = h("form", { class: "card", "aria-label": `Recording of channel ${camera.channel}` }, errorBox(),
      h("p", { class: "muted", role: "status" }, nowRecording(camera)),
      h("div", { class: "grid" }, mode, h("div", {}, schedule, edit), pre, post),
      h("div", { class: "buttons" }, save),
      copyToChannels(camera, values));
    form.noValidate = true;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { value } = await busy(save, () => api.patch(`/api/v1/cameras/${camera.channel}`, values(), { signal }), { form });
      if (value) {
        replaceCamera(state, value);
        notify(`Recording settings of channel ${camera.channel} saved.`);
      }
    });
    fill(formArea, form);
  }

  // "Copy to channels…": this form's values onto the channels ticked, one PATCH each.
  function copyToChannels(camera, values) {
    const others = state.cameras.filter((c) => c.channel !== camera.channel);
    if (!others.length) return null;
    const boxes = others.map((c) => field({ label: `${c.channel} — ${c.name}`, name: `copy-${c.channel}`, type: "checkbox" }));
    const result = h("p", { role: "status", class: "hint" });
    const go = h("button", { type: "button" }, "Copy settings");
    go.addEventListener("click", async () => {
      const targets = others.filter((_, i) => boxes[i].control.checked);
      if (!targets.length) {
        result.textContent = "Tick the channels to copy to first.";
        return;
      }
      const body = values();
      const done = [];
      const failed = [];
      await busy(go, async () => {
        for (const target of targets) {
          try {
            replaceCamera(state, await api.patch(`/api/v1/cameras/${target.channel}`, body, { signal }));
            done.push(target.channel);
          } catch (error) {
            if (error.name === "AbortError") throw error;
            failed.push(`channel ${target.channel}: ${error.message}`);
          }
        }
      });
      result.textContent = [done.length ? `Copied to channel${done.length > 1 ? "s" : ""} ${done.join(", ")}.` : "",
        failed.length ? `Not copied: ${failed.join("; ")}.` : ""].filter(Boolean).join(" ");
      result.className = failed.length ? "error" : "hint";
    });
    return h("details", { class: "copy-channels" },
      h("summary", {}, "Copy to channels…"),
      h("fieldset", {}, h("legend", {}, `Give these channels the mode, schedule and pre/post-record times above`),
        h("div", { class: "check-list" }, boxes), h("div", { class: "buttons" }, go), result));
  }

  render();
  return {
    // The saved schedules changed: the channel's schedule choice lists them.
    scheduleNamesChanged() {
      if (!scheduleSelect) return;
      const chosen = scheduleSelect.value;
      fill(scheduleSelect, scheduleOptions(chosen).map(([value, text]) => h("option", { value, selected: value === chosen }, text)));
    },
  };
}

function nowRecording(camera) {
  const live = camera.live ?? {};
  const state = !camera.enabled ? "disabled" : live.online ? "online" : "offline";
  return `Now: ${state}, ${live.recording ? "recording" : "not recording"}.`;
}

function replaceCamera(state, camera) {
  const index = state.cameras.findIndex((c) => c.channel === camera.channel);
  if (index >= 0) state.cameras[index] = camera;
}

function numberOf(text) {
  const value = Number(text);
  return text.trim() === "" || !Number.isFinite(value) ? text : value;
}

// --- the week schedules ----------------------------------------------------------------------

function scheduleEditor(area, state, ctx, namesChanged) {
  const { signal } = ctx;
  let editor = null;
  let dirty = false;
  const picker = h("select", { id: "schedule-pick", name: "schedule-pick" });
  const pickerField = field({ label: "Schedule to edit", control: picker });
  const usage = h("p", { class: "hint", role: "status" });
  const remove = h("button", { type: "button", class: "danger" }, "Delete schedule");
  const editorArea = h("div");

  picker.addEventListener("change", async () => {
    const wanted = picker.value;
    if (dirty && !(await confirmAction(`The changes to “${state.scheduleName}” are not saved. Discard them?`,
      { action: "Discard changes", danger: false }))) {
      picker.value = state.scheduleName;
      return;
    }
    dropUnsaved();
    select(wanted);
  });

  // "New schedule…": a name and where to start from; saved only with "Save schedule".
  const newName = field({ label: "Name of the new schedule", name: "new-name", attributes: { maxLength: 32, autocomplete: "off" } });
  const startFrom = field({ label: "Start from", name: "start-from", type: "select", value: "empty",
    options: [["empty", "Nothing (add the periods)"], ["continuous", "Continuous, all week"], ["copy", "A copy of the schedule shown"]] });
  const create = h("button", { type: "button" }, "Create");
  const newPanel = h("details", { class: "new-schedule" }, h("summary", {}, "New schedule…"),
    h("div", { class: "card narrow" }, newName, startFrom, h("div", { class: "buttons" }, create)));
  create.addEventListener("click", async () => {
    const name = newName.control.value.trim();
    const problem = !name ? "give the schedule a name"
      : name.length > 32 ? "at most 32 characters"
      : name === ALWAYS ? "“always” is built in: choose another name"
      : state.schedules.some((s) => s.name === name) ? "a schedule with this name exists already" : null;
    setFieldError(newName.control, problem);
    if (problem) {
      newName.control.focus();
      return;
    }
    if (dirty && !(await confirmAction(`The changes to “${state.scheduleName}” are not saved. Discard them?`,
      { action: "Discard changes", danger: false }))) return;
    const copyOf = editor && startFrom.control.value === "copy" ? editor.value(name).days : null;
    dropUnsaved();
    const days = copyOf ?? (startFrom.control.value === "continuous" ? continuousDays() : emptyDays());
    state.schedules.push({ name, days, saved: false });
    newName.control.value = "";
    newPanel.open = false;
    select(name);
    dirty = true;
  });

  remove.addEventListener("click", async () => {
    const schedule = current();
    if (!schedule) return;
    if (!schedule.saved) {
      dropUnsaved(true);
      select(null);
      return;
    }
    const users = usedBy(schedule.name);
    const warning = users.length ? ` Channel${users.length > 1 ? "s" : ""} ${users.join(", ")} use it: change them first.` : "";
    if (!(await confirmAction(`Delete the schedule “${schedule.name}”?${warning}`, { action: "Delete schedule" }))) return;
    const { error } = await busy(remove, () => api.delete(schedulePath(schedule.name), { signal }));
    if (!error) {
      state.schedules = state.schedules.filter((s) => s !== schedule);
      notify(`Schedule “${schedule.name}” deleted.`);
      namesChanged();
      select(null);
    }
  });

  fill(area, h("div", { class: "schedule-pick" }, pickerField, remove, newPanel), usage, editorArea);

  function current() {
    return state.schedules.find((s) => s.name === state.scheduleName) ?? null;
  }

  function usedBy(name) {
    return state.cameras.filter((c) => c.schedule === name).map((c) => c.channel);
  }

  // Forgets a new schedule that was never saved (when leaving it).
  function dropUnsaved(force = false) {
    if (force || dirty) state.schedules = state.schedules.filter((s) => s.saved);
    dirty = false;
  }

  function renderPicker() {
    fill(picker, state.schedules.map((s) => h("option", { value: s.name, selected: s.name === state.scheduleName },
      s.saved ? s.name : `${s.name} (not saved yet)`)));
    pickerField.hidden = !state.schedules.length;
    remove.hidden = !state.schedules.length;
  }

  function select(name, { quiet = false } = {}) {
    const schedule = state.schedules.find((s) => s.name === name) ?? state.schedules[0] ?? null;
    state.scheduleName = schedule?.name ?? null;
    renderPicker();
    if (!quiet) ctx.setParams(currentParams(state));
    if (!schedule) {
      editor = null;
      usage.textContent = "";
      fill(editorArea, h("p", {}, "There are no schedules yet: every channel records by mode alone (“always” when "
        + "by schedule). Make one with “New schedule…”."));
      return;
    }
    const users = usedBy(schedule.name);
    usage.textContent = users.length ? `Channel${users.length > 1 ? "s" : ""} ${users.join(", ")} record${users.length > 1 ? "" : "s"} by this schedule.`
      : "No channel uses this schedule yet (choose it in a channel's settings above).";
    dirty = !schedule.saved;
    editor = createWeekEditor(schedule, { onChange: () => { dirty = true; } });
    const box = errorBox();
    const save = h("button", { type: "submit", class: "primary" }, "Save schedule");
    const form = h("form", { class: "schedule-form", "aria-label": `Schedule ${schedule.name}` },
      box, editor.element, h("div", { class: "buttons" }, save));
    form.noValidate = true;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      box.hidden = true;
      editor.clearErrors();
      const body = editor.value(schedule.name);
      const { value, error } = await busy(save, () => api.put(schedulePath(schedule.name), body, { signal }), { report: false });
      if (error) {
        if (error.name === "AbortError") return;
        const unplaced = editor.showErrors(error);
        const placed = error.fields?.().size > unplaced.length;
        box.textContent = placed
          ? ["The schedule was not saved: see the periods marked below.", ...unplaced].join(" ")
          : `The schedule was not saved: ${error.message}`;
        box.hidden = false;
        if (!placed) box.focus();
        return;
      }
      Object.assign(schedule, value, { saved: true });
      dirty = false;
      notify(`Schedule “${schedule.name}” saved.`);
      namesChanged();
      select(schedule.name);
    });
    fill(editorArea, form);
  }

  return {
    // Opens a schedule in the editor (asks first when the one shown has unsaved changes).
    async select(name, options) {
      if (name !== state.scheduleName && dirty && !(await confirmAction(
        `The changes to “${state.scheduleName}” are not saved. Discard them?`, { action: "Discard changes", danger: false }))) return;
      if (name !== state.scheduleName) dropUnsaved();
      select(name, options);
      if (!options?.quiet) editorArea.scrollIntoView({ block: "start" });
    },
  };
}

// --- holidays -----------------------------------------------------------------------------

function holidayEditor(holidays, ctx) {
  const rows = holidays.map((day) => ({ name: day.name, first: day.date ?? day.start ?? "", last: day.date ? "" : day.end ?? "" }));
  const body = h("tbody");
  const add = h("button", { type: "button" }, "Add holiday");
  const save = h("button", { type: "submit", class: "primary" }, "Save holidays");
  const form = h("form", { class: "card", "aria-label": "Holidays" }, errorBox(),
    h("p", { class: "hint" }, "On these days schedules use their “Holidays” periods instead of the weekday's. "
      + "Leave the last day empty for a single day."),
    h("div", { class: "table-wrap" }, h("table", { class: "holidays" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "First day"),
        h("th", { scope: "col" }, "Last day"), h("th", { scope: "col", "aria-label": "Remove" }))),
      body)),
    h("div", { class: "buttons" }, add, save));
  form.noValidate = true;

  function render() {
    fill(body, rows.length ? rows.map((row, index) => {
      const n = index + 1;
      const input = (key, type, label, name) => {
        const control = field({ label, name, type, value: row[key] });
        control.querySelector("label").className = "sr-label";
        control.control.addEventListener("input", () => { row[key] = control.control.value; });
        return control;
      };
      const first = input("first", "date", `Holiday ${n} first day`, `holidays[${index}].${row.last ? "start" : "date"}`);
      const last = input("last", "date", `Holiday ${n} last day`, `holidays[${index}].end`);
      last.control.addEventListener("input", () => {
        first.control.name = `holidays[${index}].${row.last ? "start" : "date"}`;
      });
      return h("tr", {},
        h("td", {}, input("name", "text", `Holiday ${n} name`, `holidays[${index}].name`)),
        h("td", {}, first), h("td", {}, last),
        h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Remove holiday ${n}`,
          onclick: () => { rows.splice(index, 1); render(); } }, "Remove")));
    }) : h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No holidays.")));
  }

  add.addEventListener("click", () => {
    rows.push({ name: "", first: "", last: "" });
    render();
    body.querySelector("tr:last-child input")?.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const holidaysOut = rows.map((row) => row.last && row.last !== row.first
      ? { name: row.name.trim(), start: row.first || null, end: row.last }
      : { name: row.name.trim(), date: row.first || null });
    const { value } = await busy(save, () => api.put("/api/v1/recording/holidays", { holidays: holidaysOut },
      { signal: ctx.signal }), { form });
    if (value) notify("Holidays saved.");
  });
  render();
  return form;
}
