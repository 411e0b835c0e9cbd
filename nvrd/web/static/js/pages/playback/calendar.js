// The day picker: a month of day buttons, the days with footage marked (GET
// /api/v1/channels/N/days), the arrow keys moving between days (a roving tabindex, so
// Tab enters and leaves the month in one step), Enter or a click picking one.

import { api, query } from "../../api.js";
import { h, fill } from "../../ui.js";
import { dayKey } from "./time.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December"];

function daysIn(year, month) {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

// Days from `day` by `delta`, across months.
function shifted({ year, month, day }, delta) {
  const moved = new Date(Date.UTC(year, month - 1, day + delta));
  return { year: moved.getUTCFullYear(), month: moved.getUTCMonth() + 1, day: moved.getUTCDate() };
}

// calendar({channel, selected, today, signal, onPick(day)}) -> {element, load(), set(channel, day)}
// `load()` resolves when the month shown has its footage marks.
export function calendar({ channel, selected, today, signal, onPick }) {
  const state = { channel, selected, focus: selected, shown: { year: selected.year, month: selected.month },
                  days: new Set(), timezone: null, error: null };
  const heading = h("h2", { id: "pb-month", "aria-live": "polite" });
  const grid = h("div", { class: "pb-days", role: "group", "aria-labelledby": "pb-month" });
  const element = h("div", { class: "pb-calendar" },
    h("div", { class: "pb-month-bar" },
      h("button", { type: "button", "aria-label": "Previous month", onclick: () => moveMonth(-1) }, "‹"),
      heading,
      h("button", { type: "button", "aria-label": "Next month", onclick: () => moveMonth(1) }, "›")),
    h("div", { class: "pb-weekdays", "aria-hidden": "true" }, WEEKDAYS.map((d) => h("span", {}, d))),
    grid,
    h("p", { class: "hint" }, h("span", { class: "pb-mark" }), " a day with recordings"));

  async function load() {
    const { year, month } = state.shown;
    try {
      const answer = await api.get(`/api/v1/channels/${state.channel}/days` + query({ year, month }), { signal });
      if (answer.year !== state.shown.year || answer.month !== state.shown.month) return;
      state.days = new Set(answer.days);
      state.timezone = answer.timezone;
      state.error = null;
    } catch (error) {
      if (error.name === "AbortError") throw error;
      state.days = new Set();
      state.error = error.message;
    }
    render();
  }

  function moveMonth(delta) {
    const moved = new Date(Date.UTC(state.shown.year, state.shown.month - 1 + delta, 1));
    state.shown = { year: moved.getUTCFullYear(), month: moved.getUTCMonth() + 1 };
    state.focus = { ...state.shown, day: Math.min(state.focus.day, daysIn(state.shown.year, state.shown.month)) };
    state.days = new Set();
    render();
    load().catch(() => {});
  }

  function onKey(event) {
    const steps = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 };
    let target = null;
    if (event.key in steps) target = shifted(state.focus, steps[event.key]);
    else if (event.key === "Home") target = { ...state.focus, day: 1 };
    else if (event.key === "End") target = { ...state.focus, day: daysIn(state.focus.year, state.focus.month) };
    else if (event.key === "PageUp" || event.key === "PageDown") {
      event.preventDefault();
      moveMonth(event.key === "PageUp" ? -1 : 1);
      grid.querySelector('[tabindex="0"]')?.focus();
      return;
    }
    if (!target) return;
    event.preventDefault();
    state.focus = target;
    if (target.year !== state.shown.year || target.month !== state.shown.month) {
      state.shown = { year: target.year, month: target.month };
      state.days = new Set();
      render();
      load().catch(() => {});
    } else {
      render();
    }
    grid.querySelector('[tabindex="0"]')?.focus();
  }

  function render() {
    const { year, month } = state.shown;
    heading.textContent = `${MONTHS[month - 1]} ${year}`;
    const lead = (new Date(Date.UTC(year, month - 1, 1)).getUTCDay() + 6) % 7;  // Monday first
    const cells = [];
    for (let i = 0; i < lead; i++) cells.push(h("span", { class: "pb-blank", "aria-hidden": "true" }));
    for (let day = 1; day <= daysIn(year, month); day++) {
      const key = dayKey({ year, month, day });
      const footage = state.days.has(day);
      const isToday = key === dayKey(today);
      const picked = key === dayKey(state.selected);
      const classes = ["pb-day", footage ? "has-footage" : "", isToday ? "today" : "", picked ? "picked" : ""];
      cells.push(h("button", {
        type: "button", class: classes.filter(Boolean).join(" "), "data-day": key,
        "aria-label": `${day} ${MONTHS[month - 1]} ${year}${isToday ? ", today" : ""}${footage ? ", has recordings" : ", no recordings"}`,
        "aria-pressed": picked ? "true" : "false", "aria-current": isToday ? "date" : null,
        tabindex: state.focus.day === day && state.focus.month === month && state.focus.year === year ? "0" : "-1",
        onclick: () => pick({ year, month, day }),
      }, String(day)));
    }
    fill(grid, cells);
    if (state.error) grid.append(h("p", { class: "error", role: "alert" }, state.error));
  }

  function pick(day) {
    state.selected = day;
    state.focus = day;
    render();
    onPick(day);
  }

  grid.addEventListener("keydown", onKey);
  render();
  return {
    element,
    load,
    get timezone() { return state.timezone; },
    hasFootage(day) {
      return day.year === state.shown.year && day.month === state.shown.month && state.days.has(day.day);
    },
    async set(channel, day) {
      state.channel = channel;
      state.selected = day;
      state.focus = day;
      state.shown = { year: day.year, month: day.month };
      state.days = new Set();
      render();
      await load();
    },
  };
}
