// Maintenance, each part only with its right: export the configuration (download) and
// import one (upload with progress; every problem named) under "import_export"; the
// support bundle under "system"; restore defaults (typed-word confirmation) under
// "restore_defaults"; restart under "reboot". nvrd/web/routes/system.py.

import { ApiError, api, upload } from "../../api.js";
import { busy, confirmAction, field, fill, h, notify, progressBar } from "../../ui.js";

const RESTORE_WORD = "RESTORE";

export function showMaintenance(box, ctx) {
  const parts = [];
  if (ctx.session.can("import_export")) parts.push(configPart());
  if (ctx.session.can("system")) parts.push(supportPart());
  if (ctx.session.can("restore_defaults")) parts.push(restorePart(ctx));
  if (ctx.session.can("reboot")) parts.push(rebootPart());
  fill(box, parts);
}

function configPart() {
  const file = field({ label: "Configuration file to import", name: "bundle", type: "file",
                       attributes: { accept: ".json,application/json" },
                       hint: "A file exported from this or another recorder. Camera passwords left out of it are kept." });
  const submit = h("button", { type: "submit" }, "Import configuration");
  const progress = progressBar("Import progress");
  progress.element.hidden = true;
  const problems = h("ul", { class: "error problems" });
  const form = h("form", { noValidate: true }, file, progress.element, problems, h("div", { class: "buttons" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fill(problems);
    const { error, value } = await busy(submit, async () => {
      const chosen = file.control.files[0];
      if (!chosen) throw new Error("Choose the configuration file first.");
      if (!await confirmAction(`Replace this recorder's configuration with ${chosen.name}?`, { action: "Import" })) return null;
      progress.element.hidden = false;
      progress.update(0, "sending…");
      try {
        return await upload("POST", "/api/v1/maintenance/config", chosen, {
          contentType: "application/json",
          onProgress: (fraction) => progress.update(fraction, fraction < 1 ? `${Math.round(fraction * 100)} %` : "checking…"),
        });
      } finally {
        progress.element.hidden = true;
      }
    }, { form });
    if (error instanceof ApiError && error.details?.length) {
      fill(problems, error.details.map((d) => h("li", {}, d.message)));
    }
    if (error || !value) return;
    notify(`Configuration imported: ${value.cameras} camera(s)` +
           (value.kept_secrets ? `, ${value.kept_secrets} password(s) kept from this recorder.` : "."));
  });
  return h("div", { class: "card" }, h("h3", {}, "Configuration"),
    h("p", {}, h("a", { class: "button-link", href: "/api/v1/maintenance/config", download: "" }, "Export configuration"),
      " ", h("span", { class: "hint" }, "(without passwords)")),
    form);
}

function supportPart() {
  return h("div", { class: "card" }, h("h3", {}, "Support"),
    h("p", {}, h("a", { class: "button-link", href: "/api/v1/system/support-bundle", download: "" }, "Download a support bundle"),
      " ", h("span", { class: "hint" }, "Versions, status, configuration without secrets, logs (takes up to a minute).")));
}

function restorePart(ctx) {
  const network = field({ label: "Keep the network and web settings (the recorder stays reachable here)",
                          name: "keep_network", type: "checkbox", value: true });
  const users = field({ label: "Keep the users and groups", name: "keep_users", type: "checkbox", value: true,
                        hint: "Unticked: every account is wiped and the recorder must be set up again." });
  const submit = h("button", { type: "submit", class: "danger" }, "Restore defaults");
  const form = h("form", { noValidate: true }, network, users, h("div", { class: "buttons" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!await confirmAction("Restore the factory configuration? Cameras, schedules, storage and alarm settings "
        + "are reset. Recordings stay on the disks.", { word: RESTORE_WORD, action: "Restore defaults" })) return;
    const { error, value } = await busy(submit, () => api.post("/api/v1/maintenance/restore-defaults", {
      keep_network: network.control.checked, keep_users: users.control.checked }), { form });
    if (error) return;
    notify(value.message);
    if (!users.control.checked) {
      await ctx.sessionChanged().catch(() => null);
      location.reload();
    }
  });
  return h("div", { class: "card" }, h("h3", {}, "Restore defaults"), form);
}

function rebootPart() {
  const button = h("button", { type: "button", class: "danger" }, "Restart the recorder");
  const status = h("p", { role: "status" });
  button.addEventListener("click", async () => {
    if (!await confirmAction("Restart the recorder now? Recording stops for a minute or two.", { action: "Restart" })) return;
    const { error, value } = await busy(button, () => api.post("/api/v1/maintenance/reboot"));
    if (!error) status.textContent = value.message;
  });
  return h("div", { class: "card" }, h("h3", {}, "Restart"), h("div", { class: "buttons" }, button), status);
}
