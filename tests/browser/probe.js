// Helpers the browser tests call on the page as window.nvrdProbe (installed as a
// Playwright init script, so it runs in every document of the test's context and is not
// subject to the daemon's Content-Security-Policy, which forbids inline scripts).
//
// Everything here observes what the browser itself did: the media element's own clock,
// the frames the compositor presented (requestVideoFrameCallback) and the pixels a canvas
// gets from the video. Nothing fakes or forces playback.
"use strict";

window.nvrdProbe = (() => {
  // A <video muted playsinline> in the page (muted: autoplay policies allow play()
  // without a user gesture), as large as the stream so a screenshot shows it.
  function video(id = "video") {
    const element = document.createElement("video");
    element.id = id;
    element.muted = true;
    element.playsInline = true;
    element.preload = "auto";
    element.style.cssText = "display:block;max-width:100%;background:#000";
    element.addEventListener("error", () => log(element, "error"));
    for (const name of ["loadedmetadata", "canplay", "playing", "seeking", "seeked",
                        "waiting", "stalled", "ended"]) {
      element.addEventListener(name, () => log(element, name));
    }
    document.body.append(element);
    return element;
  }

  function log(element, name) {
    (element.nvrdEvents ??= []).push(`${name}@${element.currentTime.toFixed(3)}`);
  }

  function byId(id) {
    const element = document.getElementById(id);
    if (!element) throw new Error(`no element #${id}`);
    return element;
  }

  // What the element says about itself, for assertions and failure messages.
  function state(id = "video") {
    const v = byId(id);
    const buffered = [];
    for (let i = 0; i < v.buffered.length; i++) {
      buffered.push([v.buffered.start(i), v.buffered.end(i)]);
    }
    return {
      currentTime: v.currentTime, duration: v.duration, paused: v.paused, ended: v.ended,
      playbackRate: v.playbackRate,
      readyState: v.readyState, networkState: v.networkState, seeking: v.seeking,
      videoWidth: v.videoWidth, videoHeight: v.videoHeight, buffered,
      error: v.error ? `${v.error.code}: ${v.error.message}` : null,
      events: (v.nvrdEvents ?? []).slice(-30),
      presented: v.nvrdPresented ?? null,
    };
  }

  // Resolves with the metadata of the next frame the compositor presents (or rejects
  // after timeoutMs): proof that a frame was painted, with its media time.
  function nextFrame(id = "video", timeoutMs = 10000) {
    const v = byId(id);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no frame presented in ${timeoutMs} ms: ` +
                               JSON.stringify(state(id)))), timeoutMs);
      v.requestVideoFrameCallback((now, metadata) => {
        clearTimeout(timer);
        const frame = {mediaTime: metadata.mediaTime, presentedFrames: metadata.presentedFrames,
                       width: metadata.width, height: metadata.height};
        v.nvrdPresented = frame;
        resolve(frame);
      });
    });
  }

  // The picture now shown, drawn onto a canvas: its size and how varied its pixels are
  // (a decoded camera picture has many colours; a black or blank frame has one).
  function pixels(id = "video") {
    const v = byId(id);
    const width = v.videoWidth, height = v.videoHeight;
    if (!width || !height) return {width, height, colours: 0, lumaMin: 0, lumaMax: 0};
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", {willReadFrequently: true});
    context.drawImage(v, 0, 0, width, height);
    const data = context.getImageData(0, 0, width, height).data;
    const colours = new Set();
    let lumaMin = 255, lumaMax = 0;
    for (let i = 0; i < data.length; i += 4) {
      // 4 bits a channel: compression noise does not count as variety
      colours.add(((data[i] >> 4) << 8) | ((data[i + 1] >> 4) << 4) | (data[i + 2] >> 4));
      const luma = (data[i] * 299 + data[i + 1] * 587 + data[i + 2] * 114) / 1000;
      lumaMin = Math.min(lumaMin, luma);
      lumaMax = Math.max(lumaMax, luma);
    }
    return {width, height, colours: colours.size, lumaMin, lumaMax};
  }

  // Seek and wait for the element's "seeked" (rejects after timeoutMs).
  function seek(id, seconds, timeoutMs = 10000) {
    const v = byId(id);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`seek to ${seconds} s not done in ${timeoutMs} ms: ` +
                               JSON.stringify(state(id)))), timeoutMs);
      v.addEventListener("seeked", () => {
        clearTimeout(timer);
        resolve(v.currentTime);
      }, {once: true});
      v.currentTime = seconds;
    });
  }

  return {video, state, nextFrame, pixels, seek};
})();
