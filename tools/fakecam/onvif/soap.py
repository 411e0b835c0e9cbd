"""SOAP 1.2 for the fake ONVIF camera: building answers, reading requests, faults, auth.

Pure functions and small classes, no I/O: ``server.py`` feeds them request bytes and
headers. Answers are built with ``E("tt:Name", child, ..., attr=value)``, every prefix of
``NS`` declared once on the envelope, so QName text (fault codes ``ter:NotAuthorized``,
topics ``tns1:RuleEngine/...``) resolves wherever it appears.

Authentication is what cameras accept: a WS-Security UsernameToken (PasswordDigest =
base64(sha1(nonce + created + password)), or PasswordText) in the SOAP header, or HTTP
digest (RFC 7616, MD5, qop=auth). Which user is valid is the caller's business.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from lxml import etree  # type: ignore[import-untyped]

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "ter": "http://www.onvif.org/ver10/error",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wstop": "http://docs.oasis-open.org/wsn/t-1",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tns1": "http://www.onvif.org/ver10/topics",
    "xs": "http://www.w3.org/2001/XMLSchema",
}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
                   "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
SOAP_CONTENT_TYPE = "application/soap+xml"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          remove_blank_text=True)


def qname(prefixed: str) -> str:
    """``"tt:Name"`` -> ``"{http://www.onvif.org/ver10/schema}Name"``."""
    prefix, _, local = prefixed.partition(":")
    return f"{{{NS[prefix]}}}{local}"


def text_of(value: str | int | float | bool) -> str:
    """A Python value as XML Schema text (booleans are ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def E(tag: str, *children: etree._Element | str | int | float | bool | None,
      **attrs: str | int | float | bool | None) -> etree._Element:
    """An element: ``tag`` is ``prefix:local``; children are elements or text (None and
    absent attributes are left out, so optional parts read as ``x if cond else None``)."""
    el = etree.Element(qname(tag))
    for name, value in attrs.items():
        if value is not None:
            el.set(name, text_of(value))
    for child in children:
        if child is None:
            continue
        if isinstance(child, etree._Element):
            el.append(child)
        elif len(el):
            el[-1].tail = (el[-1].tail or "") + text_of(child)
        else:
            el.text = (el.text or "") + text_of(child)
    return el


def envelope(body: etree._Element | None, headers: tuple[etree._Element, ...] = ()) -> bytes:
    """A SOAP 1.2 envelope around ``body`` (None: an empty body), as UTF-8 bytes."""
    env = etree.Element(qname("env:Envelope"), nsmap=NS)
    if headers:
        head = etree.SubElement(env, qname("env:Header"))
        head.extend(headers)
    body_el = etree.SubElement(env, qname("env:Body"))
    if body is not None:
        body_el.append(body)
    etree.cleanup_namespaces(env, top_nsmap=NS, keep_ns_prefixes=list(NS))
    result: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return result


class SoapFault(Exception):
    """An answer that is a SOAP fault: ``code`` is ``env:Sender``/``env:Receiver``,
    ``subcodes`` the ONVIF ``ter:`` chain, ``status`` the HTTP status (400 for the
    sender's fault, 500 for ours), ``headers`` extra HTTP headers (a digest challenge)."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str, *,
                 status: int | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.code, self.subcodes, self.reason = code, subcodes, reason
        self.status = status if status is not None else (400 if code == "env:Sender" else 500)
        self.headers = dict(headers or {})

    def body(self) -> etree._Element:
        code = E("env:Code", E("env:Value", self.code))
        parent = code
        for sub in self.subcodes:
            nested = E("env:Subcode", E("env:Value", sub))
            parent.append(nested)
            parent = nested
        text = E("env:Text", self.reason)
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        return E("env:Fault", code, E("env:Reason", text))


def sender_fault(*subcodes: str, reason: str) -> SoapFault:
    return SoapFault("env:Sender", subcodes, reason)


def receiver_fault(*subcodes: str, reason: str) -> SoapFault:
    return SoapFault("env:Receiver", subcodes, reason)


def not_supported(what: str) -> SoapFault:
    return receiver_fault("ter:ActionNotSupported", reason=f"Optional Action Not Implemented: "
                                                          f"{what}")


def invalid_arg(subcode: str, reason: str) -> SoapFault:
    return sender_fault("ter:InvalidArgVal", subcode, reason=reason)


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed SOAP request: the operation element (first child of the Body) and the
    header element (None when absent)."""

    operation: etree._Element
    header: etree._Element | None

    @property
    def op_name(self) -> str:
        return etree.QName(self.operation).localname

    @property
    def op_namespace(self) -> str:
        return etree.QName(self.operation).namespace or ""


def parse_request(data: bytes) -> Request:
    """Parse a SOAP 1.1 or 1.2 envelope; raises a ``SoapFault`` for anything else."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise sender_fault("ter:WellFormed", reason=f"not well-formed XML: {exc}") from None
    if etree.QName(root).localname != "Envelope":
        raise sender_fault("ter:WellFormed", reason="not a SOAP envelope")
    header = body = None
    for child in root:
        local = etree.QName(child).localname
        if local == "Header":
            header = child
        elif local == "Body":
            body = child
    operations = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    if not operations:
        raise sender_fault("ter:WellFormed", reason="the SOAP body is empty")
    return Request(operations[0], header)


def child(el: etree._Element | None, *path: str) -> etree._Element | None:
    """The first descendant along ``path`` of local names (namespaces ignored: clients
    differ in which they use), or None."""
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if isinstance(c.tag, str)
                   and etree.QName(c).localname == name), None)
    return el


def children(el: etree._Element | None, name: str) -> list[etree._Element]:
    if el is None:
        return []
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name]


def child_text(el: etree._Element | None, *path: str) -> str | None:
    found = child(el, *path)
    return None if found is None else (found.text or "").strip()


def parse_bool(text: str | None, default: bool = False) -> bool:
    if text is None:
        return default
    return text.strip().lower() in ("true", "1")


# -- time --

_DURATION_RE = re.compile(r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?"
                          r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?")


def parse_duration(text: str) -> float:
    """An xs:duration (``PT60S``, ``PT1M30S``, ``P1D``) in seconds; months are 30 days."""
    m = _DURATION_RE.fullmatch(text.strip())
    if not m or text.strip() in ("P", "-P") or text.strip().endswith("T"):
        raise invalid_arg("ter:InvalidDuration", f"not an xs:duration: {text!r}")
    sign, years, months, days, hours, minutes, seconds = m.groups()
    total = ((int(years or 0) * 365 + int(months or 0) * 30 + int(days or 0)) * 86400
             + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0))
    return -total if sign else total


def format_duration(seconds: float) -> str:
    return f"PT{seconds:g}S"


def parse_datetime(text: str) -> dt.datetime:
    """An xs:dateTime, as an aware UTC datetime (no zone given: UTC)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise invalid_arg("ter:InvalidDateTime", f"not an xs:dateTime: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def format_datetime(when: dt.datetime, *, millis: bool = False) -> str:
    """``2024-05-01T10:00:00Z`` (``…:00.123Z`` with millis)."""
    spec = "milliseconds" if millis else "seconds"
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_termination(text: str, now: dt.datetime) -> dt.datetime:
    """A WS-BaseNotification AbsoluteOrRelativeTimeType: a duration from ``now`` (the
    camera's clock) or an absolute time."""
    stripped = text.strip()
    if stripped.startswith(("P", "-P")):
        return now + dt.timedelta(seconds=parse_duration(stripped))
    return parse_datetime(stripped)


# -- WS-Security --

@dataclass(frozen=True, slots=True)
class UsernameToken:
    username: str
    password: str  # the digest (base64) or the clear text
    digest: bool
    nonce: bytes
    created: str

    def matches(self, password: str) -> bool:
        if not self.digest:
            return hmac.compare_digest(self.password.encode(), password.encode())
        expected = base64.b64encode(hashlib.sha1(
            self.nonce + self.created.encode() + password.encode()).digest()).decode()
        return hmac.compare_digest(self.password.encode(), expected.encode())

    def created_at(self) -> dt.datetime | None:
        try:
            return parse_datetime(self.created) if self.created else None
        except SoapFault:
            return None


def username_token(header: etree._Element | None) -> UsernameToken | None:
    """The UsernameToken of a WS-Security header, or None when there is none."""
    token = child(header, "Security", "UsernameToken")
    if token is None:
        return None
    password_el = child(token, "Password")
    nonce_text = child_text(token, "Nonce") or ""
    try:
        nonce = base64.b64decode(nonce_text, validate=False)
    except ValueError:
        nonce = b""
    kind = password_el.get("Type", "") if password_el is not None else ""
    return UsernameToken(username=child_text(token, "Username") or "",
                         password=(password_el.text or "") if password_el is not None else "",
                         digest=kind.endswith("#PasswordDigest"), nonce=nonce,
                         created=child_text(token, "Created") or "")


# -- HTTP digest (RFC 7616, MD5, qop=auth) --

DigestOutcome = Literal["absent", "ok", "stale", "invalid"]
NONCE_LIFETIME_S = 300.0
_DIGEST_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_digest(header: str) -> dict[str, str] | None:
    """The parameters of an ``Authorization: Digest …`` header (None: not digest)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {m[1].lower(): (m[2] if m[2] is not None else m[3]).replace('\\"', '"')
            for m in _DIGEST_PARAM_RE.finditer(rest)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class DigestAuthority:
    """Issues digest challenges and checks answers; nonces live ``NONCE_LIFETIME_S``
    (an older one is answered with ``stale=true``, which clients retry silently)."""

    def __init__(self, realm: str) -> None:
        self.realm = realm
        self.opaque = secrets.token_hex(16)
        self._nonces: dict[str, float] = {}

    def challenge(self, *, stale: bool = False) -> str:
        now = time.monotonic()
        self._nonces = {n: t for n, t in self._nonces.items() if now - t < NONCE_LIFETIME_S}
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = now
        return (f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", '
                f'opaque="{self.opaque}", algorithm=MD5' + (", stale=true" if stale else ""))

    def check(self, authorization: str | None, method: str, uri: str,
              passwords: Mapping[str, str]) -> tuple[DigestOutcome, str]:
        """(outcome, username). ``uri`` is the request's path and query."""
        params = parse_digest(authorization) if authorization else None
        if params is None:
            return "absent", ""
        user = params.get("username", "")
        issued = self._nonces.get(params.get("nonce", ""))
        if issued is None or time.monotonic() - issued >= NONCE_LIFETIME_S:
            return "stale", user
        password = passwords.get(user)
        if (password is None or params.get("realm") != self.realm
                or params.get("qop") != "auth" or params.get("uri") != uri
                or params.get("algorithm", "MD5").upper() != "MD5"):
            return "invalid", user
        ha1 = _md5(f"{user}:{self.realm}:{password}")
        ha2 = _md5(f"{method}:{uri}")
        expected = _md5(f"{ha1}:{params.get('nonce')}:{params.get('nc', '')}:"
                        f"{params.get('cnonce', '')}:auth:{ha2}")
        if hmac.compare_digest(expected, params.get("response", "")):
            return "ok", user
        return "invalid", user
