// The recorder's API, as the page uses it: JSON in and out, the session cookie, the CSRF
// header on every change, and every refusal as an ApiError carrying the server's sentence
// and, per field, what is wrong with it (nvrd/web/api/errors.py is the other side).
//
// The page has no back door: everything it shows or changes goes through these calls,
// which are the documented API (/api/v1/openapi.json).

const CSRF_HEADER = "X-CSRF-Token";
const SAFE = new Set(["GET", "HEAD"]);
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, code, message, details = [], retryAfter = null, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
    this.body = body;  // the whole answer (some refusals carry a report: a CSV import's rows)
  }

  // What is wrong with each field, keyed by the field's name in the form (the server's
  // "body.port" or "body.streams.main.url" becomes "port" / "streams.main.url").
  fields() {
    const found = new Map();
    for (const detail of this.details ?? []) {
      const name = String(detail.field ?? "").replace(/^(body|query|path)\./, "");
      if (name && !found.has(name)) found.set(name, detail.message);
    }
    return found;
  }
}

export function setCsrf(token) {
  csrfToken = token ?? null;
}

async function refusal(response) {
  let code = "http_" + response.status;
  let message = `the recorder answered ${response.status} ${response.statusText}`;
  let details = [];
  let body = null;
  try {
    body = await response.json();
    if (body && body.error) ({ code, message, details = [] } = body.error);
  } catch {
    // not JSON (a proxy's page): the status line says enough
  }
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, code, message, details,
    Number.isFinite(retry) && retry > 0 ? retry : null, body);
}

// One call. `body` is sent as JSON (a FormData or Blob as it is); answers parsed JSON,
// the text for non-JSON answers, null for 204, or the Response itself with `raw`.
export async function request(method, path, { body, signal, raw = false, headers = {} } = {}) {
  const init = { method, signal, credentials: "same-origin", headers: { ...headers } };
  if (!SAFE.has(method) && csrfToken) init.headers[CSRF_HEADER] = csrfToken;
  if (body !== undefined) {
    if (body instanceof FormData || body instanceof Blob || typeof body === "string") {
      init.body = body;
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", "the recorder does not answer: check the network connection");
  }
  if (!response.ok) {
    const error = await refusal(response);
    if (response.status === 401 && !path.endsWith("/session")) {
      window.dispatchEvent(new CustomEvent("nvrd:logged-out", { detail: error }));
    }
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") ?? "";
  return type.includes("json") ? response.json() : response.text();
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, body, options) => request("POST", path, { ...options, body }),
  put: (path, body, options) => request("PUT", path, { ...options, body }),
  patch: (path, body, options) => request("PATCH", path, { ...options, body }),
  delete: (path, options) => request("DELETE", path, options),
};

// A query string from an object, leaving out null and undefined values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

// A file upload with progress (fetch cannot report upload progress): XHR with the same
// cookie and CSRF header. `onProgress(fraction)`; `signal` aborts it.
export function upload(method, path, body, { onProgress, contentType, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    if (csrfToken) xhr.setRequestHeader(CSRF_HEADER, csrfToken);
    if (contentType) xhr.setRequestHeader("Content-Type", contentType);
    xhr.upload.onprogress = (event) => {
      if (onProgress && event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.upload.onload = () => onProgress?.(1);
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.onabort = () => reject(new DOMException("left the page", "AbortError"));
    xhr.onerror = () => reject(new ApiError(0, "unreachable", "the recorder does not answer: check the network connection"));
    xhr.onload = async () => {
      const response = new Response(xhr.response, {
        status: xhr.status, statusText: xhr.statusText,
        headers: { "Content-Type": xhr.getResponseHeader("Content-Type") ?? "" },
      });
      if (!response.ok) {
        if (response.status === 401) window.dispatchEvent(new CustomEvent("nvrd:logged-out"));
        return reject(await refusal(response));
      }
      const type = response.headers.get("Content-Type");
      resolve(type.includes("json") ? await response.json() : await response.text());
    };
    xhr.send(body);
  });
}

// A WebSocket URL on this origin for an API path.
export function socketUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}
