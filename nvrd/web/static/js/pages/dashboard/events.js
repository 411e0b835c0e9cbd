// Recent events, updating live: the newest events of the log (GET /api/v1/events, with
// the log_view right) and, as they happen, those of the live event stream
// (GET /api/v1/events/live, Server-Sent Events; any logged-in user, filtered by the
// server to the channels the person may play back).
//
// The stream is opened before the log is read, so an event that happens in between is
// not lost (both carry the event's id: duplicates are dropped). The same stream carries
// the alarm, PoE, bay and storage states as they change: `onChange(topic)` lets the
// dashboard refresh those panels at once instead of at the next poll.

import { api, query } from "../../api.js";
import { h, fill, section, table } from "../../ui.js";
import { shortTime } from "./channels.js";

const SHOWN = 20;
const STATE_TOPICS = ["alarm", "poe", "bay", "storage"];
const OPEN_WAIT_MS = 5000;

export function eventsPanel(ctx, { channelName, onChange }) {
  const state = h("p", { class: "dash-live muted", role: "status" }, "connecting…");
  const body = h("div", { class: "dash-body" }, h("p", { class: "loading" }, "Loading…"));
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const element = section("Recent events", state, problem, body);
  element.classList.add("card", "dash-panel", "dash-events");
  element.dataset.panel = "events";
  const mayReadLog = ctx.session.can("log_view");
  const events = new Map();  // id -> event
  let labels = new Map();
  let stream = null;
  let streamFailed = false;

  function add(event) {
    events.set(event.id, event);
    const ids = [...events.keys()].sort((a, b) => b - a);
    for (const id of ids.slice(SHOWN)) events.delete(id);
  }

  function where(event) {
    if (event.channel !== null && event.channel !== undefined) return channelName(event.channel);
    const input = /^alarm-in:(\d+)$/.exec(event.source);
    if (input) return event.details?.name ? `${event.details.name} (IN ${input[1]})` : `alarm input ${input[1]}`;
    return event.details?.name ?? event.source;
  }

  function what(event) {
    const label = labels.get(event.kind) ?? event.kind.replaceAll("_", " ");
    const phase = event.phase === "start" ? " started" : event.phase === "stop" ? " ended" : "";
    const reason = event.details?.reason;
    return [h("span", { class: event.phase === "start" ? "bad" : null }, label + phase),
      reason ? h("span", { class: "muted dash-reason" }, reason) : null];
  }

  function render() {
    const rows = [...events.values()].sort((a, b) => b.id - a.id);
    const element = table([
      ["Time", (e) => h("time", { datetime: new Date(e.time_us / 1000).toISOString() },
        shortTime(e.time_us / 1000))],
      ["Event", what],
      ["Where", where],
    ], rows, {
      empty: mayReadLog ? "no events yet" : "no events since this page was opened",
    });
    element.querySelectorAll("tbody tr").forEach((tr, i) => {
      if (rows[i]) tr.dataset.eventId = rows[i].id;
    });
    fill(body, h("div", { class: "table-wrap" }, element));
  }

  async function readLog() {
    if (!mayReadLog) return;
    try {
      const page = await api.get("/api/v1/events" + query({ limit: SHOWN }), { signal: ctx.signal });
      for (const event of page.events) add(event);
      problem.hidden = true;
    } catch (error) {
      if (error.name === "AbortError") throw error;
      if (error.status === 403) return;
      problem.textContent = `The event log cannot be read: ${error.message}`;
      problem.hidden = false;
    }
  }

  // Resolves once the stream is open (or has failed, or after OPEN_WAIT_MS).
  function openStream() {
    const topics = ["event", ...STATE_TOPICS].join(",");
    stream = new EventSource("/api/v1/events/live" + query({ topics }));
    ctx.signal.addEventListener("abort", () => stream.close());
    stream.addEventListener("event", (message) => {
      add(JSON.parse(message.data).data);
      render();
    });
    for (const topic of STATE_TOPICS) stream.addEventListener(topic, () => onChange(topic));
    stream.addEventListener("lagged", async () => {
      // messages were lost: what the panels show may be stale
      onChange("lagged");
      await readLog().catch(() => {});
      render();
    });
    stream.addEventListener("end", (message) => {
      const { reason, message: text } = JSON.parse(message.data).data;
      if (reason === "session_ended") {
        stream.close();
        state.textContent = `Live updates ended: ${text}`;
      } else {
        state.textContent = `Live updates paused: ${text}; reconnecting…`;
      }
    });
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, OPEN_WAIT_MS);
      stream.addEventListener("open", () => {
        streamFailed = false;
        state.textContent = "Live: new events appear here as they happen.";
        clearTimeout(timer);
        resolve();
      });
      stream.addEventListener("error", () => {
        if (stream.readyState === EventSource.CLOSED) {
          // refused (too many streams, logged out): the dashboard's poll reads the log
          streamFailed = true;
          state.textContent = mayReadLog
            ? "Live updates are not available: the list is refreshed every few seconds."
            : "Live updates are not available.";
        } else {
          state.textContent = "Connection lost: reconnecting…";
        }
        clearTimeout(timer);
        resolve();
      });
    });
  }

  return {
    element,
    // The first data: the kinds' names, the log's newest events, the stream open.
    async start() {
      const opened = openStream();
      const [kinds] = await Promise.all([
        api.get("/api/v1/events/kinds", { signal: ctx.signal }).catch((error) => {
          if (error.name === "AbortError") throw error;
          return [];
        }),
        readLog(),
      ]);
      labels = new Map(kinds.map((k) => [k.kind, k.label]));
      await opened;
      render();
    },
    // Called with the dashboard's poll: only needed when the stream could not be had.
    async poll() {
      if (!streamFailed) return;
      await readLog();
      render();
    },
    // Channel names may have arrived or changed.
    render,
  };
}
