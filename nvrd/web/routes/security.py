"""Security status (right ``security``): findings from the vendor's cybersecurity
checklist that the recorder can see for itself — weak passwords, HTTPS off, the plain-HTTP
redirect, default ports, the certificate (self-signed, expiring, expired), lockout and
idle-logout settings — and the lockout/idle-logout settings themselves; the HTTPS
certificate: download the one served (to trust a self-signed one on the installer's
laptop), import a CA-signed one with its key (checked first, served at once, no restart).

Weak passwords: the account store keeps each password's strength class from when it was
set (passwords cannot be read back). A box whose account store is not open is a finding
of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from nvrd.accounts.store import AccountStore
from nvrd.config import NvrConfig
from nvrd.config.schema import SecurityConfig
from nvrd.web.api.errors import ApiError
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import (
    audit,
    change_config,
    daemon,
    data_dir,
    given,
    settings_model,
    unavailable,
)
from nvrd.web.tls import CERT_FILE, CertificateError, CertificateInfo, certificate_info

routes = ApiRegistry(tags=("security",))

CERTIFICATE_WARNING_DAYS = 30
DEFAULT_WEB_PORTS = (80, 443, 8443)
RECOMMENDED_LOCKOUT_ATTEMPTS = 5
MAX_CHAIN_CHARS = 64 * 1024
MAX_KEY_CHARS = 16 * 1024
Severity = Literal["info", "warning", "critical"]


class Finding(BaseModel):
    code: str
    """Stable, for programs: ``weak_passwords``, ``https_off``, ``certificate_expired`` ..."""
    severity: Severity
    message: str
    """What is wrong and what to do, for people."""


class CertificateOut(BaseModel):
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool
    key: str
    sha256_fingerprint: str


    @classmethod
    def of(cls, info: CertificateInfo) -> CertificateOut:
        return cls(subject=info.subject, issuer=info.issuer, not_before=info.not_before,
                   not_after=info.not_after, self_signed=info.self_signed, key=info.key,
                   sha256_fingerprint=info.sha256_fingerprint)


class CertificateIn(BaseModel):
    """A certificate signed by a CA, with its key, both PEM."""

    certificate: str = Field(min_length=1, max_length=MAX_CHAIN_CHARS)
    """The server certificate first, then the intermediate CA certificates, if any."""
    private_key: str = Field(min_length=1, max_length=MAX_KEY_CHARS)
    """Its private key, unencrypted (PKCS#1, PKCS#8 or SEC1)."""


class SecurityStatus(BaseModel):
    findings: list[Finding]
    """Most severe first; empty when nothing was found."""
    certificate: CertificateOut | None
    settings: SecurityConfig


SecuritySettingsIn = settings_model(
    "SecuritySettingsIn", SecurityConfig,
    ("idle_logout_minutes", "lockout_attempts", "lockout_minutes"),
    doc="Session and lockout settings to change; those left out keep their value.")


# --- checks (pure, so each finding is tested alone) -------------------------------------

def password_findings(users: list[tuple[str, str, bool]] | None) -> list[Finding]:
    """``users``: (name, strength, enabled); None: the account store is not open."""
    if users is None:
        return [Finding(code="accounts_unavailable", severity="warning",
                        message="the account store is not open, so password strength "
                                "could not be checked")]
    weak = [name for name, strength, enabled in users
            if enabled and strength in ("weak", "invalid")]
    if not weak:
        return []
    return [Finding(code="weak_passwords", severity="warning",
                    message=f"{len(weak)} enabled account(s) have a weak password "
                            f"({', '.join(sorted(weak))}): set passwords of 10 or more "
                            "characters mixing three kinds (letters, digits, symbols)")]


def web_findings(config: NvrConfig) -> list[Finding]:
    web = config.web
    found = []
    if not web.https:
        found.append(Finding(code="https_off", severity="critical",
                             message="HTTPS is off: passwords and video cross the network "
                                     "in clear text; switch web.https on"))
    elif web.http_redirect_port:
        found.append(Finding(code="http_redirect_on", severity="info",
                             message=f"plain HTTP on port {web.http_redirect_port} "
                                     "redirects to HTTPS (it serves nothing else); set "
                                     "web.http_redirect_port = 0 to close it"))
    if web.port in DEFAULT_WEB_PORTS:
        found.append(Finding(code="default_web_port", severity="info",
                             message=f"the web page is on the well-known port {web.port}; "
                                     "another port makes the box less easy to find by "
                                     "scanners"))
    return found


def session_findings(security: SecurityConfig) -> list[Finding]:
    found = []
    if security.idle_logout_minutes == 0:
        found.append(Finding(code="idle_logout_off", severity="warning",
                             message="idle sessions are never logged out; set "
                                     "security.idle_logout_minutes (e.g. 15)"))
    if security.lockout_attempts > RECOMMENDED_LOCKOUT_ATTEMPTS:
        found.append(Finding(code="lockout_lenient", severity="info",
                             message=f"accounts lock after {security.lockout_attempts} "
                                     "failed logins; "
                                     f"{RECOMMENDED_LOCKOUT_ATTEMPTS} is recommended"))
    return found


def certificate_findings(info: CertificateInfo | None, now: dt.datetime,
                         problem: str | None = None) -> list[Finding]:
    if info is None:
        return [Finding(code="certificate_unreadable", severity="warning",
                        message=f"the web certificate could not be read: {problem}")]
    if info.expired(now):
        return [Finding(code="certificate_expired", severity="critical",
                        message=f"the web certificate expired on "
                                f"{info.not_after:%Y-%m-%d}: import a new one")]
    found = []
    left = info.not_after - now
    if left <= dt.timedelta(days=CERTIFICATE_WARNING_DAYS):
        found.append(Finding(code="certificate_expiring", severity="warning",
                             message=f"the web certificate expires on "
                                     f"{info.not_after:%Y-%m-%d} ({left.days} days): "
                                     "import a new one"))
    if info.self_signed:
        found.append(Finding(code="certificate_self_signed", severity="warning",
                             message="the web certificate is self-signed: browsers warn, "
                                     "and clients cannot tell this box from an impostor; "
                                     "import a certificate signed by your CA"))
    return found


_RANK = {"critical": 0, "warning": 1, "info": 2}


def password_strengths(store: AccountStore) -> list[tuple[str, str, bool]]:
    """(name, strength, enabled) of every user. Blocking."""
    return [(u.name, str(u.password_strength), u.enabled) for u in store.list_users()]


def _certificate(tls_dir: Path) -> tuple[CertificateInfo | None, str | None]:
    try:
        return certificate_info(tls_dir), None
    except (OSError, ValueError, IndexError) as exc:
        return None, str(exc)


@routes.get("/api/v1/security/status", response=SecurityStatus, right="security")
async def security_status(ctx: RequestContext) -> SecurityStatus:
    """What weakens this recorder's security, most severe first, and what to do."""
    config = daemon(ctx).config
    data = data_dir(ctx)
    findings: list[Finding] = []
    accounts = daemon(ctx).accounts
    store = accounts.store if accounts is not None else None
    try:
        users = (await asyncio.to_thread(password_strengths, store)
                 if store is not None else None)
    except sqlite3.Error as exc:
        findings.append(Finding(code="accounts_unreadable", severity="warning",
                                message=f"the accounts database could not be read: {exc}"))
    else:
        findings += password_findings(users)
    findings += web_findings(config)
    findings += session_findings(config.security)
    info: CertificateInfo | None = None
    if config.web.https:
        info, problem = await asyncio.to_thread(_certificate, data.tls)
        findings += certificate_findings(info, dt.datetime.now(dt.UTC), problem)
    findings.sort(key=lambda f: _RANK[f.severity])
    certificate = None if info is None else CertificateOut.of(info)
    return SecurityStatus(findings=findings, certificate=certificate,
                          settings=config.security)


@routes.put("/api/v1/security/settings", body=SecuritySettingsIn, response=SecurityConfig,
            right="security")
async def put_security_settings(ctx: RequestContext[Any]) -> SecurityConfig:
    """Change the idle logout and the lockout (attempts, minutes); settings left out
    keep their value."""
    changes = given(ctx.body)

    def update(table: dict[str, Any]) -> None:
        table.setdefault("security", {}).update(changes)

    config = await change_config(ctx, update, "security settings changed: " + ", ".join(
        f"{k} = {v}" for k, v in sorted(changes.items())))
    return config.security


# --- the HTTPS certificate --------------------------------------------------------------

@routes.get("/api/v1/security/certificate", response=str, media_type="application/x-pem-file")
async def get_certificate(ctx: RequestContext) -> web.Response:
    """The certificate (and chain) the recorder serves, PEM: import it into a browser or
    a platform to trust this box's self-signed certificate. Public knowledge (every TLS
    client is shown it), so a login is enough."""
    try:
        pem = await asyncio.to_thread((data_dir(ctx).tls / CERT_FILE).read_bytes)
    except FileNotFoundError:
        raise ApiError(404, "no_certificate", "this recorder has no HTTPS certificate yet "
                       "(it is made at the first start with HTTPS on)") from None
    return web.Response(body=pem, headers={
        "Content-Type": "application/x-pem-file",
        "Content-Disposition": 'attachment; filename="nvr-certificate.pem"'})


@routes.put("/api/v1/security/certificate", body=CertificateIn, response=CertificateOut,
            right="security")
async def put_certificate(ctx: RequestContext[CertificateIn]) -> CertificateOut:
    """Serve a CA-signed certificate instead of the box's own, without a restart.

    Checked before anything is written (422 with the reason: not PEM, chain out of order,
    key not matching, passphrase on the key, weak key or signature, expired or not yet
    valid); the previous pair is kept as a backup."""
    server = daemon(ctx).web
    if server is None:
        raise unavailable("the web server", code="web_unavailable")
    try:
        info = await server.install_certificate(ctx.body.certificate.encode(),
                                                ctx.body.private_key.encode())
    except CertificateError as exc:
        audit(ctx, "security", "HTTPS certificate refused", result="failed",
              details=f"{exc.reason}: {exc}")
        raise ApiError(422, f"certificate_{exc.reason}", str(exc)) from None
    audit(ctx, "security", "HTTPS certificate imported",
          details=f"subject {info.subject}, issuer {info.issuer}, valid until "
                  f"{info.not_after:%Y-%m-%d}, SHA-256 {info.sha256_fingerprint}")
    return CertificateOut.of(info)
