// What one does with footage once found: a picture of the moment, a range exported as
// an MP4 (with progress), locked against retention, or a moment tagged with a name.
// Each control is shown only with the right the API asks for it.

import { api, ApiError, request, query } from "../../api.js";
import { h, field, busy, notify, progressBar, section, fill, formatBytes } from "../../ui.js";
import { clock, iso, localInput, parseLocalInput } from "./time.js";

const DEFAULT_RANGE_MS = 5 * 60 * 1000;
// Above this, an export is not gathered in the page's memory (a Blob) for its progress
// bar: the browser downloads it itself, with its own progress.
const IN_PAGE_MAX_BYTES = 512e6;

function fileName(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "");
  return match ? match[1] : fallback;
}

function saveLink(blob, name, text) {
  const link = h("a", { href: URL.createObjectURL(blob), download: name, class: "pb-save" }, text);
  return link;
}

// actions({session, zone, signal, channel(), moment(), onChanged()}) -> {element, setRange(from, to)}
// `moment()`: the instant shown (the video's position, else the timeline's cursor).
export function actions({ session, zone, signal, channel, moment, video, onChanged }) {
  // --- the range: export, lock ---
  const start = field({ label: "From", name: "start", type: "datetime-local", attributes: { step: "1" } });
  const end = field({ label: "To", name: "end", type: "datetime-local", attributes: { step: "1" } });
  const progress = progressBar("Export progress");
  progress.element.hidden = true;
  const result = h("p", { class: "pb-result", role: "status" });
  const rangeForm = h("form", { class: "pb-range", onsubmit: (event) => event.preventDefault() },
    h("div", { class: "pb-range-fields" }, start, end),
    h("p", { class: "hint" }, "Drag on the timeline to select a range, or type it (recorder time)."));
  const exportButton = h("button", { type: "button", class: "primary", onclick: exportRange }, "Export");
  const lockButton = h("button", { type: "button", onclick: () => lock(true) }, "Lock range");
  const unlockButton = h("button", { type: "button", onclick: () => lock(false) }, "Unlock range");
  let exporting = null;
  const cancelButton = h("button", { type: "button", hidden: true, onclick: () => exporting?.abort() }, "Cancel export");
  const canLock = session.can("storage");
  rangeForm.append(h("div", { class: "buttons" }, exportButton, cancelButton,
    canLock ? lockButton : null, canLock ? unlockButton : null),
    progress.element, result);
  // the export right is per channel
  const showRights = () => { exportButton.hidden = !session.canChannel("export", channel()); };
  showRights();

  function range() {
    const from = parseLocalInput(start.control.value, zone);
    const to = parseLocalInput(end.control.value, zone);
    return [from, to];
  }

  function checkRange() {
    const [from, to] = range();
    const problem = from === null ? ["start", "give the start of the range"]
      : to === null ? ["end", "give the end of the range"]
      : to <= from ? ["end", "the end must be after the start"] : null;
    if (problem) throw refusal(problem[0], problem[1]);
    return [from, to];
  }

  async function exportRange() {
    exporting = new AbortController();
    const stop = () => exporting?.abort();
    signal.addEventListener("abort", stop, { once: true });
    cancelButton.hidden = false;
    fill(result);
    await busy(exportButton, async () => {
      const [from, to] = checkRange();
      const params = query({ start: iso(from), end: iso(to) });
      progress.element.hidden = false;
      progress.update(null, "Preparing the file…");
      const plan = await api.get(`/api/v1/channels/${channel()}/recordings${params}`, { signal: exporting.signal });
      if (plan.bytes > IN_PAGE_MAX_BYTES) {
        progress.element.hidden = true;
        const url = `/api/v1/channels/${channel()}/export.mp4${params}`;
        fill(result, `The file is large (${formatBytes(plan.bytes)}): `,
             h("a", { href: url, download: "" }, "download it"), " with the browser's own progress.");
        return;
      }
      const response = await request("GET", `/api/v1/channels/${channel()}/export.mp4${params}`,
                                     { raw: true, signal: exporting.signal });
      const total = Number(response.headers.get("Content-Length")) || plan.bytes;
      const reader = response.body.getReader();
      const chunks = [];
      let received = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        received += value.length;
        progress.update(received / total, `${formatBytes(received)} of ${formatBytes(total)}`);
      }
      const name = fileName(response, `channel${channel()}.mp4`);
      const blob = new Blob(chunks, { type: "video/mp4" });
      progress.update(1, `${formatBytes(received)}: done`);
      fill(result, "Exported: ", saveLink(blob, name, `Save ${name}`),
        plan.gaps.length ? ` (${plan.gaps.length} gap(s) without footage in the range)` : "");
      result.querySelector("a").click();
    }, { form: rangeForm });
    signal.removeEventListener("abort", stop);
    if (exporting.signal.aborted) {
      progress.element.hidden = true;
      fill(result, "Export cancelled.");
    }
    exporting = null;
    cancelButton.hidden = true;
  }

  async function lock(locked) {
    fill(result);
    const button = locked ? lockButton : unlockButton;
    const done = await busy(button, async () => {
      const [from, to] = checkRange();
      return api.post(`/api/v1/channels/${channel()}/locks`, { start: iso(from), end: iso(to), locked }, { signal });
    }, { form: rangeForm });
    if (done.error) return;
    const count = done.value.segments;
    fill(result, `${count} recorded segment${count === 1 ? "" : "s"} ${locked ? "locked" : "unlocked"}.`);
    notify(locked ? "The range is locked: retention keeps it." : "The range is unlocked.");
    onChanged();
  }

  // --- a tag at the moment shown ---
  const tagName = field({ label: "Tag name", name: "name", attributes: { maxlength: "64", required: true } });
  const tagNote = field({ label: "Note (optional)", name: "note", attributes: { maxlength: "1000" } });
  const tagButton = h("button", { type: "submit" }, "Add tag");
  const tagResult = h("p", { class: "pb-result", role: "status" });
  const tagForm = h("form", { class: "pb-tag-form", onsubmit: addTag }, tagName, tagNote,
    h("div", { class: "buttons" }, tagButton), tagResult);

  async function addTag(event) {
    event.preventDefault();
    fill(tagResult);
    const at = moment();
    const done = await busy(tagButton, async () => {
      if (at === null) throw refusal("name", "pick a moment on the timeline first");
      const note = tagNote.control.value.trim();
      return api.post(`/api/v1/channels/${channel()}/tags`,
                      { at: iso(at), name: tagName.control.value.trim(), note: note || null }, { signal });
    }, { form: tagForm });
    if (done.error) return;
    fill(tagResult, `Tag “${done.value.name}” added at ${clock(Date.parse(done.value.at), zone)}.`);
    tagName.control.value = "";
    tagNote.control.value = "";
    onChanged();
  }

  // --- a picture of the moment ---
  const snapButton = h("button", { type: "button", onclick: snapshot }, "Snapshot");
  const snapResult = h("div", { class: "pb-snapshot", role: "status" });

  async function snapshot() {
    fill(snapResult);
    const done = await busy(snapButton, async () => {
      const at = moment();
      if (at === null) throw new Error("pick a moment on the timeline first");
      let blob;
      let shown = at;
      if (video.src && video.readyState >= 2 && video.videoWidth) {
        // the frame on screen, exactly (same origin: the canvas is not tainted)
        const canvas = h("canvas", { width: video.videoWidth, height: video.videoHeight });
        canvas.getContext("2d").drawImage(video, 0, 0);
        blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
      } else {
        // nothing playing: the recorder's picture (the key frame at or before the moment)
        const response = await request("GET", `/api/v1/channels/${channel()}/picture` + query({ at: iso(at) }),
                                       { raw: true, signal });
        shown = Date.parse(response.headers.get("X-Nvrd-Picture-Time") ?? "") || at;
        blob = await response.blob();
      }
      return { blob, shown };
    });
    if (done.error) return;
    const { blob, shown } = done.value;
    const stamp = new Date(shown).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const name = `ch${String(channel()).padStart(2, "0")}_${stamp}.jpg`;
    const url = URL.createObjectURL(blob);
    fill(snapResult, h("figure", {},
      h("img", { src: url, alt: `Snapshot of channel ${channel()} at ${clock(shown, zone)}` }),
      h("figcaption", {}, `${clock(shown, zone)} `, saveLink(blob, name, "Save picture"))));
  }

  const element = h("div", { class: "pb-actions" },
    section("Range", rangeForm),
    section("Tag this moment", tagForm),
    section("Picture", h("div", { class: "buttons" }, snapButton), snapResult));

  return {
    element,
    showRights,
    setRange(from, to) {
      start.control.value = from === null ? "" : localInput(from, zone);
      end.control.value = to === null ? "" : localInput(to, zone);
    },
    // A range around `at` unless one was chosen.
    defaultRange(at) {
      if (start.control.value || end.control.value || at === null) return;
      this.setRange(at, at + DEFAULT_RANGE_MS);
    },
    range,
    startInput: start.control,
    endInput: end.control,
  };
}

// A refusal made here, shown like the server's (next to the field it is about).
function refusal(name, message) {
  return new ApiError(422, "validation_failed", message, [{ field: name, message }]);
}
