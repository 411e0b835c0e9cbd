// Security (right "security"): what weakens this recorder's security, in words and by
// severity (/api/v1/security/status); the lockout and idle-logout settings; the accounts
// and addresses locked now, with "release"; the HTTPS certificate (download it, or
// import a CA-signed one with its key: the server checks the pair and says what is wrong).

import { api, query } from "../api.js";
import { busy, field, fill, formatDuration, formatTime, h, notify, section, table } from "../ui.js";

export const title = "Security";

const SEVERITY = { critical: ["Critical", "bad"], warning: ["Warning", "warn"], info: ["Note", "muted"] };

export async function show(main, ctx) {
  const { signal } = ctx;
  const findingsBox = h("div", { "aria-live": "polite" });
  const settingsBox = h("div");
  const locksBox = h("div");
  const certificateBox = h("div");
  main.append(h("h1", {}, title),
    section("Findings", findingsBox),
    section("Logins and sessions", settingsBox),
    section("Locked accounts and addresses", locksBox),
    section("HTTPS certificate", certificateBox));

  async function loadStatus() {
    const status = await api.get("/api/v1/security/status", { signal });
    renderFindings(status.findings);
    renderSettings(status.settings);
    renderCertificate(status.certificate);
  }

  function renderFindings(findings) {
    fill(findingsBox, findings.length
      ? h("ul", { class: "findings" }, findings.map((f) => {
        const [word, kind] = SEVERITY[f.severity] ?? [f.severity, ""];
        return h("li", { class: `finding ${f.severity}`, "data-code": f.code },
          h("span", { class: `badge ${kind}` }, word), " ", f.message);
      }))
      : h("p", { class: "ok" }, "Nothing found: the checks the recorder can make all pass."));
  }

  function renderSettings(settings) {
    const attempts = field({ label: "Failed logins before locking", name: "lockout_attempts", type: "number",
                             value: settings.lockout_attempts, attributes: { min: 3, max: 10, inputmode: "numeric" },
                             hint: "3 to 10 failures in a row lock the account and the address." });
    const minutes = field({ label: "Lock for (minutes)", name: "lockout_minutes", type: "number",
                            value: settings.lockout_minutes, attributes: { min: 1, max: 1440, inputmode: "numeric" } });
    const idle = field({ label: "Log out idle sessions after (minutes)", name: "idle_logout_minutes", type: "number",
                         value: settings.idle_logout_minutes, attributes: { min: 0, max: 60, inputmode: "numeric" },
                         hint: "0: never (not recommended)." });
    const submit = h("button", { type: "submit", class: "primary" }, "Save");
    const form = h("form", { class: "narrow", noValidate: true }, attempts, minutes, idle, h("div", { class: "buttons" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const number = (f) => (f.control.value === "" ? null : Number(f.control.value));
      const { error } = await busy(submit, () => api.put("/api/v1/security/settings", {
        lockout_attempts: number(attempts), lockout_minutes: number(minutes), idle_logout_minutes: number(idle),
      }), { form });
      if (error) return;
      notify("Security settings saved.");
      await loadStatus();
    });
    fill(settingsBox, form);
  }

  async function loadLocks() {
    const locks = await api.get("/api/v1/security/lockouts", { signal });
    const release = (params, label) => async (event) => {
      const { error, value } = await busy(event.currentTarget,
        () => api.delete("/api/v1/security/lockouts" + query(params)));
      if (error) return;
      notify(value.length ? `Released: ${label}.` : "It was no longer locked.");
      await loadLocks();
    };
    fill(locksBox,
      h("div", { class: "table-wrap" }, table([
        ["Locked", (l) => (l.kind === "account" ? "account " : "address ") + l.key],
        ["Time left", (l) => formatDuration(l.remaining_seconds)],
        ["", (l) => h("button", { type: "button", "aria-label": `Release ${l.kind} ${l.key}`,
                                  onclick: release(l.kind === "account" ? { username: l.key } : { ip: l.key }, l.key) },
          "Release")],
      ], locks, { empty: "nothing is locked" })),
      locks.length > 1 ? h("div", { class: "buttons" },
        h("button", { type: "button", onclick: release({}, "every lock") }, "Release all")) : null,
      h("div", { class: "buttons" }, h("button", { type: "button", class: "link", onclick: () => loadLocks() }, "Refresh")));
  }

  function renderCertificate(certificate) {
    const rows = certificate ? [
      ["Subject", certificate.subject], ["Issued by", certificate.issuer],
      ["Valid from", formatTime(certificate.not_before)], ["Valid until", formatTime(certificate.not_after)],
      ["Self-signed", certificate.self_signed ? "yes" : "no"], ["Key", certificate.key],
      ["SHA-256 fingerprint", h("code", { class: "wrap" }, certificate.sha256_fingerprint)],
    ] : [];
    const info = certificate
      ? h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))
      : h("p", { class: "muted" }, "HTTPS is off, or the certificate could not be read (see the findings).");
    const cert = field({ label: "Certificate (PEM)", name: "certificate", type: "file",
                         attributes: { accept: ".pem,.crt,.cer" },
                         hint: "The server certificate first, then the intermediate CA certificates." });
    const key = field({ label: "Private key (PEM)", name: "private_key", type: "file", attributes: { accept: ".pem,.key" },
                        hint: "Unencrypted (no passphrase)." });
    const submit = h("button", { type: "submit", class: "primary" }, "Import certificate");
    const form = h("form", { class: "narrow", noValidate: true }, cert, key, h("div", { class: "buttons" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { error } = await busy(submit, async () => {
        const certFile = cert.control.files[0];
        const keyFile = key.control.files[0];
        if (!certFile || !keyFile) throw new Error("Choose both the certificate file and its key file.");
        const answer = await api.put("/api/v1/security/certificate", {
          certificate: await certFile.text(), private_key: await keyFile.text() });
        return answer;
      }, { form });
      if (error) return;
      notify("The certificate is imported and served now.");
      await loadStatus();
    });
    fill(certificateBox, info,
      h("p", {}, h("a", { href: "/api/v1/security/certificate", download: "nvr-certificate.pem" },
        "Download the certificate"), " (to make your browser trust this recorder)."),
      h("h3", {}, "Import a certificate signed by your CA"), form);
  }

  await Promise.all([loadStatus(), loadLocks()]);
}
