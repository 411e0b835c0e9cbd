// The live tiles: one <video> per channel the person may watch live (the sub stream, so a
// wall of them stays light), with the channel's name and a status line under it.
// Tiles are kept across refreshes (their players keep playing); a channel that appears
// gets a tile, one that goes away loses it, and every player closes when the page is
// left (ctx.signal).

import { h, fill } from "../../ui.js";
import { playLive } from "../../live-player.js";
import { formatBitrate } from "./channels.js";

export function liveTiles(ctx) {
  const grid = h("div", { class: "dash-tiles" });
  const empty = h("p", { class: "muted", hidden: true },
    "No camera you may watch live is set up.");
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const element = h("div", {}, problem, grid, empty);
  const tiles = new Map();  // channel -> tile

  ctx.signal.addEventListener("abort", () => {
    for (const tile of tiles.values()) tile.player.close();
    tiles.clear();
  });

  function render(channels) {
    if (ctx.signal.aborted) return;
    const shown = channels
      .filter((c) => c.enabled && ctx.session.canChannel("live", c.channel))
      .sort((a, b) => a.channel - b.channel);
    const wanted = new Set(shown.map((c) => c.channel));
    for (const [channel, tile] of tiles) {
      if (!wanted.has(channel)) {
        tile.player.close();
        tile.element.remove();
        tiles.delete(channel);
      }
    }
    for (const channel of shown) {
      let tile = tiles.get(channel.channel);
      if (!tile) {
        tile = newTile(channel.channel);
        tiles.set(channel.channel, tile);
      }
      update(tile, channel);
    }
    // keep the grid in channel order (a new channel may sort between others)
    grid.append(...shown.map((c) => tiles.get(c.channel).element));
    empty.hidden = shown.length > 0;
  }

  // Why the channels' states could not be had (null: they could).
  function showProblem(message) {
    problem.textContent = message ? `The cameras' state cannot be read: ${message}` : "";
    problem.hidden = !message;
  }

  return { element, render, showProblem };
}

function newTile(channel) {
  const video = h("video", {
    id: `live-${channel}`, muted: true, autoplay: true, playsInline: true,
    "aria-label": `Live view of channel ${channel}`,
  });
  const playerState = h("span", { class: "dash-player", "aria-live": "polite" }, "connecting");
  const name = h("strong", { class: "dash-name" });
  const state = h("span", { class: "dash-state" });
  const element = h("figure", { class: "dash-tile", "data-channel": channel },
    h("div", { class: "dash-video" }, video, playerState),
    h("figcaption", {}, h("span", { class: "dash-title" }, name, " ",
      h("span", { class: "muted" }, `ch ${channel}`)), state));
  const player = playLive(video, `/api/v1/channels/${channel}/live?stream=sub`, {
    onStatus: (text) => {
      playerState.textContent = text;
      playerState.hidden = text.startsWith("playing");
    },
  });
  return { element, video, name, state, player, label: null };
}

function update(tile, channel) {
  tile.name.textContent = channel.name;
  if (tile.label !== channel.name) {
    tile.video.setAttribute("aria-label", `Live view of ${channel.name} (channel ${channel.channel})`);
    tile.label = channel.name;
  }
  fill(tile.state, ...statusLine(channel));
}

// online/offline, recording (and why), bitrates: "online · recording general ·
// main 2.0 Mbit/s, sub 300 kbit/s".
export function statusLine(channel) {
  const parts = [];
  parts.push(channel.online
    ? h("span", { class: "online" }, "online")
    : h("span", { class: "offline", title: channel.error ?? null },
        channel.error ? `offline: ${channel.error}` : "offline"));
  if (channel.recording) {
    const why = channel.types.length ? ` ${channel.types.join(", ")}` : "";
    parts.push(h("span", { class: "dash-rec" }, `recording${why}`));
  } else {
    parts.push(h("span", { class: "muted" },
      channel.mode === "off" ? "recording off" : "not recording"));
  }
  const rates = channel.streams.filter((s) => s.online && s.bitrate_kbps)
    .map((s) => `${s.name} ${formatBitrate(s.bitrate_kbps)}`);
  if (rates.length) parts.push(h("span", { class: "dash-rate" }, rates.join(", ")));
  return parts.flatMap((part, i) => (i ? [" · ", part] : [part]));
}
