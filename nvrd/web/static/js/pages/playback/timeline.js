// The timeline of one day: what is recorded, coloured by why (general, motion, alarm,
// intelligent, manual), the locked spans and the tags above it, the playing position as
// a cursor. Divs, not a canvas: each span is an element a test, a screen reader (its
// title) and the style sheet's colours can reach, and a day has at most a few thousand.
//
// Zoom: the track is as wide as the day at the chosen scale (24 h … 30 min across the
// visible width) and slides inside a clipping box; zooming keeps the time under the
// pointer (wheel) or the cursor (buttons) where it is. The instant at the left edge is
// the state, and the track's offset a percentage of its own width (a transform), so no
// layout change (a resized window, a full-page screenshot) can move the view, as it can
// a native scroll position. Panning: the "Time shown" slider, a sideways wheel, a touch
// drag, or the cursor leaving the view. A click plays from its instant; a
// mouse drag selects a range (export, lock); the keyboard moves the cursor (arrows) and
// plays from it (Enter).

import { h, fill } from "../../ui.js";
import { clock, spanWords } from "./time.js";

const MINUTE = 60000;
const HOUR = 60 * MINUTE;
export const ZOOMS = [24 * HOUR, 12 * HOUR, 6 * HOUR, 3 * HOUR, HOUR, 30 * MINUTE];
const TICK_STEPS = [5, 10, 15, 30, 60, 120, 180, 360].map((minutes) => minutes * MINUTE);
const TICK_PX = 48;  // room for a "08:30" label
// The colour a span gets when it was recorded for several reasons: the most urgent.
const PRECEDENCE = ["alarm", "intelligent", "motion", "manual", "general"];
export const LEGEND = [["general", "General"], ["motion", "Motion"], ["alarm", "Alarm"],
                       ["intelligent", "Intelligent"], ["manual", "Manual"]];
const DRAG_PX = 5;

export function recordType(types) {
  return PRECEDENCE.find((type) => types.includes(type)) ?? "general";
}

// timeline({zone, onPlay(ms), onSelect(startMs, endMs)}) -> the element and its setters.
export function timeline({ zone, onPlay, onSelect }) {
  const state = { zone, start: 0, end: 1, zoom: 0, view: 0, cursor: null, selection: null, spans: [] };
  const spanText = h("output", { class: "pb-visible", "aria-live": "polite" });
  const zoomOut = h("button", { type: "button", onclick: () => zoomBy(-1) }, "Zoom out");
  const zoomIn = h("button", { type: "button", onclick: () => zoomBy(1) }, "Zoom in");
  const ticks = h("div", { class: "pb-ticks", "aria-hidden": "true" });
  const spansLayer = h("div", { class: "pb-spans" });
  const locksLayer = h("div", { class: "pb-locks" });
  const tagsLayer = h("div", { class: "pb-tags" });
  const selection = h("div", { class: "pb-selection", hidden: true });
  const cursor = h("div", { class: "pb-cursor", hidden: true });
  const track = h("div", {
    class: "pb-track", role: "slider", tabindex: "0", "aria-label": "Timeline",
    "aria-valuemin": "0", "aria-valuemax": "86400",
    "aria-describedby": "pb-timeline-help",
  }, ticks, locksLayer, spansLayer, tagsLayer, selection, cursor);
  const scroller = h("div", { class: "pb-scroll" }, track);
  const pan = h("input", { type: "range", class: "pb-pan", min: "0", max: "0", step: "1000",
                           "aria-label": "Time shown", oninput: () => showFrom(state.start + Number(pan.value)) });
  const element = h("div", { class: "pb-timeline" },
    h("div", { class: "pb-timeline-bar" }, zoomOut, zoomIn, spanText),
    scroller, pan,
    h("p", { class: "hint", id: "pb-timeline-help" },
      "Click to play from there; drag to select a range. Keys: ← → move 1 min (with Shift 10 min), Enter plays, + and − zoom."),
    h("ul", { class: "pb-legend", "aria-label": "Record types" },
      LEGEND.map(([type, label]) => h("li", {}, h("span", { class: `pb-swatch pb-type-${type}` }), label)),
      h("li", {}, h("span", { class: "pb-swatch pb-locked" }), "Locked"),
      h("li", {}, h("span", { class: "pb-swatch pb-tagged" }), "Tag")));

  const length = () => state.end - state.start;
  const visible = () => Math.min(ZOOMS[state.zoom], length());
  const percent = (ms) => `${((ms - state.start) / length()) * 100}%`;
  const widthPercent = (from, to) => `${(Math.max(0, to - from) / length()) * 100}%`;

  function timeAt(clientX) {
    const box = track.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return state.start + fraction * length();
  }

  function visibleRange() {
    return [state.view, Math.min(state.end, state.view + visible())];
  }

  // Shows the track from `from` (clamped to the day).
  function showFrom(from) {
    state.view = Math.max(state.start, Math.min(state.end - visible(), from));
    track.style.transform = `translateX(${-((state.view - state.start) / length()) * 100}%)`;
    pan.max = String(Math.max(0, Math.round(length() - visible())));
    pan.value = String(Math.round(state.view - state.start));
    pan.hidden = state.zoom === 0;
    pan.setAttribute("aria-valuetext", `from ${clock(state.view, state.zone, false)}`);
    showVisible();
  }

  function showVisible() {
    const [from, to] = visibleRange();
    spanText.textContent = `Showing ${clock(from, state.zone, false)}–${to >= state.end ? "24:00" : clock(to, state.zone, false)} (${spanWords(to - from)})`;
    element.dataset.visibleMs = String(Math.round(to - from));
    zoomIn.disabled = state.zoom >= ZOOMS.length - 1;
    zoomOut.disabled = state.zoom <= 0;
  }

  // Keeps `anchor` (an instant) at `offsetPx` from the box's left edge (default: the middle).
  function setZoom(level, anchor = null, offsetPx = null) {
    level = Math.max(0, Math.min(ZOOMS.length - 1, level));
    if (anchor === null) {
      const [from, to] = visibleRange();
      anchor = state.cursor !== null && state.cursor >= from && state.cursor <= to ? state.cursor
        : state.cursor !== null && level > state.zoom ? state.cursor : (from + to) / 2;
      offsetPx = null;
    }
    state.zoom = level;
    track.style.width = `${(length() / visible()) * 100}%`;
    renderTicks();
    const fraction = offsetPx === null ? 0.5 : offsetPx / (scroller.clientWidth || 1);
    showFrom(anchor - fraction * visible());
  }

  function zoomBy(delta, anchor = null, offsetPx = null) {
    setZoom(state.zoom + delta, anchor, offsetPx);
  }

  function renderTicks() {
    const perMs = (scroller.clientWidth || 700) / visible();
    const step = TICK_STEPS.find((candidate) => candidate * perMs >= TICK_PX) ?? TICK_STEPS.at(-1);
    const items = [];
    // ticks on the wall clock's whole steps: from the day's start (a zone's midnight)
    for (let t = state.start; t <= state.end; t += step) {
      items.push(h("span", { class: "pb-tick" }, clock(t, state.zone, false)));
      items.at(-1).style.left = percent(t);
    }
    fill(ticks, items);
  }

  function place(element, from, to) {
    element.style.left = percent(Math.max(from, state.start));
    element.style.width = widthPercent(Math.max(from, state.start), Math.min(to, state.end));
    return element;
  }

  function moveCursor(ms, { follow = false } = {}) {
    state.cursor = ms;
    if (ms === null || ms < state.start || ms > state.end) {
      cursor.hidden = true;
      return;
    }
    cursor.hidden = false;
    cursor.style.left = percent(ms);
    track.setAttribute("aria-valuenow", String(Math.round((ms - state.start) / 1000)));
    track.setAttribute("aria-valuetext", clock(ms, state.zone));
    if (follow) {
      const [from, to] = visibleRange();
      if (ms < from || ms > to) showFrom(ms - visible() * 0.1);
    }
  }

  function showSelection() {
    if (!state.selection) {
      selection.hidden = true;
      return;
    }
    selection.hidden = false;
    place(selection, ...state.selection);
  }

  // --- pointer and keyboard ---
  let drag = null;
  let dragged = false;
  let swipe = null;
  track.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "touch") {
      swipe = { x: event.clientX, view: state.view };
      dragged = false;
      return;
    }
    if (event.pointerType !== "mouse" || event.button !== 0) return;
    drag = { x: event.clientX, from: timeAt(event.clientX) };
    dragged = false;
    track.setPointerCapture(event.pointerId);
  });
  track.addEventListener("pointermove", (event) => {
    if (swipe) {
      const moved = ((event.clientX - swipe.x) / (scroller.clientWidth || 1)) * visible();
      if (Math.abs(event.clientX - swipe.x) >= DRAG_PX) dragged = true;
      showFrom(swipe.view - moved);
      return;
    }
    if (!drag) return;
    if (!dragged && Math.abs(event.clientX - drag.x) < DRAG_PX) return;
    dragged = true;
    const to = timeAt(event.clientX);
    state.selection = [Math.min(drag.from, to), Math.max(drag.from, to)];
    showSelection();
  });
  track.addEventListener("pointerup", () => {
    if (drag && dragged && state.selection) onSelect(...state.selection);
    drag = null;
    swipe = null;
  });
  track.addEventListener("pointercancel", () => { drag = null; swipe = null; });
  track.addEventListener("click", (event) => {
    if (dragged) {
      dragged = false;
      return;
    }
    const at = timeAt(event.clientX);
    moveCursor(at);
    onPlay(at);
  });
  track.addEventListener("keydown", (event) => {
    const minutes = event.shiftKey ? 10 : 1;
    const moves = { ArrowLeft: -minutes * MINUTE, ArrowRight: minutes * MINUTE,
                    ArrowDown: -minutes * MINUTE, ArrowUp: minutes * MINUTE };
    const at = state.cursor ?? visibleRange()[0];
    if (event.key in moves) {
      moveCursor(Math.min(state.end, Math.max(state.start, at + moves[event.key])), { follow: true });
    } else if (event.key === "Home" || event.key === "End") {
      moveCursor(event.key === "Home" ? state.start : state.end - 1000, { follow: true });
    } else if (event.key === "Enter" || event.key === " ") {
      onPlay(at);
    } else if (event.key === "+" || event.key === "=") {
      zoomBy(1);
    } else if (event.key === "-") {
      zoomBy(-1);
    } else {
      return;
    }
    event.preventDefault();
  });
  // the labels' spacing depends on the width (a phone shows fewer)
  new ResizeObserver(() => renderTicks()).observe(scroller);
  scroller.addEventListener("wheel", (event) => {
    event.preventDefault();
    const sideways = event.shiftKey ? event.deltaY : event.deltaX;
    if (Math.abs(sideways) > Math.abs(event.shiftKey ? 0 : event.deltaY)) {  // pans
      showFrom(state.view + (sideways / (scroller.clientWidth || 1)) * visible());
      return;
    }
    const box = scroller.getBoundingClientRect();
    zoomBy(event.deltaY < 0 ? 1 : -1, timeAt(event.clientX), event.clientX - box.left);
  }, { passive: false });

  return {
    element,
    get cursor() { return state.cursor; },
    get selection() { return state.selection; },
    get zoom() { return state.zoom; },
    visibleRange,
    zoomBy,
    setZoom,
    moveCursor,
    // A new day: [start, end) and a cursor to start at; keeps the zoom level.
    setDay(start, end, cursorMs) {
      state.start = start;
      state.end = end;
      state.selection = null;
      showSelection();
      track.setAttribute("aria-valuemax", String(Math.round((end - start) / 1000)));
      moveCursor(cursorMs);
      setZoom(state.zoom, cursorMs ?? start);
    },
    setSpans(spans) {
      state.spans = spans;
      fill(spansLayer, spans.map((span) => {
        const type = recordType(span.types);
        return place(h("div", {
          class: `pb-span pb-type-${type}`, "data-type": type,
          title: `${clock(span.start, state.zone)}–${clock(span.end, state.zone)}: ${span.types.join(", ")}`,
        }), span.start, span.end);
      }));
    },
    setLocks(spans) {
      fill(locksLayer, spans.map((span) => place(h("div", {
        class: "pb-lock", title: `locked ${clock(span.start, state.zone)}–${clock(span.end, state.zone)}`,
      }), span.start, span.end)));
    },
    setTags(tags) {
      fill(tagsLayer, tags.map((tag) => {
        const mark = h("div", { class: "pb-tag", title: `${clock(tag.at, state.zone)} ${tag.name}` });
        mark.style.left = percent(tag.at);
        return mark;
      }));
    },
    setSelection(from, to) {
      state.selection = from !== null && to !== null && to > from ? [from, to] : null;
      showSelection();
    },
    // The first recorded instant at or after `ms` (null: none this day).
    nextFootage(ms) {
      for (const span of state.spans) {
        if (span.end > ms) return Math.max(span.start, ms);
      }
      return null;
    },
  };
}
