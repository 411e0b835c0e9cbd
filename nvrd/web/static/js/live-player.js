// Live video from the recorder in a <video> element: fragmented MP4 over a WebSocket,
// played with Media Source Extensions. No dependencies.
//
//   import { playLive } from "/static/js/live-player.js";
//   const player = playLive(video, "/api/v1/channels/1/live?stream=sub",
//                           { onStatus: (text) => label.textContent = text });
//   ...
//   player.close();
//
// The server's protocol (nvrd/web/routes/live_video.py): a JSON "init" message (MIME type
// with its codec string), the init segment (binary), then one binary fragment per frame;
// {"type": "offline"} while the camera is down. A new init means a new session: the
// player starts over with a new MediaSource.
//
// Choices:
// - SourceBuffer mode "sequence": each fragment goes right after the previous one, so the
//   frames a slow connection skipped, a camera's stalls and its timestamp jumps leave no
//   hole in the buffer for playback to stop at.
// - The buffer is trimmed behind currentTime (BACK_BUFFER_S kept), and the player jumps
//   to the live edge when it lags more than MAX_LAG_S (a tab in the background, a slow
//   machine, the GOP a new viewer is handed to start from).
// - An unexpected close reconnects with backoff (1 s doubling to 30 s). A close with 1008
//   (session ended) or 4404 (camera removed) does not: a person must act. Before the
//   socket opened, a browser cannot see why it was refused, so the player asks the same
//   address over plain HTTP, which answers the reason as JSON.

const MAX_LAG_S = 2.0;
const LIVE_OFFSET_S = 0.3;
const BACK_BUFFER_S = 10.0;
const MAX_PENDING = 300;
const BACKOFF_INITIAL_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const FINAL_CLOSE_CODES = new Set([1008, 4404]);
const FINAL_HTTP_STATUSES = new Set([400, 401, 403, 404, 409, 422]);

export function playLive(video, url, { onStatus } = {}) {
  const status = (text) => {
    if (onStatus) {
      try { onStatus(text); } catch (error) { console.error(error); }
    }
  };
  const address = new URL(url, window.location.href);
  const httpUrl = new URL(address);
  httpUrl.protocol = address.protocol.replace(/^ws/, "http");
  const wsUrl = new URL(address);
  wsUrl.protocol = address.protocol.replace(/^http/, "ws");

  let closed = false;
  let socket = null;
  let retryTimer = null;
  let backoffMs = BACKOFF_INITIAL_MS;
  let session = null;     // { source, buffer, pending, objectUrl }
  let initInfo = null;    // the JSON init message whose binary segment comes next

  function connect() {
    if (closed) return;
    status("connecting");
    let opened = false;
    const ws = new WebSocket(wsUrl);
    ws.binaryType = "arraybuffer";
    socket = ws;
    ws.onopen = () => { opened = true; status("waiting for video"); };
    ws.onmessage = (event) => {
      if (ws !== socket) return;
      if (typeof event.data === "string") {
        onText(JSON.parse(event.data));
      } else if (initInfo !== null) {
        const info = initInfo;
        initInfo = null;
        startSession(info, event.data);
      } else if (session !== null) {
        append(event.data);
      }
    };
    ws.onclose = (event) => {
      if (ws !== socket || closed) return;
      socket = null;
      if (FINAL_CLOSE_CODES.has(event.code)) {
        status(event.reason || `live view ended (${event.code})`);
        endSession();
        return;
      }
      if (!opened) {
        diagnose();
      } else {
        retry(event.reason || "connection lost");
      }
    };
  }

  function onText(message) {
    if (message.type === "init") {
      initInfo = message;
    } else if (message.type === "offline") {
      status(`offline: ${message.message}`);
    }
  }

  async function diagnose() {
    // the handshake was refused or failed: ask why over plain HTTP
    try {
      const response = await fetch(httpUrl, { credentials: "same-origin" });
      if (closed) return;
      if (response.status !== 426) {
        let text = `live view refused (HTTP ${response.status})`;
        try {
          const body = await response.json();
          if (body && body.error && body.error.message) text = body.error.message;
        } catch (error) { /* not JSON */ }
        if (FINAL_HTTP_STATUSES.has(response.status)) {
          status(text);
          return;
        }
        retry(text);
        return;
      }
    } catch (error) {
      if (!closed) retry("cannot reach the recorder");
      return;
    }
    retry("the connection failed");  // 426: it could have opened; try again
  }

  function retry(reason) {
    if (closed) return;
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
    status(`${reason}; reconnecting in ${Math.round(delay / 1000)} s`);
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, delay);
  }

  function restart(reason) {
    // start over from a key frame: a fresh connection sends a new init
    if (socket !== null) {
      const ws = socket;
      socket = null;
      ws.close(1000);
    }
    endSession();
    retry(reason);
  }

  function startSession(info, initSegment) {
    endSession();
    if (!window.MediaSource || !MediaSource.isTypeSupported(info.mime)) {
      status(`this browser cannot play ${info.codec || info.mime}`);
      return;
    }
    const source = new MediaSource();
    const current = { source, buffer: null, pending: [initSegment], objectUrl: null };
    session = current;
    current.objectUrl = URL.createObjectURL(source);
    source.addEventListener("sourceopen", () => {
      if (session !== current) return;
      URL.revokeObjectURL(current.objectUrl);
      current.objectUrl = null;
      try {
        const buffer = source.addSourceBuffer(info.mime);
        buffer.mode = "sequence";
        buffer.addEventListener("updateend", () => afterUpdate(current));
        buffer.addEventListener("error", () => {
          if (session === current) restart("the video could not be decoded");
        });
        current.buffer = buffer;
      } catch (error) {
        status(`cannot play ${info.codec}: ${error.message}`);
        return;
      }
      pump(current);
    }, { once: true });
    video.src = current.objectUrl;
    backoffMs = BACKOFF_INITIAL_MS;
    const size = info.width && info.height ? ` ${info.width}x${info.height}` : "";
    status(`playing ${info.stream || ""}${size}`.trim());
  }

  function endSession() {
    const old = session;
    session = null;
    if (old === null) return;
    if (old.objectUrl) URL.revokeObjectURL(old.objectUrl);
    if (old.source.readyState === "open") {
      try { old.source.endOfStream(); } catch (error) { /* being torn down */ }
    }
  }

  function append(data) {
    const current = session;
    current.pending.push(data);
    if (current.pending.length > MAX_PENDING) {
      restart("the browser fell behind");
      return;
    }
    pump(current);
  }

  function pump(current) {
    const buffer = current.buffer;
    if (session !== current || buffer === null || buffer.updating) return;
    if (trim(current)) return;
    const next = current.pending.shift();
    if (next === undefined) return;
    try {
      buffer.appendBuffer(next);
    } catch (error) {
      if (error.name === "QuotaExceededError") {
        current.pending.unshift(next);
        trim(current, true);
      } else {
        restart(`the video could not be buffered: ${error.message}`);
      }
    }
  }

  function trim(current, hard = false) {
    // remove what lies well behind the playhead; true when a removal started
    const buffer = current.buffer;
    const ranges = buffer.buffered;
    if (ranges.length === 0) return false;
    const keep = hard ? 1.0 : BACK_BUFFER_S;
    const start = ranges.start(0);
    const upTo = video.currentTime - keep;
    if (upTo - start < (hard ? 0.1 : BACK_BUFFER_S / 2)) return false;
    try {
      buffer.remove(start, upTo);
      return true;
    } catch (error) {
      return false;
    }
  }

  function afterUpdate(current) {
    if (session !== current) return;
    const ranges = current.buffer.buffered;
    if (ranges.length > 0) {
      const start = ranges.start(0);
      const end = ranges.end(ranges.length - 1);
      if (video.currentTime < start || end - video.currentTime > MAX_LAG_S) {
        video.currentTime = Math.max(start, end - LIVE_OFFSET_S);
      }
      if (video.paused && !video.ended) {
        video.play().catch(() => { /* autoplay refused: the page shows controls */ });
      }
    }
    pump(current);
  }

  connect();

  return {
    close() {
      if (closed) return;
      closed = true;
      if (retryTimer !== null) clearTimeout(retryTimer);
      if (socket !== null) {
        socket.close(1000);
        socket = null;
      }
      endSession();
      video.removeAttribute("src");
      video.load();
      status("closed");
    },
  };
}
