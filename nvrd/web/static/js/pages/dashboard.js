// The dashboard: what the recorder is doing now, at a glance.
//
// - Live tiles of the channels the person may watch live (dashboard/tiles.js).
// - The recorder's summary (GET /api/v1/status, any login), disks with a retention
//   estimate (storage right), PoE ports and budget (camera right), alarm inputs and
//   outputs (events right): dashboard/panels.js. A panel needing a right the person
//   lacks is left out, not shown as an error.
// - Recent events, live (dashboard/events.js).
//
// Everything but the events is polled every POLL_MS (and at once when the live stream
// says an alarm, PoE, bay or volume state changed); events come over the stream.
// show() resolves once every panel shows its first answer, not when video paints.

import { api } from "../api.js";
import { h, section } from "../ui.js";
import { loadChannels } from "./dashboard/channels.js";
import { liveTiles } from "./dashboard/tiles.js";
import { summaryPanel, disksPanel, poePanel, alarmsPanel } from "./dashboard/panels.js";
import { eventsPanel } from "./dashboard/events.js";

export const title = "Dashboard";

const POLL_MS = 3000;
const SOON_MS = 250;

// {value} or {error}; an abort (the person left) is thrown on.
async function settle(promise) {
  if (promise === null) return null;
  try {
    return { value: await promise };
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    return { error };
  }
}

// Leaving the page aborts what is under way: not worth a word in the console.
function quiet(error) {
  if (error?.name !== "AbortError") console.warn(error);
}

export async function show(main, ctx) {
  const { session, signal } = ctx;
  const options = { signal };
  let channels = null;
  const cameraName = (number) => channels?.value?.find((c) => c.channel === number)?.name ?? null;
  const channelName = (number) => {
    const name = cameraName(number);
    return name ? `${name} (ch ${number})` : `channel ${number}`;
  };

  const summary = summaryPanel();
  const tiles = liveTiles(ctx);
  const disks = session.can("storage") ? disksPanel() : null;
  const poe = session.can("camera") ? poePanel(cameraName) : null;
  const alarms = session.can("events") ? alarmsPanel() : null;
  let refreshTimer = null;
  const events = eventsPanel(ctx, {
    channelName,
    onChange: () => {
      if (refreshTimer !== null || signal.aborted) return;
      refreshTimer = setTimeout(() => {
        refreshTimer = null;
        refresh().catch(quiet);
      }, SOON_MS);
    },
  });
  signal.addEventListener("abort", () => clearTimeout(refreshTimer));

  const tilesSection = section("Live", tiles.element);
  tilesSection.classList.add("dash-live-section");
  main.append(
    h("h1", {}, title),
    summary.element,
    tilesSection,
    h("div", { class: "dash-panels" },
      disks?.element, poe?.element, alarms?.element, events.element));

  let running = null;
  async function poll() {
    const [status, found, storage, power, terminals] = await Promise.all([
      settle(api.get("/api/v1/status", options)),
      settle(loadChannels(session, signal)),
      settle(disks ? api.get("/api/v1/storage", options) : null),
      settle(poe ? Promise.all([api.get("/api/v1/poe", options), api.get("/api/v1/poe/budget", options)])
        .then(([ports, budget]) => ({ ports, budget })) : null),
      settle(alarms ? api.get("/api/v1/alarms", options) : null),
    ]);
    if (signal.aborted) return;
    summary.render(status);
    tiles.showProblem(found.error ? found.error.message ?? String(found.error) : null);
    if (found.value) {
      channels = found;
      tiles.render(found.value);
    } else if (!channels) {
      channels = found;
    }
    disks?.render(storage, channels);
    poe?.render(power);
    alarms?.render(terminals);
    if (found.value) events.render();
  }
  // One refresh at a time: a slow answer is not overtaken by the next poll's.
  function refresh() {
    running ??= poll().finally(() => { running = null; });
    return running;
  }

  await Promise.all([refresh(), events.start()]);
  ctx.every(POLL_MS, () => Promise.all([refresh(), events.poll()]).catch(quiet));
}
