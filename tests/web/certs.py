"""Certificates for tests: a CA, certificates it signs, PEM encodings."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def certs_pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def private_key_pem(key: Key, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def make_certificate(key: Key, name: str, *, issuer: tuple[Key, str] | None = None,
                      days: tuple[int, int] = (-1, 365), ca: bool = False,
                      algorithm: Any = None,
                      now: datetime.datetime = NOW) -> x509.Certificate:
    signing_key, issuer_name = issuer if issuer else (key, name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(name), x509.DNSName("localhost")]), critical=False)
    return builder.sign(signing_key, algorithm or hashes.SHA256())


async def served_certificate(port: int, host: str = "127.0.0.1") -> bytes:
    """The DER certificate a new TLS connection to ``host:port`` is shown."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    _, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    assert isinstance(der, bytes)
    return der
