// What each channel is doing now (online, recording and why, bitrates), in one shape
// whichever route it came from:
// - with the `camera` right: GET /api/v1/cameras (names, live state per stream) and
//   GET /api/v1/recording/status (the record types);
// - without it: GET /api/v1/health, which answers everybody (it is the monitoring
//   route) with the same states and no addresses, so a viewer's tiles still say whether
//   their camera is online and recording.

import { api, ApiError } from "../../api.js";
import { formatTime } from "../../ui.js";

const TYPES = ["general", "motion", "alarm", "intelligent", "manual"];

// The record-type names of a RecordType bit set (bit 0 general, 1 motion ...).
export function typeNames(bits) {
  return TYPES.filter((_, bit) => (bits ?? 0) & (1 << bit));
}

// [{channel, name, enabled, online, error, recording, types, mode, streams}], where
// streams is [{name, online, bitrate_kbps, recording}] (main first).
export async function loadChannels(session, signal) {
  if (session.can("camera")) {
    const [cameras, recording] = await Promise.all([
      api.get("/api/v1/cameras", { signal }),
      api.get("/api/v1/recording/status", { signal }),
    ]);
    const byChannel = new Map(recording.map((r) => [r.channel, r]));
    return cameras.map((camera) => fromCamera(camera, byChannel.get(camera.channel)));
  }
  // 503 with the same report when the recorder is unhealthy: both are answers
  const response = await fetch("/api/v1/health", { signal, credentials: "same-origin" });
  if (![200, 503].includes(response.status)) {
    throw new ApiError(response.status, `http_${response.status}`,
                       `the recorder answered ${response.status} for its health`);
  }
  const health = await response.json();
  const byChannel = new Map(health.recording.map((r) => [r.channel, r]));
  return health.cameras.map((camera) => fromHealth(camera, byChannel.get(camera.channel)));
}

function sortedStreams(entries) {
  const order = (name) => (name === "main" ? 0 : name === "sub" ? 1 : 2);
  return entries.sort((a, b) => order(a.name) - order(b.name) || a.name.localeCompare(b.name));
}

function fromCamera(camera, recording) {
  const live = camera.live;
  const streams = sortedStreams(Object.entries(live.streams).map(([name, s]) => ({
    name, online: s.online, bitrate_kbps: s.bitrate_kbps, recording: s.recording,
    error: s.last_error,
  })));
  return {
    channel: camera.channel, name: camera.name, enabled: camera.enabled,
    online: live.online, error: streams.find((s) => s.error)?.error ?? null,
    recording: live.recording, types: recording?.types ?? [],
    mode: live.recording_mode ?? recording?.mode ?? null, streams,
  };
}

function fromHealth(camera, recording) {
  const written = recording?.streams ?? {};
  const streams = sortedStreams(Object.entries(camera.streams).map(([name, s]) => ({
    name, online: s.online, bitrate_kbps: s.bitrate_kbps,
    recording: Boolean(written[name]?.recording), error: s.last_error,
  })));
  return {
    channel: camera.channel, name: camera.name, enabled: camera.enabled,
    online: camera.online, error: streams.find((s) => s.error)?.error ?? null,
    recording: streams.some((s) => s.recording), types: typeNames(recording?.types),
    mode: recording?.mode ?? null, streams,
  };
}

// Bytes per second each recorded stream writes now, keyed as volumes name their
// streams ("ch3-main"): the measured bitrate of the streams being recorded.
export function recordedRates(channels) {
  const rates = new Map();
  for (const channel of channels ?? []) {
    for (const stream of channel.streams) {
      if (stream.recording && stream.bitrate_kbps) {
        rates.set(`ch${channel.channel}-${stream.name}`, (stream.bitrate_kbps * 1000) / 8);
      }
    }
  }
  return rates;
}

// How long a volume's space lasts at the rate its streams are written now, in seconds
// (null: nothing is recorded on it, or its size is unknown). The estimate:
// - "overwrite" (the default): the oldest recordings are deleted to keep `floor_bytes`
//   free, so footage fills the volume's size less that floor: the free space plus the
//   space of the recordings that will be overwritten (recycled). That span is how far
//   back the recordings will reach once the disk has filled.
// - "stop": recording stops at the floor, so what is left is the free space above it:
//   the time until recording stops.
// Both assume the volume holds only recordings and the bitrate stays as it is now.
export function retentionSeconds(volume, rates, policy) {
  const rate = volume.streams.reduce((sum, name) => sum + (rates.get(name) ?? 0), 0);
  if (!rate || volume.total_bytes === null || volume.free_bytes === null) return null;
  const floor = volume.floor_bytes ?? 0;
  const usable = policy === "stop" ? volume.free_bytes - floor : volume.total_bytes - floor;
  return { seconds: Math.max(0, usable) / rate, bytes: Math.max(0, usable), rate };
}

export function formatBitrate(kbps) {
  if (kbps === null || kbps === undefined) return "";
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`;
}

// A moment as a time of day when it is today, with its date otherwise.
export function shortTime(ms) {
  const today = new Date().toDateString() === new Date(ms).toDateString();
  return formatTime(ms, { date: !today });
}
