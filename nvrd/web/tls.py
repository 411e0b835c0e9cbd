"""The web server's certificate: generated on the box at first boot, never shipped;
replaceable by the installer's own, without a restart.

A shipped key would be the same on every recorder, i.e. public. The self-signed
certificate can be replaced through :func:`import_certificate` (a CA-signed certificate
and its key, checked before anything is written); until then browsers warn once and the
traffic is still encrypted.

Files in the TLS directory: ``server.crt`` (the certificate, then its chain) and
``server.key`` (0600); ``server.crt.bak``/``server.key.bak`` keep the pair an import
replaced. If a crash between the two writes of an import leaves a pair that does not
load, :class:`ServerTls` falls back to the backup pair, then to a new self-signed one:
the web page must come back whatever happened.

Hot reload: the listening socket's ``SSLContext`` cannot be swapped, and loading a new
pair into it is not enough either (OpenSSL keeps one certificate per key type, so an RSA
certificate loaded over an EC one would leave the EC one served to clients that prefer
it). Instead the listening context has an SNI callback, called for every handshake with
or without SNI, which points the connection at the current context; a reload builds a new
context and makes it current. Connections already open keep theirs.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import itertools
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from nvrd.config.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

CERTIFICATE_DAYS = 3650
CERT_FILE, KEY_FILE = "server.crt", "server.key"
BACKUP_SUFFIX = ".bak"
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
# TLS 1.2 suites: forward secrecy and AEAD only (Mozilla's "intermediate" list without
# DHE, which would need parameters). TLS 1.3 suites are all strong and not set here.
TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
))
_WEAK_SIGNATURE_HASHES = (hashes.MD5, hashes.SHA1)


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """Return (certificate, key) paths in ``directory``, creating them if absent."""
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    _write_self_signed(directory)
    return cert_path, key_path


def _write_self_signed(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_pem, key_pem = make_self_signed(socket.gethostname())
    atomic_write_bytes(directory / KEY_FILE, key_pem, mode=0o600)
    atomic_write_bytes(directory / CERT_FILE, cert_pem, mode=0o644)
    logger.info("generated a self-signed HTTPS certificate in %s", directory)


def make_self_signed(hostname: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64] or "nvrd"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nvrd network video recorder"),
    ])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [
        x509.DNSName(hostname or "nvrd"), x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context: TLS 1.2 minimum, forward-secret AEAD suites, no compression,
    no renegotiation."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(cert_path, key_path)
    return context


class ServerTls:
    """The HTTPS server's TLS state: the listening context and the current certificate.

    ``context`` is given to the listening socket once; :meth:`reload` changes the
    certificate served to new connections (see the module doc).
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._current = self._load_or_recover()
        self.context = self._current  # carries the callback; its own pair is the first one
        self.context.sni_callback = self._select

    def _select(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                context: ssl.SSLContext) -> None:
        if self._current is not self.context:
            connection.context = self._current

    def reload(self) -> CertificateInfo:
        """Serve the pair now in the directory to new connections; raises (and keeps the
        current pair) if it does not load."""
        self._current = server_context(self._directory / CERT_FILE, self._directory / KEY_FILE)
        info = certificate_info(self._directory)
        logger.info("HTTPS certificate reloaded: %s, valid until %s", info.subject,
                    info.not_after.date())
        return info

    def _load_or_recover(self) -> ssl.SSLContext:
        cert_path, key_path = ensure_certificate(self._directory)
        try:
            return server_context(cert_path, key_path)
        except (ssl.SSLError, OSError, ValueError) as exc:
            logger.error("the HTTPS certificate in %s does not load (%s); trying the "
                         "previous one", self._directory, exc)
        backup_cert = cert_path.with_name(CERT_FILE + BACKUP_SUFFIX)
        backup_key = key_path.with_name(KEY_FILE + BACKUP_SUFFIX)
        try:
            context = server_context(backup_cert, backup_key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            logger.error("the previous HTTPS certificate does not load either (%s); "
                         "generating a new self-signed one", exc)
            _write_self_signed(self._directory)
            return server_context(cert_path, key_path)
        atomic_write_bytes(key_path, backup_key.read_bytes(), mode=0o600)
        atomic_write_bytes(cert_path, backup_cert.read_bytes(), mode=0o644)
        logger.warning("restored the previous HTTPS certificate")
        return context


# --- certificate import and status ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What the security status shows about the served certificate."""

    subject: str
    issuer: str
    subject_alt_names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    self_signed: bool
    key: str
    """``RSA 2048`` or ``EC secp256r1``."""
    sha256_fingerprint: str

    def expired(self, now: datetime.datetime | None = None) -> bool:
        return (now or datetime.datetime.now(datetime.UTC)) >= self.not_after


class CertificateError(ValueError):
    """An imported certificate or key refused, with a stable ``reason`` for the API."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def certificate_info(tls_dir: Path) -> CertificateInfo:
    """The served certificate (the first one of ``server.crt``) described."""
    return describe_certificate(x509.load_pem_x509_certificates(
        (tls_dir / CERT_FILE).read_bytes())[0])


def describe_certificate(certificate: x509.Certificate) -> CertificateInfo:
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        alt_names = tuple(
            [f"DNS:{name}" for name in names.get_values_for_type(x509.DNSName)]
            + [f"IP:{address}" for address in names.get_values_for_type(x509.IPAddress)])
    except x509.ExtensionNotFound:
        alt_names = ()
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        subject_alt_names=alt_names,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        self_signed=_is_self_signed(certificate),
        key=_describe_key(certificate.public_key()),
        sha256_fingerprint=hashlib.sha256(
            certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def import_certificate(tls_dir: Path, cert_pem: bytes, key_pem: bytes, *,
                       now: datetime.datetime | None = None) -> CertificateInfo:
    """Check a certificate (with its chain) and its key, then install them.

    Refused with :class:`CertificateError` when: not PEM, a chain out of order, a key
    that does not match, a passphrase-protected key, a weak key (RSA below 2048 bits, EC
    below 256) or signature (MD5, SHA-1), expired or not yet valid. Nothing is written
    then. Otherwise the current pair becomes ``*.bak`` and the new one is written
    atomically (key 0600). Blocking: call from a thread; then ``reload`` the server.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    chain = _load_chain(cert_pem)
    key = _load_key(key_pem)
    leaf = chain[0]
    _check_chain(chain)
    _check_key_matches(leaf, key)
    _check_strength(leaf)
    _check_validity(leaf, now)
    _install(tls_dir, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
             key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()))
    info = describe_certificate(leaf)
    logger.info("imported an HTTPS certificate for %s issued by %s", info.subject, info.issuer)
    return info


def _load_chain(cert_pem: bytes) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise CertificateError("invalid_certificate", "the certificate is not a PEM "
                               "certificate (-----BEGIN CERTIFICATE-----)") from None
    return chain


def _load_key(key_pem: bytes) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise CertificateError("encrypted_key", "the key is protected by a passphrase; "
                               "export it without one") from None
    except ValueError:
        raise CertificateError("invalid_key", "the key is not a PEM private key "
                               "(-----BEGIN PRIVATE KEY-----)") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError("unsupported_key", "the key must be RSA or EC (ECDSA); "
                               f"got {type(key).__name__}")
    return key


def _check_chain(chain: list[x509.Certificate]) -> None:
    for position, (certificate, issuer) in enumerate(itertools.pairwise(chain)):
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError(
                "invalid_chain", f"certificate {position + 2} of the file did not issue "
                f"certificate {position + 1}; put the server certificate first, then each "
                "issuer in order") from None


def _check_key_matches(leaf: x509.Certificate,
                       key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise CertificateError("key_mismatch", "the key does not belong to the certificate")


def _check_strength(leaf: x509.Certificate) -> None:
    public_key = leaf.public_key()
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise CertificateError("weak_key", f"the RSA key has {public_key.key_size} bits; at "
                               f"least {MIN_RSA_BITS} are needed")
    if isinstance(public_key, ec.EllipticCurvePublicKey) \
            and public_key.curve.key_size < MIN_EC_BITS:
        raise CertificateError("weak_key", f"the EC key is on {public_key.curve.name}; a curve "
                               f"of at least {MIN_EC_BITS} bits is needed")
    try:
        algorithm = leaf.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise CertificateError("weak_signature", "the certificate's signature algorithm "
                               f"({leaf.signature_algorithm_oid.dotted_string}) is not "
                               "supported") from None
    if isinstance(algorithm, _WEAK_SIGNATURE_HASHES):
        raise CertificateError("weak_signature", f"the certificate is signed with "
                               f"{algorithm.name.upper()}, which browsers refuse")


def _check_validity(leaf: x509.Certificate, now: datetime.datetime) -> None:
    if leaf.not_valid_after_utc <= now:
        raise CertificateError("expired", "the certificate expired on "
                               f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if leaf.not_valid_before_utc > now:
        raise CertificateError("not_yet_valid", "the certificate is valid only from "
                               f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check the "
                               "recorder's clock")


def _install(tls_dir: Path, cert_pem: bytes, key_pem: bytes) -> None:
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = tls_dir / CERT_FILE, tls_dir / KEY_FILE
    if cert_path.exists() and key_path.exists():
        atomic_write_bytes(key_path.with_name(KEY_FILE + BACKUP_SUFFIX), key_path.read_bytes(),
                           mode=0o600)
        atomic_write_bytes(cert_path.with_name(CERT_FILE + BACKUP_SUFFIX),
                           cert_path.read_bytes(), mode=0o644)
    atomic_write_bytes(key_path, key_pem, mode=0o600)
    atomic_write_bytes(cert_path, cert_pem, mode=0o644)


def _is_self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _describe_key(public_key: object) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    return type(public_key).__name__
