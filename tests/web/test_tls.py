"""HTTPS: TLS 1.2 minimum, certificate import (checked before anything is written), the
certificate status, hot reload without a restart, and recovery from a broken pair."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from nvrd.web.tls import (
    CertificateError,
    ServerTls,
    certificate_info,
    ensure_certificate,
    import_certificate,
    server_context,
)
from tests.web.api.harness import HeaderAuthenticator, running_web
from tests.web.certs import NOW, certs_pem, make_certificate, private_key_pem, served_certificate


@pytest.fixture(scope="module")
def ca_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def ca(ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return make_certificate(ca_key, "Installer CA", ca=True, days=(-10, 3650))


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signed(rsa_key: rsa.RSAPrivateKey, ca_key: ec.EllipticCurvePrivateKey,
           ca: x509.Certificate) -> Callable[..., x509.Certificate]:
    def make(days: tuple[int, int] = (-1, 365), algorithm: Any = None) -> x509.Certificate:
        return make_certificate(rsa_key, "nvr.example.com", issuer=(ca_key, "Installer CA"),
                            days=days, algorithm=algorithm)
    return make


def test_a_good_pair_with_its_chain_is_installed_and_the_old_one_kept(
        tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ca: x509.Certificate,
        signed: Callable[..., x509.Certificate]) -> None:
    ensure_certificate(tmp_path)
    old_cert = (tmp_path / "server.crt").read_bytes()
    old_key = (tmp_path / "server.key").read_bytes()
    assert certificate_info(tmp_path).self_signed

    leaf = signed()
    info = import_certificate(tmp_path, certs_pem(leaf, ca), private_key_pem(rsa_key), now=NOW)
    assert info.subject == "CN=nvr.example.com" and info.issuer == "CN=Installer CA"
    assert info.subject_alt_names == ("DNS:nvr.example.com", "DNS:localhost")
    assert info.key == "RSA 2048" and not info.self_signed
    assert info.not_after == NOW + datetime.timedelta(days=365)
    assert not info.expired(NOW) and info.expired(NOW + datetime.timedelta(days=400))
    assert certificate_info(tmp_path) == info
    assert (tmp_path / "server.crt").read_bytes() == certs_pem(leaf, ca)
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "server.crt.bak").read_bytes() == old_cert
    assert (tmp_path / "server.key.bak").read_bytes() == old_key
    assert (tmp_path / "server.key.bak").stat().st_mode & 0o777 == 0o600
    server_context(tmp_path / "server.crt", tmp_path / "server.key")  # loads


@pytest.mark.parametrize("case, reason", [
    ("mismatched key", "key_mismatch"),
    ("expired", "expired"),
    ("not yet valid", "not_yet_valid"),
    ("rsa 1024", "weak_key"),
    ("sha1", "weak_signature"),
    ("chain out of order", "invalid_chain"),
    ("encrypted key", "encrypted_key"),
    ("not pem", "invalid_certificate"),
    ("garbage key", "invalid_key"),
])
def test_a_bad_pair_is_refused_and_nothing_written(
        tmp_path: Path, case: str, reason: str, rsa_key: rsa.RSAPrivateKey,
        ca: x509.Certificate, signed: Callable[..., x509.Certificate]) -> None:
    ensure_certificate(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cert_pem, key_pem = certs_pem(signed(), ca), private_key_pem(rsa_key)
    if case == "mismatched key":
        key_pem = private_key_pem(ec.generate_private_key(ec.SECP256R1()))
    elif case == "expired":
        cert_pem = certs_pem(signed(days=(-400, -1)))
    elif case == "not yet valid":
        cert_pem = certs_pem(signed(days=(2, 400)))
    elif case == "rsa 1024":
        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        cert_pem, key_pem = certs_pem(make_certificate(weak, "weak")), private_key_pem(weak)
    elif case == "sha1":
        try:
            cert_pem = certs_pem(signed(algorithm=hashes.SHA1()))
        except UnsupportedAlgorithm:
            pytest.skip("this OpenSSL does not make SHA-1 signatures, even for a test")
    elif case == "chain out of order":
        cert_pem = certs_pem(ca, signed())
    elif case == "encrypted key":
        key_pem = private_key_pem(rsa_key, b"secret")
    elif case == "not pem":
        cert_pem = b"hello"
    elif case == "garbage key":
        key_pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    with pytest.raises(CertificateError) as refused:
        import_certificate(tmp_path, cert_pem, key_pem, now=NOW)
    assert refused.value.reason == reason
    assert str(refused.value)  # a sentence for the installer
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_the_server_context_refuses_old_protocols_and_weak_ciphers(tmp_path: Path) -> None:
    context = server_context(*ensure_certificate(tmp_path))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12_ciphers = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12_ciphers
    for cipher in tls12_ciphers:
        assert cipher["kea"] == "kx-ecdhe" and cipher["aead"], cipher["name"]


def _local_openssl_speaks_tls11(tmp_path: Path) -> bool:
    """Whether this machine's OpenSSL can do a TLS 1.1 handshake at all (else the test
    below would only prove the client refuses)."""
    cert, key = ensure_certificate(tmp_path / "probe")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version = ssl.TLSVersion.TLSv1_1
        server.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        server.set_ciphers("ALL:@SECLEVEL=0")
        server.load_cert_chain(cert, key)
        client = _tls11_client()
    except ssl.SSLError:
        return False
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for _ in range(4))
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    client_side = client.wrap_bio(client_in, client_out)
    for _ in range(10):
        done = 0
        for side, out, peer_in in ((client_side, client_out, server_in),
                                   (server_side, server_out, client_in)):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                return False
            peer_in.write(out.read())
        if done == 2:
            return True
    return False


def _tls11_client() -> ssl.SSLContext:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # deprecated: that is the point of the test
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1_1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    client.set_ciphers("ALL:@SECLEVEL=0")
    return client


async def test_a_tls11_client_is_refused_and_tls12_served(tmp_path: Path) -> None:
    async with running_web(tmp_path, HeaderAuthenticator(), https=True) as web:
        tls12 = ssl.create_default_context()
        tls12.check_hostname, tls12.verify_mode = False, ssl.CERT_NONE
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        _, writer = await asyncio.open_connection("127.0.0.1", web.port, ssl=tls12)
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.2"
        writer.close()
        if not _local_openssl_speaks_tls11(tmp_path):
            pytest.skip("this OpenSSL cannot do TLS 1.1 even when asked; the minimum "
                        "version is asserted in the server-context test")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection("127.0.0.1", web.port, ssl=_tls11_client())


async def test_an_imported_certificate_is_served_without_a_restart(
        tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ca: x509.Certificate) -> None:
    async with running_web(tmp_path, HeaderAuthenticator(), https=True) as web:
        first = await served_certificate(web.port)
        assert x509.load_der_x509_certificate(first).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
            x509.load_pem_x509_certificate((tmp_path / "tls" / "server.crt").read_bytes()
                                           ).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        # an RSA certificate replacing the generated EC one: OpenSSL would keep serving
        # the EC one to clients preferring it if the pair were loaded into the old context
        leaf = make_certificate(rsa_key, "nvr.example.com",
                            issuer=(ec.generate_private_key(ec.SECP256R1()), "Other CA"),
                            now=datetime.datetime.now(datetime.UTC))
        info = await web.service.install_certificate(certs_pem(leaf), private_key_pem(rsa_key))
        assert info.subject == "CN=nvr.example.com"
        served = await served_certificate(web.port)
        assert served == leaf.public_bytes(serialization.Encoding.DER) != first
        with pytest.raises(CertificateError):  # a refused import keeps what is served
            await web.service.install_certificate(b"nope", private_key_pem(rsa_key))
        assert await served_certificate(web.port) == served


def test_a_broken_pair_falls_back_to_the_backup_then_to_a_new_one(
        tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    ensure_certificate(tmp_path)
    good_cert = (tmp_path / "server.crt").read_bytes()
    (tmp_path / "server.crt.bak").write_bytes(good_cert)
    (tmp_path / "server.key.bak").write_bytes((tmp_path / "server.key").read_bytes())
    (tmp_path / "server.key").write_bytes(private_key_pem(rsa_key))  # a crash mid-import
    ServerTls(tmp_path)
    assert (tmp_path / "server.crt").read_bytes() == good_cert
    server_context(tmp_path / "server.crt", tmp_path / "server.key")

    for name in ("server.key", "server.key.bak"):
        (tmp_path / name).write_bytes(private_key_pem(rsa_key))
    ServerTls(tmp_path)
    assert (tmp_path / "server.crt").read_bytes() != good_cert
    assert certificate_info(tmp_path).self_signed
