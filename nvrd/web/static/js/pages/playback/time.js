// Times on the playback page are the recorder's (its time zone, `system.timezone`, as
// the days of the calendar are: GET .../days says which zone), not the browser's: the
// installer on site and the footage's own clock agree, whatever laptop looks at it.
// These helpers convert between instants (ms since the epoch) and wall times in a zone
// with Intl only (no time zone library).

const formats = new Map();

function formatter(zone) {
  let found = formats.get(zone);
  if (!found) {
    found = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    formats.set(zone, found);
  }
  return found;
}

// The wall time of `ms` in `zone`: {year, month (1-12), day, hour, minute, second}.
export function wallTime(ms, zone) {
  const found = {};
  for (const part of formatter(zone).formatToParts(new Date(ms))) {
    if (part.type !== "literal") found[part.type] = Number(part.value);
  }
  return found;
}

// How far `zone` is ahead of UTC at `ms` (ms).
function offsetAt(ms, zone) {
  const w = wallTime(ms, zone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(ms / 1000) * 1000;
}

// The instant of a wall time in `zone` (the earlier one when a DST change repeats it).
export function zonedMs(zone, year, month, day, hour = 0, minute = 0, second = 0) {
  const guess = Date.UTC(year, month - 1, day, hour, minute, second);
  const first = guess - offsetAt(guess, zone);
  return guess - offsetAt(first, zone);
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

// "2026-11-22" (the route's `day` parameter) <-> {year, month, day}.
export function dayKey({ year, month, day }) {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

export function parseDay(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text ?? "");
  if (!match) return null;
  const [year, month, day] = match.slice(1).map(Number);
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  return { year, month, day };
}

export function today(zone) {
  const { year, month, day } = wallTime(Date.now(), zone);
  return { year, month, day };
}

// [start, end) of a day in `zone` (23 or 25 hours on DST days).
export function dayRange(zone, { year, month, day }) {
  const next = new Date(Date.UTC(year, month - 1, day + 1));
  return [zonedMs(zone, year, month, day),
          zonedMs(zone, next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate())];
}

// "08:15:02" (or "08:15") in `zone`.
export function clock(ms, zone, seconds = true) {
  const w = wallTime(ms, zone);
  return `${pad(w.hour)}:${pad(w.minute)}` + (seconds ? `:${pad(w.second)}` : "");
}

// "2026-11-22T08:15:02": what a <input type="datetime-local" step="1"> holds, in `zone`.
export function localInput(ms, zone) {
  const w = wallTime(ms, zone);
  return `${dayKey(w)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
}

export function parseLocalInput(text, zone) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(text ?? "");
  if (!match) return null;
  const [year, month, day, hour, minute, second = 0] = match.slice(1).map((v) => Number(v ?? 0));
  return zonedMs(zone, year, month, day, hour, minute, second);
}

// An instant as the API takes it.
export function iso(ms) {
  return new Date(Math.round(ms)).toISOString();
}

// "30 min", "6 h".
export function spanWords(ms) {
  const minutes = Math.round(ms / 60000);
  return minutes % 60 ? `${minutes} min` : `${minutes / 60} h`;
}
