// The week schedule editor: for each weekday (and holidays) up to six periods, each with
// its start, end and what makes it record. The periods are a table of labelled inputs
// (keyboard and screen-reader friendly); a bar per day draws them on a 24-hour scale.
// "Copy this day to…" copies a day's periods onto other days. Nothing is saved here:
// the page saves the whole schedule (PUT /api/v1/recording/schedules/{name}) and hands
// the server's refusal back to showErrors(), which puts each sentence next to the period
// (or the day) it is about.

import { h, fill, uid } from "../../ui.js";

export const DAYS = [
  ["monday", "Monday"], ["tuesday", "Tuesday"], ["wednesday", "Wednesday"], ["thursday", "Thursday"],
  ["friday", "Friday"], ["saturday", "Saturday"], ["sunday", "Sunday"], ["holiday", "Holidays"],
];
export const TYPES = [
  ["general", "Continuous"], ["motion", "Motion"], ["alarm", "Alarm"],
  ["motion_or_alarm", "Motion or alarm"], ["motion_and_alarm", "Motion and alarm"],
  ["intelligent", "Intelligent (analytics)"],
];
export const MAX_PERIODS = 6;  // nvrd/config/schedules.py MAX_PERIODS_PER_DAY
const DAY_MINUTES = 24 * 60;
const TIME = /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/;

// The form's box for refusals that belong to no field, hidden until used (ui.js's
// showErrors makes one when a form has none, but visible, and then leaves it empty when
// every message found its field).
export function dayLabel(day) {
  return DAYS.find(([key]) => key === day)?.[1] ?? day;
}

export function typeLabel(type) {
  return TYPES.find(([key]) => key === type)?.[1] ?? type;
}

function minutes(clock) {
  if (!TIME.test(clock)) return null;
  const [hours, mins] = clock.split(":").map(Number);
  return hours * 60 + mins;
}

// "7" -> "07:00", "730" -> "07:30", "7:5" stays (the server says what is wrong with it).
function normalise(text) {
  const value = text.trim();
  let match = /^(\d{1,2})$/.exec(value);
  if (match) return `${match[1].padStart(2, "0")}:00`;
  match = /^(\d{1,2})[:.h]?(\d{2})$/.exec(value);
  if (match) return `${match[1].padStart(2, "0")}:${match[2]}`;
  return value;
}

// A schedule's days as plain, editable data (every day present, periods copied).
function copyDays(days = {}) {
  return Object.fromEntries(DAYS.map(([day]) => [day, (days[day] ?? []).map((p) => ({ ...p }))]));
}

// Presets for a new schedule.
export function emptyDays() {
  return copyDays();
}

export function continuousDays() {
  return Object.fromEntries(DAYS.map(([day]) => [day, [{ start: "00:00", end: "24:00", type: "general" }]]));
}

export function createWeekEditor(schedule, { onChange = () => {} } = {}) {
  const days = copyDays(schedule.days);
  const parts = new Map();  // day -> {fieldset, bar, body, error, add, rows: [{row, start, end, type, error}]}
  const element = h("div", { class: "week" });
  const legend = h("p", { class: "sched-legend", "aria-hidden": "true" },
    TYPES.map(([type, label]) => h("span", {}, h("i", { class: `swatch type-${type}` }), label)));

  function changed() {
    onChange();
  }

  function dayPart(day) {
    const bar = h("div", { class: "day-bar" });
    const scale = h("div", { class: "day-scale", "aria-hidden": "true" },
      ["0", "6", "12", "18", "24"].map((hour) => h("span", {}, hour)));
    const body = h("tbody");
    const error = h("p", { class: "error", id: uid("day-error"), role: "alert", hidden: true });
    const add = h("button", { type: "button", onclick: () => addPeriod(day) }, "Add period");
    const limit = h("p", { class: "hint", hidden: true }, `A day has at most ${MAX_PERIODS} periods.`);
    const copyBoxes = DAYS.filter(([other]) => other !== day).map(([other, label]) => {
      const id = uid("copy");
      const box = h("input", { type: "checkbox", id, value: other });
      return { box, element: h("span", { class: "field check" }, box, h("label", { for: id }, label)) };
    });
    const copyNote = h("p", { class: "hint", role: "status" });
    const copy = h("details", { class: "copy-day" },
      h("summary", {}, `Copy ${dayLabel(day)} to…`),
      h("fieldset", {}, h("legend", {}, `Copy the periods of ${dayLabel(day)} to`),
        h("div", { class: "check-list" }, copyBoxes.map((c) => c.element)),
        h("div", { class: "buttons" },
          h("button", { type: "button", onclick: () => {
            const targets = copyBoxes.filter((c) => c.box.checked).map((c) => c.box.value);
            if (!targets.length) {
              copyNote.textContent = "Tick the days to copy to first.";
              return;
            }
            for (const target of targets) {
              days[target] = days[day].map((p) => ({ ...p }));
              renderDay(target);
            }
            copyNote.textContent = `Copied to ${targets.map(dayLabel).join(", ")}. Save the schedule to keep it.`;
            changed();
          } }, "Copy")),
        copyNote));
    const fieldset = h("fieldset", { class: "day card" },
      h("legend", {}, dayLabel(day)),
      h("div", { class: "day-chart" }, bar, scale),
      h("div", { class: "table-wrap" }, h("table", { class: "periods" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, "Start"), h("th", { scope: "col" }, "End"),
          h("th", { scope: "col" }, "Records on"), h("th", { scope: "col", "aria-label": "Remove" }))),
        body)),
      error,
      h("div", { class: "buttons" }, add, copy),
      limit);
    const part = { fieldset, bar, body, error, add, limit, rows: [] };
    parts.set(day, part);
    return fieldset;
  }

  function addPeriod(day) {
    const periods = days[day];
    if (periods.length >= MAX_PERIODS) return;
    const last = periods[periods.length - 1];
    const start = last && minutes(last.end) !== null && minutes(last.end) < DAY_MINUTES ? last.end : "00:00";
    periods.push({ start, end: "24:00", type: "general" });
    renderDay(day);
    parts.get(day).rows.at(-1)?.start.focus();
    changed();
  }

  function removePeriod(day, index) {
    days[day].splice(index, 1);
    renderDay(day);
    const part = parts.get(day);
    (part.rows[Math.min(index, part.rows.length - 1)]?.start ?? part.add).focus();
    changed();
  }

  function renderDay(day) {
    const part = parts.get(day);
    const label = dayLabel(day);
    part.rows = days[day].map((period, index) => {
      const n = index + 1;
      const error = h("p", { class: "error", id: uid("period-error"), role: "alert", hidden: true });
      const timeInput = (key) => {
        const input = h("input", {
          type: "text", class: "clock", inputmode: "numeric", autocomplete: "off", placeholder: "HH:MM",
          value: period[key], maxLength: 5, size: 5, "aria-label": `${label} period ${n} ${key}`,
          "aria-describedby": error.id, name: `days.${day}[${index}].${key}`,
        });
        input.addEventListener("input", () => {
          period[key] = input.value.trim();
          drawBar(day);
          changed();
        });
        input.addEventListener("change", () => {
          input.value = normalise(input.value);
          period[key] = input.value;
          drawBar(day);
        });
        return input;
      };
      const start = timeInput("start");
      const end = timeInput("end");
      const type = h("select", { "aria-label": `${label} period ${n} records on`, "aria-describedby": error.id,
                                  name: `days.${day}[${index}].type` },
        TYPES.map(([value, text]) => h("option", { value, selected: value === period.type }, text)));
      type.addEventListener("change", () => {
        period.type = type.value;
        drawBar(day);
        changed();
      });
      const remove = h("button", { type: "button", class: "link", "aria-label": `Remove ${label} period ${n}`,
                                   onclick: () => removePeriod(day, index) }, "Remove");
      const row = h("tr", {},
        h("td", {}, String(n)), h("td", {}, start), h("td", {}, end), h("td", {}, type), h("td", {}, remove));
      const errorRow = h("tr", { class: "period-error", hidden: true }, h("td", { colspan: 5 }, error));
      return { row, errorRow, start, end, type, error };
    });
    fill(part.body, part.rows.length
      ? part.rows.map((r) => [r.row, r.errorRow])
      : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No periods: this day does not record.")));
    const full = days[day].length >= MAX_PERIODS;
    part.add.disabled = full;
    part.limit.hidden = !full;
    setError(part.error, null);
    drawBar(day);
  }

  function drawBar(day) {
    const part = parts.get(day);
    const spans = [];
    const words = [];
    for (const period of days[day]) {
      const from = minutes(period.start);
      const to = minutes(period.end);
      if (from === null || to === null || to <= from) continue;
      const span = h("span", { class: `period type-${period.type}`, title: `${period.start}–${period.end} ${typeLabel(period.type)}` });
      span.style.left = `${(from / DAY_MINUTES) * 100}%`;
      span.style.width = `${((to - from) / DAY_MINUTES) * 100}%`;
      spans.push(span);
      words.push(`${period.start} to ${period.end} ${typeLabel(period.type).toLowerCase()}`);
    }
    fill(part.bar, spans);
    part.bar.setAttribute("role", "img");
    part.bar.setAttribute("aria-label", `${dayLabel(day)}: ${words.length ? words.join(", ") : "no recording"}`);
  }

  function setError(slot, message, row = null) {
    slot.textContent = message ?? "";
    slot.hidden = !message;
    if (row) row.hidden = !message;
  }

  function clearErrors() {
    for (const part of parts.values()) {
      setError(part.error, null);
      for (const r of part.rows) {
        setError(r.error, null, r.errorRow);
        for (const control of [r.start, r.end, r.type]) control.removeAttribute("aria-invalid");
      }
    }
  }

  // Puts the server's sentences next to their period or day; answers those it could not
  // place (the page shows them in its form's error box). Focuses the first bad control.
  function showErrors(error) {
    clearErrors();
    const unplaced = [];
    let first = null;
    const fields = typeof error?.fields === "function" ? error.fields() : new Map();
    for (const [name, message] of fields) {
      const match = /(?:^|\.)days\.(\w+)(?:\[(\d+)\])?(?:\.(\w+))?$/.exec(name);
      const part = match ? parts.get(match[1]) : null;
      const words = String(message).replace(/^[\w.[\]]+: /, "");
      if (!part) {
        unplaced.push(message);
        continue;
      }
      const row = match[2] !== undefined ? part.rows[Number(match[2])] : null;
      if (row) {
        const previous = row.error.hidden ? "" : row.error.textContent + " ";
        setError(row.error, previous + `Period ${Number(match[2]) + 1}: ${words}`, row.errorRow);
        const control = row[match[3]] ?? row.start;
        control.setAttribute("aria-invalid", "true");
        first ??= control;
      } else {
        setError(part.error, `${dayLabel(match[1])}: ${words}`);
        first ??= part.rows[0]?.start ?? part.add;
      }
    }
    first?.focus();
    return unplaced;
  }

  fill(element, legend, DAYS.map(([day]) => dayPart(day)));
  for (const [day] of DAYS) renderDay(day);

  return {
    element,
    // The schedule as the API takes it.
    value(name) {
      return {
        name,
        days: Object.fromEntries(DAYS.map(([day]) => [day, days[day].map(({ start, end, type }) => ({ start, end, type }))])),
      };
    },
    showErrors,
    clearErrors,
  };
}
