// The audit log (right "log_view"): search by type, user, text and time range, newest
// first, and export what the search finds as CSV (/api/v1/logs, /api/v1/logs/export).

import { api, query } from "../../api.js";
import { busy, field, fill, formatTime, h, table } from "../../ui.js";

const TYPES = ["system", "config", "camera", "security", "storage", "network", "poe", "ptz", "alarm",
               "hardware", "operation"];
const SHOWN = 200;

function isoOrNull(local) {
  return local ? new Date(local).toISOString() : null;
}

export async function showLogs(box, { signal }) {
  const type = field({ label: "Type", name: "type", type: "select",
                       options: [["", "any"], ...TYPES.map((t) => [t, t])] });
  const user = field({ label: "User", name: "user", attributes: { autocomplete: "off" } });
  const text = field({ label: "Text", name: "text", attributes: { autocomplete: "off" },
                       hint: "Found in the action, details, user or source." });
  const since = field({ label: "From", name: "since", type: "datetime-local" });
  const until = field({ label: "To", name: "until", type: "datetime-local" });
  const search = h("button", { type: "submit", class: "primary" }, "Search");
  const exportLink = h("a", { class: "button-link", href: "/api/v1/logs/export", download: "" }, "Export as CSV");
  const results = h("div", { class: "table-wrap", "aria-live": "polite" });
  const form = h("form", { class: "log-search", noValidate: true, role: "search", "aria-label": "Search the log" },
    h("div", { class: "filters" }, type, user, text, since, until),
    h("div", { class: "buttons" }, search, exportLink));
  fill(box, form, results);

  function filters() {
    return {
      type: type.control.value || null, user: user.control.value.trim() || null,
      text: text.control.value.trim() || null,
      since: isoOrNull(since.control.value), until: isoOrNull(until.control.value),
    };
  }

  async function run() {
    const wanted = filters();
    exportLink.href = "/api/v1/logs/export" + query(wanted);
    const rows = await api.get("/api/v1/logs" + query({ ...wanted, limit: SHOWN }), { signal });
    fill(results, table([
      ["Time", (r) => formatTime(r.time)],
      ["Type", (r) => r.type],
      ["User", (r) => r.user || "—"],
      ["From", (r) => r.source],
      ["Action", (r) => r.action],
      ["Result", (r) => h("span", { class: r.result === "ok" ? "ok" : "bad" }, r.result)],
      ["Details", (r) => r.details],
    ], rows, { caption: rows.length >= SHOWN ? `The newest ${SHOWN} entries found (narrow the search, or export all)`
                                             : `${rows.length} entries found`,
               empty: "nothing found" }));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(search, run, { form });
  });
  await run();
}
