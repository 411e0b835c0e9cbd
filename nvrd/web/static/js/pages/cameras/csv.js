// The camera list as a CSV file: export (a download of GET /api/v1/cameras/export.csv,
// passwords in clear text, as the vendor's file) and import (POST
// /api/v1/cameras/import: upload with progress, then the report: the rows imported and,
// for every row refused, its number as the spreadsheet shows it, the column and why).

import { ApiError, upload } from "../../api.js";
import { h, field, fill, busy, table, progressBar, errorBox } from "../../ui.js";

const EXPORT_PATH = "/api/v1/cameras/export.csv";
const IMPORT_PATH = "/api/v1/cameras/import";
const MAX_BYTES = 1 << 20;  // nvrd/cameras/csvfile.py MAX_CSV_BYTES

export function csvSection(ctx, imported) {
  const download = h("a", { href: EXPORT_PATH, download: "", class: "button-link" }, "Download the camera list (CSV)");
  const file = field({ label: "Camera list file (CSV)", name: "file", type: "file",
    attributes: { accept: ".csv,text/csv" }, hint: "As the export writes it (the vendor's RemoteConfig_….csv), at most 1 MiB." });
  const duplicates = field({ label: "A row for a channel or address that has a camera", name: "duplicates", type: "select",
    value: "replace", options: [["replace", "replaces that camera"], ["next_free", "goes on the next free channel"]] });
  const check = h("button", { type: "button" }, "Check only");
  const go = h("button", { type: "submit", class: "primary" }, "Import");
  const progress = progressBar("Import progress");
  progress.element.hidden = true;
  const report = h("div", { class: "import-report", "aria-label": "Import report" });
  const form = h("form", { class: "card", "aria-label": "Import cameras" }, errorBox(),
    h("h3", {}, "Import"), file, duplicates, h("div", { class: "buttons" }, check, go), progress.element);
  form.noValidate = true;

  async function run(button, dryRun) {
    const chosen = file.control.files?.[0];
    fill(report);
    if (!chosen) {
      return busy(button, () => Promise.reject(new Error("Choose the CSV file first.")), { form });
    }
    if (chosen.size > MAX_BYTES) {
      return busy(button, () => Promise.reject(new Error(`The file is ${chosen.size} bytes: at most ${MAX_BYTES} can be imported.`)), { form });
    }
    progress.element.hidden = false;
    progress.update(0, `Sending ${chosen.name}…`);
    const path = `${IMPORT_PATH}?duplicates=${encodeURIComponent(duplicates.control.value)}${dryRun ? "&dry_run=true" : ""}`;
    const { value } = await busy(button, async () => {
      const answer = await uploadCsv(path, chosen, (fraction) => {
        progress.update(fraction, fraction < 1 ? `Sending ${chosen.name}: ${Math.round(fraction * 100)} %` : "Checking the rows…");
      }, ctx.signal);
      return answer;
    }, { form });
    progress.element.hidden = true;
    if (!value) return;
    showReport(report, value);
    if (!value.dry_run && value.imported.length) imported(value);
  }

  check.addEventListener("click", () => run(check, true));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(go, false);
  });

  return [h("div", { class: "grid" },
    h("section", { class: "card", "aria-label": "Export cameras" },
      h("h3", {}, "Export"),
      h("p", {}, download),
      h("p", { class: "hint warn" }, "The file holds every camera's password in clear text: keep it safe and delete it "
        + "when it is no longer needed.")),
    form), report];
}

function showReport(area, report) {
  const done = report.imported.length;
  const verb = report.dry_run ? "would be imported" : "imported";
  const summary = `${done} of ${report.total_rows} row${report.total_rows === 1 ? "" : "s"} ${verb}`
    + (report.rejected.length ? `; ${report.rejected.length} refused.` : ".");
  fill(area,
    h("p", { role: "status", class: report.rejected.length ? "warn" : "ok" }, report.dry_run ? `Check only, nothing changed: ${summary}` : summary),
    report.imported.length ? h("div", { class: "table-wrap" }, table([
      ["Row", (r) => String(r.row)],
      ["Channel", (r) => (r.moved_from ? `${r.channel} (asked for ${r.moved_from})` : String(r.channel))],
      ["Name", (r) => r.name],
      ["", (r) => (r.replaced_channels.length ? `replaces channel ${r.replaced_channels.join(", ")}` : "new")],
    ], report.imported, { caption: report.dry_run ? "Rows that would be imported" : "Rows imported" })) : null,
    report.rejected.length ? h("div", { class: "table-wrap rejected" }, table([
      ["Row", (r) => String(r.row)],
      ["Column", (r) => r.field ?? "—"],
      ["Why", (r) => h("span", { class: "error" }, r.reason.replace(/^row \d+: (?:[\w.]+: )?/, ""))],
    ], report.rejected, { caption: "Rows refused" })) : null);
}

// The file as the body (text/csv), with upload progress. The import answers its report
// with 200 (some rows imported) and with 422 (none could be): both are reports.
async function uploadCsv(path, file, onProgress, signal) {
  try {
    return await upload("POST", path, file, { onProgress, contentType: "text/csv", signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && Array.isArray(error.body?.imported)) {
      return error.body;
    }
    throw error;
  }
}
