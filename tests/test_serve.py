"""``moorage serve``: TLS, the first administrator, and /_ping turning unhealthy."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import RunningRegistry
from tests.services.tls import self_signed


def test_tls(registry_factory: Callable[..., RunningRegistry], tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "tls.crt", "tls.key")
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
