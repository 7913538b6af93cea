"""``moorage serve``: TLS, the first administrator, and /_ping turning unhealthy."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import RunningRegistry


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(registry_factory: Callable[..., RunningRegistry], tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    reg = registry_factory(
        extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https"
    )
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(cert)), auth=reg.admin
    ) as client:
        r = client.get(f"https://{reg.host}/v2/")
        assert r.status_code == 200
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    # plain HTTP to the TLS port is refused
    try:
        plain = httpx.get(f"http://{reg.host}/v2/", timeout=5.0).status_code
    except httpx.HTTPError:
        plain = None
    assert plain != 200


def test_generated_admin_password_printed_once(
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    reg = registry_factory(env={"MOORAGE_ADMIN_PASSWORD": ""}, site_settings={})
    log = reg.log_path.read_text()
    marker = "First administrator created: user 'admin', password "
    assert log.count(marker) == 1
    password = log.split(marker, 1)[1].split()[0]
    with httpx.Client(base_url=reg.url) as client:
        assert client.get("/v2/", auth=("admin", password)).status_code == 200
        assert client.get("/v2/", auth=("admin", "wrong-password")).status_code == 401
    # the password appears in that one notice and in no log record
    assert log.count(password) == 1
    reg.stop()
    reg.start()
    assert reg.log_path.read_text().count(marker) == 1


def test_ping_turns_unhealthy_when_storage_breaks(
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    reg = registry_factory()
    storage = reg.data / "storage"
    with httpx.Client(base_url=reg.url) as client:
        assert client.get("/_ping").json() == {"Error": "", "Healthy": True}
        shutil.rmtree(storage)
        storage.write_text("not a directory")
        try:
            r = client.get("/_ping")
            assert r.status_code == 503
            body = r.json()
            assert body["Healthy"] is False and "storage" in body["Error"]
        finally:
            storage.unlink()
            storage.mkdir()
        assert client.get("/_ping").status_code == 200
