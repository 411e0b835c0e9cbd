// Plays a channel's recordings from an instant: a window of up to an hour at a time
// (GET .../recordings: the plan, whose `url` is the MP4 with its end pinned to what is
// recorded now, so the browser's range requests always see the same file), in a plain
// <video> (the MP4 is faststart with byte ranges: seeking and playbackRate come free),
// and at the window's end the next one from where it stopped.
//
// The file keeps wall time (gaps=keep): its time 0 is the plan's first frame, so the
// position is first_frame + currentTime; a gap inside the window is skipped by seeking
// past it (the file would show its last frame until the footage resumes).

import { api, ApiError, query } from "../../api.js";
import { h } from "../../ui.js";
import { clock, iso } from "./time.js";

export const WINDOW_MS = 60 * 60 * 1000;
export const SPEEDS = [0.5, 1, 2, 4, 8];
const GAP_SLACK_MS = 500;
const LIVE_EDGE_MS = 5000;
const LIVE_WAIT_MS = 60 * 1000;
// At the live edge, how often to look for newer footage (a segment's fragments reach
// the catalog about once a second).
const RETRY_MS = 3000;

// player({zone, signal, nextFootage(ms), onPosition(ms), cursorTime()})
export function player({ zone, signal, nextFootage, onPosition, cursorTime }) {
  const state = { channel: null, rate: 1, window: null, token: 0, ended: false };
  const video = h("video", { id: "playback-video", class: "pb-video", playsInline: true, preload: "auto",
                             "aria-label": "Recording" });
  const time = h("output", { class: "pb-time", id: "pb-time", "aria-label": "Time of day playing" }, "--:--:--");
  const status = h("p", { class: "pb-status muted", role: "status" }, "Pick a moment on the timeline to play it.");
  const playButton = h("button", { type: "button", class: "primary", onclick: toggle }, "Play");
  const speedButtons = SPEEDS.map((speed) => h("button", {
    type: "button", class: "pb-speed", "aria-pressed": speed === 1 ? "true" : "false",
    "aria-label": `Speed ${speed}×`, onclick: () => setRate(speed),
  }, `${speed}×`));
  const element = h("div", { class: "pb-player" },
    h("div", { class: "pb-screen" }, video),
    h("div", { class: "pb-controls" },
      playButton,
      h("div", { class: "pb-speeds", role: "group", "aria-label": "Speed" }, speedButtons),
      h("span", { class: "pb-clock" }, h("label", { for: "pb-time" }, "Playing "), time)),
    status);

  const say = (text) => { status.textContent = text; };

  function position() {
    const w = state.window;
    if (!w || !video.src) return null;
    return w.firstFrame + video.currentTime * 1000;
  }

  function showPosition() {
    const at = position();
    if (at === null) return;
    time.textContent = clock(at, zone);
    time.dataset.ms = String(Math.round(at));
    onPosition(at);
  }

  function setRate(speed) {
    state.rate = speed;
    video.defaultPlaybackRate = speed;
    video.playbackRate = speed;
    for (const [i, button] of speedButtons.entries()) button.setAttribute("aria-pressed", String(SPEEDS[i] === speed));
  }

  function toggle() {
    if (!video.src || state.ended) {
      const at = state.ended ? position() : cursorTime();
      if (at !== null) playFrom(at);
      return;
    }
    if (video.paused) video.play().catch((error) => say(`The browser did not play: ${error.message}`));
    else video.pause();
  }

  async function plan(from) {
    const to = from + WINDOW_MS;
    try {
      return await api.get(`/api/v1/channels/${state.channel}/recordings` + query({ start: iso(from), end: iso(to) }),
                           { signal });
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  // Plays from `from` (an instant); `continuing`: the next window after one that ended.
  async function playFrom(from, { continuing = false } = {}) {
    const token = ++state.token;
    clearTimeout(state.retry);
    const previous = continuing ? state.window : null;
    state.ended = false;
    say(continuing ? `Loading the recordings from ${clock(from, zone)}…` : `Loading ${clock(from, zone)}…`);
    let answer;
    try {
      answer = await plan(from);
      if (answer === null) {
        const next = nextFootage(from + 1000);
        if (next !== null && token === state.token) {
          answer = await plan(next);
          from = next;
        }
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      if (token === state.token) say(error.message);
      return;
    }
    if (token !== state.token) return;
    const newer = answer && (!previous || Date.parse(answer.parts[0].last_frame) > previous.lastFrame);
    if (!newer && previous && from > Date.now() - LIVE_WAIT_MS) {
      // the live edge: wait for what is being recorded now
      state.ended = true;
      say(`Waiting for newer recordings (after ${clock(previous.lastFrame, zone)})…`);
      state.retry = setTimeout(() => {
        if (token === state.token) playFrom(from, { continuing: true });
      }, RETRY_MS);
      return;
    }
    if (answer === null) {
      video.pause();
      state.ended = true;
      say(continuing ? `End of the recordings (${clock(from, zone)}).`
                     : `Nothing is recorded at ${clock(from, zone)} or later this day.`);
      return;
    }
    const part = answer.parts[0];
    const firstFrame = Date.parse(answer.first_frame);
    const lastFrame = Date.parse(part.last_frame);
    if (!newer) {  // nothing after what just ended
      state.ended = true;
      say(`End of the recordings (${clock(lastFrame, zone)}).`);
      return;
    }
    const asked = from + WINDOW_MS;
    let next;
    if (part.continues_at) next = Date.parse(part.continues_at);
    else if (asked < Date.now() - LIVE_EDGE_MS && lastFrame < asked) next = asked;
    else next = lastFrame + 1;  // the live edge: what is recorded after this file
    state.window = {
      from, firstFrame, lastFrame, next,
      gaps: answer.gaps.map((gap) => [Date.parse(gap.start), Date.parse(gap.end)]),
    };
    video.src = part.url;
    video.defaultPlaybackRate = state.rate;
    await new Promise((resolve) => {
      video.addEventListener("loadedmetadata", resolve, { once: true });
      video.addEventListener("error", resolve, { once: true });
      signal.addEventListener("abort", resolve, { once: true });
    });
    if (token !== state.token || signal.aborted || video.error) {
      if (video.error && token === state.token) say(`The browser cannot play this recording: ${video.error.message || video.error.code}`);
      return;
    }
    const offset = (from - firstFrame) / 1000;
    if (offset > 0 && offset < video.duration) video.currentTime = offset;
    video.playbackRate = state.rate;
    showPosition();
    try {
      await video.play();
      say(`Playing from ${clock(Math.max(from, firstFrame), zone)}.`);
    } catch (error) {
      if (token === state.token) say(`Press Play to start (the browser held it back: ${error.message}).`);
    }
  }

  video.addEventListener("timeupdate", () => {
    const at = position();
    if (at === null) return;
    const gap = state.window?.gaps.find(([start, end]) => at >= start && at < end - GAP_SLACK_MS);
    if (gap) video.currentTime = (gap[1] - state.window.firstFrame) / 1000;
    showPosition();
  });
  video.addEventListener("seeked", showPosition);
  video.addEventListener("play", () => { playButton.textContent = "Pause"; });
  video.addEventListener("pause", () => { playButton.textContent = "Play"; });
  video.addEventListener("ended", () => {
    if (state.window) playFrom(state.window.next, { continuing: true });
  });
  signal.addEventListener("abort", () => {
    state.token += 1;
    clearTimeout(state.retry);
    video.pause();
    video.removeAttribute("src");
    video.load();
  });

  return {
    element,
    video,
    position,
    playFrom,
    setRate,
    get rate() { return state.rate; },
    setChannel(channel) {
      state.channel = channel;
      state.token += 1;
      clearTimeout(state.retry);
      state.window = null;
      video.pause();
      video.removeAttribute("src");
      video.load();
      time.textContent = "--:--:--";
      say("Pick a moment on the timeline to play it.");
    },
  };
}
