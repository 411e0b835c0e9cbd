// Playback: pick a channel and a day (a month calendar marks the days with footage), see
// the day's timeline coloured by record type, click it to play, change speed, take a
// picture, export or lock a range, tag a moment. Times are the recorder's (its time
// zone), as the calendar's days are.
//
// Parts: playback/calendar.js (day picker), playback/timeline.js (the day's spans, zoom,
// cursor, selection), playback/player.js (windows of an hour in a <video>),
// playback/actions.js (snapshot, export, lock, tag), playback/time.js (zoned time).
// Route parameters: ?channel=N&day=YYYY-MM-DD.

import { api, query } from "../api.js";
import { h, field, fill, notify, section } from "../ui.js";
import { calendar } from "./playback/calendar.js";
import { timeline } from "./playback/timeline.js";
import { player } from "./playback/player.js";
import { actions } from "./playback/actions.js";
import { clock, dayKey, dayRange, iso, parseDay, today, wallTime } from "./playback/time.js";

export const title = "Playback";

const REFRESH_MS = 15000;
const MAX_CHANNEL = 256;
const CURSOR_BEFORE_END_MS = 60 * 1000;

// The channels this session may play back, as [number, label] pairs. Camera names come
// from the camera list when the session may read it; otherwise the numbers its rights
// name (a right on every channel without the camera list: a number field instead).
async function playableChannels(ctx) {
  const session = ctx.session;
  if (session.can("camera")) {
    const cameras = await api.get("/api/v1/cameras", { signal: ctx.signal });
    return cameras.filter((camera) => session.canChannel("playback", camera.channel))
      .sort((a, b) => a.channel - b.channel)
      .map((camera) => [camera.channel, `${camera.channel} · ${camera.name}`]);
  }
  if (session.rights.all_channels.includes("playback")) return null;
  return Object.entries(session.rights.channels ?? {})
    .filter(([, rights]) => rights.includes("playback"))
    .map(([channel]) => Number(channel)).sort((a, b) => a - b)
    .map((channel) => [channel, `Channel ${channel}`]);
}

function spansOf(list) {
  return list.map((span) => ({ start: Date.parse(span.start), end: Date.parse(span.end), types: span.types ?? [] }));
}

export async function show(main, ctx) {
  const { signal, session } = ctx;
  main.append(h("h1", {}, "Playback"));
  const channels = await playableChannels(ctx);
  if (channels !== null && !channels.length) {
    main.append(h("p", {}, "There is no camera you may play back. Cameras are added in Settings → Cameras."));
    return;
  }
  const asked = Number(ctx.params.get("channel"));
  const state = {
    channel: channels === null ? (asked >= 1 && asked <= MAX_CHANNEL ? asked : 1)
      : (channels.find(([c]) => c === asked)?.[0] ?? channels[0][0]),
    day: null, zone: "UTC", start: 0, end: 0,
  };

  // the recorder's time zone (the calendar's days are its days): the days route says it
  const probe = wallTime(Date.now(), Intl.DateTimeFormat().resolvedOptions().timeZone);
  const first = await api.get(`/api/v1/channels/${state.channel}/days` + query({ year: probe.year, month: probe.month }), { signal });
  state.zone = first.timezone;
  const now = today(state.zone);
  state.day = parseDay(ctx.params.get("day")) ?? now;

  // --- the parts ---
  const channelField = channels === null
    ? field({ label: "Channel", name: "channel", type: "number", value: state.channel,
              attributes: { min: 1, max: MAX_CHANNEL, inputmode: "numeric" } })
    : field({ label: "Channel", name: "channel", type: "select", value: state.channel, options: channels });
  channelField.control.addEventListener("change", () => {
    const channel = Number(channelField.control.value);
    if (!Number.isInteger(channel) || channel < 1 || channel > MAX_CHANNEL) return;
    state.channel = channel;
    video.setChannel(channel);
    tools.showRights();
    keepParams();
    days.set(channel, state.day).catch(() => {});
    loadDay().catch(report);
  });
  const days = calendar({
    channel: state.channel, selected: state.day, today: now, signal,
    onPick(day) {
      state.day = day;
      keepParams();
      loadDay().catch(report);
    },
  });
  const line = timeline({
    zone: state.zone,
    onPlay: (at) => video.playFrom(at),
    onSelect: (from, to) => tools.setRange(from, to),
  });
  const video = player({
    zone: state.zone, signal,
    nextFootage: (at) => line.nextFootage(at),
    onPosition: (at) => line.moveCursor(at, { follow: true }),
    cursorTime: () => line.cursor,
  });
  video.setChannel(state.channel);
  const tools = actions({
    session, zone: state.zone, signal, video: video.video,
    channel: () => state.channel,
    moment: () => video.position() ?? line.cursor,
    onChanged: () => loadMarks().catch(report),
  });
  for (const input of [tools.startInput, tools.endInput]) {
    input.addEventListener("change", () => line.setSelection(...tools.range()));
  }
  const dayHeading = h("h2", { id: "pb-day" });
  const empty = h("p", { class: "pb-empty muted", hidden: true }, "Nothing is recorded on this channel this day.");
  const tagList = h("ul", { class: "pb-tag-list" });

  main.append(h("div", { class: "pb-layout" },
    h("div", { class: "pb-side" }, h("form", { class: "pb-channel", onsubmit: (e) => e.preventDefault() }, channelField),
      days.element),
    h("div", { class: "pb-body" },
      video.element,
      h("section", { "aria-labelledby": "pb-day" }, dayHeading, empty, line.element),
      tools.element,
      section("Tags this day", tagList))));

  function report(error) {
    if (error?.name !== "AbortError") notify(error.message ?? String(error), "error");
  }

  function keepParams() {
    ctx.setParams({ channel: state.channel, day: dayKey(state.day) });
  }

  async function loadSpans() {
    const answer = await api.get(`/api/v1/channels/${state.channel}/timeline`
      + query({ start: iso(state.start), end: iso(state.end) }), { signal });
    const spans = spansOf(answer.spans);
    line.setSpans(spans);
    empty.hidden = spans.length > 0;
    return spans;
  }

  async function loadMarks() {
    const range = query({ start: iso(state.start), end: iso(state.end) });
    const [locks, tags] = await Promise.all([
      api.get(`/api/v1/channels/${state.channel}/locks${range}`, { signal }),
      api.get("/api/v1/tags" + query({ channel: state.channel, start: iso(state.start), end: iso(state.end), limit: 1000 }), { signal }),
    ]);
    line.setLocks(spansOf(locks.spans));
    const marks = tags.tags.map((tag) => ({ ...tag, at: Date.parse(tag.at) })).sort((a, b) => a.at - b.at);
    line.setTags(marks);
    fill(tagList, marks.length ? marks.map((tag) => h("li", {},
      h("button", { type: "button", class: "link", onclick: () => video.playFrom(Date.parse(tag.play_from)) },
        `${clock(tag.at, state.zone)} ${tag.name}`),
      tag.note ? h("span", { class: "muted" }, ` — ${tag.note}`) : null,
      tag.recorded === false ? h("span", { class: "muted" }, " (footage gone)") : null))
      : h("li", { class: "muted" }, "No tags on this day."));
  }

  async function loadDay() {
    [state.start, state.end] = dayRange(state.zone, state.day);
    dayHeading.textContent = `Channel ${state.channel}, ${dayKey(state.day)}`;
    line.setDay(state.start, state.end, null);
    const spans = await loadSpans();
    // the cursor starts near the day's latest footage (today: a minute before now)
    const last = spans.at(-1);
    const cursor = last ? Math.max(last.start, last.end - CURSOR_BEFORE_END_MS) : null;
    line.moveCursor(cursor);
    line.setZoom(line.zoom, cursor ?? state.start);
    tools.setRange(null, null);
    tools.defaultRange(cursor);
    await loadMarks();
  }

  keepParams();
  await Promise.all([days.set(state.channel, state.day), loadDay()]);
  // today's footage grows: the timeline follows
  ctx.every(REFRESH_MS, async () => {
    if (dayKey(state.day) === dayKey(today(state.zone))) await loadSpans();
  });
}
