"""A real ``moorage serve --tls auto``: its own CA at /ca, a certificate that verifies against it
(Python's ssl, skopeo with ``--dest-cert-dir``), renewal while serving, the https redirect, and a
supplied certificate winning over the own CA."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from sqlalchemy import select

from moorage.auth import own_ca
from moorage.auth.secretbox import SecretBox
from moorage.db import tables as t
from moorage.db.engine import Database
from tests.clients.conftest import build_umoci_image, client_environment, requires
from tests.conftest import RunningRegistry, free_port, seed_sqlite
from tests.services.tls import self_signed


@pytest.fixture(scope="module")
def redirect_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def tls_registry(
    registry_factory: Callable[..., RunningRegistry], redirect_port: int
) -> Iterator[RunningRegistry]:
    reg = registry_factory(
        scheme="https",
        extra_args=["--tls", "auto", "--http-redirect-port", str(redirect_port)],
        # The supervisor's renewal check, often enough for a test to see it.
        env={"MOORAGE_TLS_CHECK_SECONDS": "2"},
    )
    yield reg


def ca_pem(reg: RunningRegistry) -> bytes:
    with httpx.Client(base_url=reg.url, verify=False, timeout=30) as c:
        r = c.get("/ca")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-pem-file"
    return r.content


def served_certificate(port: int, ca: bytes, name: str = "127.0.0.1") -> x509.Certificate:
    """The server's certificate, after a handshake that verified it against ``ca`` for
    ``name`` (ssl raises otherwise)."""
    context = ssl.create_default_context(cadata=ca.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def tls_files(reg: RunningRegistry) -> tuple[Path, Path]:
    (cert,) = (reg.data / "tls").glob("*/server.crt")
    return cert, cert.with_name("server.key")


@pytest.mark.one_database
def test_ca_served_and_handshake_verifies(tls_registry: RunningRegistry) -> None:
    pem = ca_pem(tls_registry)
    ca = x509.load_pem_x509_certificate(pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name in ("127.0.0.1", "localhost", socket.gethostname()):
        cert = served_certificate(tls_registry.port, pem, name)
        assert own_ca.signed_by(cert, ca)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert own_ca.SERVER_LIFETIME <= lifetime <= own_ca.SERVER_LIFETIME + own_ca.BACKDATE
    # A name the certificate is not for fails the handshake.
    with pytest.raises(ssl.SSLCertVerificationError):
        served_certificate(tls_registry.port, pem, "not-this-registry.example.com")
    # And a client that does not trust the CA refuses the server.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{tls_registry.url}/_ping", timeout=10)
    with httpx.Client(verify=ssl.create_default_context(cadata=pem.decode())) as c:
        assert c.get(f"{tls_registry.url}/_ping").json()["Healthy"] is True

    cert_file, key_file = tls_files(tls_registry)
    for path in (cert_file, key_file, cert_file.with_name("ca.crt")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cert_file.with_name("ca.crt").read_bytes() == pem
    assert "PRIVATE KEY" not in asyncio.run(_stored_row(tls_registry))  # sealed


async def _stored_row(reg: RunningRegistry) -> str:
    db = Database(reg.database_url)
    try:
        async with db.read() as conn:
            value = (
                await conn.execute(
                    select(t.site_settings.c.value).where(
                        t.site_settings.c.key == own_ca.SETTINGS_KEY
                    )
                )
            ).scalar()
    finally:
        await db.close()
    assert isinstance(value, str) and "BEGIN CERTIFICATE" in value
    return value


@pytest.mark.one_database
@requires("skopeo", "umoci")
def test_skopeo_copy_trusting_the_ca(tls_registry: RunningRegistry, tmp_path: Path) -> None:
    cenv = client_environment(tmp_path / "clients", tls_registry)
    # Unlike the client tests' registries.conf, the registry is not marked insecure here.
    (cenv.conf / "registries.conf").write_text(
        'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
    )
    image = build_umoci_image(cenv, tmp_path / "layout", "v1")
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(ca_pem(tls_registry))
    ref = cenv.ref("tls/auto:v1")

    refused = cenv.skopeo("copy", image.oci_ref, ref, check=False)
    assert refused.returncode != 0
    assert "certificate" in refused.stderr  # x509: certificate signed by unknown authority

    cenv.skopeo("copy", "--dest-cert-dir", str(certs), image.oci_ref, ref)
    pulled = tmp_path / "pulled"
    cenv.skopeo("copy", "--src-cert-dir", str(certs), ref, f"dir:{pulled}")
    assert (pulled / "manifest.json").read_bytes() == image.manifest
    for digest in image.layer_digests:
        assert (pulled / digest.removeprefix("sha256:")).read_bytes() == image.blobs[digest]


@pytest.mark.one_database
def test_plain_http_port_redirects_to_https(
    tls_registry: RunningRegistry, redirect_port: int
) -> None:
    plain = f"http://127.0.0.1:{redirect_port}"
    https = f"https://127.0.0.1:{tls_registry.port}"
    with httpx.Client(timeout=10) as c:
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
            r = c.request(method, f"{plain}/v2/some/repo/tags/list?n=5&last=a%20b")
            assert r.status_code == 308, (method, r.status_code)
            assert r.headers["location"] == f"{https}/v2/some/repo/tags/list?n=5&last=a%20b"
            assert r.content == b""
        r = c.get(f"{plain}/", headers={"Host": "registry.example.com:80"})
        assert r.headers["location"] == f"https://registry.example.com:{tls_registry.port}/"
        # A Host that is not a host name is not echoed into a Location.
        for bad in ("evil.example.com/x", "a b", "user@evil.example.com", "[::1"):
            r = c.get(f"{plain}/x", headers={"Host": bad})
            assert r.status_code == 400 and "location" not in r.headers, bad
    # Nothing but redirects there: no Host at all (HTTP/1.0) gets a 400, never the registry.
    with socket.create_connection(("127.0.0.1", redirect_port), timeout=10) as s:
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    pem = ca_pem(tls_registry)
    verified = ssl.create_default_context(cadata=pem.decode())
    with httpx.Client(verify=verified, follow_redirects=True, timeout=10) as c:
        r = c.get(f"{plain}/_ping")
        assert r.status_code == 200 and str(r.url) == f"{https}/_ping"


async def _near_expiry(reg: RunningRegistry, names: list[x509.GeneralName]) -> bytes:
    """A certificate from the registry's CA with 20 days left, for the same names."""
    db = Database(reg.database_url)
    try:
        ca, created = await own_ca.load_or_create(db, SecretBox.in_data_folder(reg.data))
    finally:
        await db.close()
    assert not created
    made = own_ca.make_server_certificate(
        ca, names, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=70)
    )
    cert_file, key_file = tls_files(reg)
    key_file.write_bytes(made.key_pem)
    cert_file.write_bytes(made.cert_pem)
    return made.cert_pem


@pytest.mark.one_database
def test_renewed_while_serving_and_kept_across_restarts(tls_registry: RunningRegistry) -> None:
    pem = ca_pem(tls_registry)
    first = served_certificate(tls_registry.port, pem)
    alt = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    old = x509.load_pem_x509_certificate(asyncio.run(_near_expiry(tls_registry, list(alt))))

    # The supervisor's check renews it and restarts the workers, which serve the new one.
    deadline = time.monotonic() + 150
    while True:
        served = served_certificate(tls_registry.port, pem)
        if served.serial_number not in (first.serial_number, old.serial_number):
            break
        assert time.monotonic() < deadline, tls_registry.log_path.read_text()[-3000:]
        time.sleep(0.5)
    assert served.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=80)
    on_disk = x509.load_pem_x509_certificate(tls_files(tls_registry)[0].read_bytes())
    assert on_disk.serial_number == served.serial_number

    # The old worker stops once the new one had its time to start; every handshake until
    # then succeeded, on either (the new worker listens beside the old: no refused connection).
    while tls_registry.log_path.read_text().count("Stopped old worker") < 1:
        assert time.monotonic() < deadline, tls_registry.log_path.read_text()[-3000:]
        serial = served_certificate(tls_registry.port, pem).serial_number
        assert serial in (first.serial_number, served.serial_number)
        time.sleep(0.5)
    for _ in range(5):
        assert served_certificate(tls_registry.port, pem).serial_number == served.serial_number

    # A restart keeps the CA and the (good) certificate.
    tls_registry.stop()
    tls_registry.start()
    assert ca_pem(tls_registry) == pem
    assert served_certificate(tls_registry.port, pem).serial_number == served.serial_number


@pytest.mark.one_database
def test_supplied_certificate_wins(
    registry_factory: Callable[..., RunningRegistry], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    reg = registry_factory(
        scheme="https",
        extra_args=["--tls", "auto", "--tls-cert", str(cert), "--tls-key", str(key)],
    )
    supplied = x509.load_pem_x509_certificate(cert.read_bytes())
    assert served_certificate(reg.port, cert.read_bytes()) == supplied
    with httpx.Client(base_url=reg.url, verify=False, timeout=30) as c:
        r = c.get("/ca")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert not (reg.data / "tls").exists()


def test_replicas_starting_at_once_share_one_ca(
    database_factory: Callable[[], str | None], tmp_path: Path
) -> None:
    """Three replicas on one database started at once (on SQLite: one data folder; on
    PostgreSQL: a folder each, one secret key): one CA, which each serves at /ca, and a server
    certificate each of its own signed by it."""
    database = database_factory()
    shared = tmp_path / "shared"
    if database is None:
        seed_sqlite(shared)
    env = {"MOORAGE_SECRET_KEY": Fernet.generate_key().decode()}
    regs = [
        RunningRegistry(
            data=shared if database is None else tmp_path / f"r{i}",
            database=database,
            env=env,
            scheme="https",
            extra_args=["--tls", "auto"],
            site_settings={},
        )
        for i in range(3)
    ]
    barrier = threading.Barrier(len(regs))
    errors: list[BaseException] = []

    def start(reg: RunningRegistry) -> None:
        barrier.wait()
        try:
            reg.start(timeout=120)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(reg,)) for reg in regs]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        pems = {ca_pem(reg) for reg in regs}
        assert len(pems) == 1
        (pem,) = pems
        ca = x509.load_pem_x509_certificate(pem)
        served = [served_certificate(reg.port, pem) for reg in regs]
        assert len({cert.serial_number for cert in served}) == len(regs)
        assert all(own_ca.signed_by(cert, ca) for cert in served)
        logs = [reg.log_path.read_text() for reg in regs]
        assert sum(log.count("created the registry's own CA") for log in logs) == 1
    finally:
        for reg in regs:
            reg.stop()
