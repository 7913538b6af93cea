"""The object-store driver on OpenStack Swift: the shared driver suite against a real
single-replica Swift (tempauth), the driver built from a ``swift://`` URL as operators give it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import opendal
import pytest

from moorage.config import Settings
from moorage.errors import ConfigError, StorageError
from moorage.storage.base import StorageDriver
from moorage.storage.configured import make_storage
from moorage.storage.objectstore import ObjectStoreDriver
from moorage.storage.objectstore_operators import SwiftRenewal, swift_login
from tests.services.objectstores import ObjectStoreServer
from tests.storage.driver_suite import DriverSuite

CONTAINER = "moorage"


@pytest.fixture(scope="module")
def swift_container(swift_server: ObjectStoreServer) -> str:
    extra = swift_server.extra
    login = swift_login(extra["auth_url"], extra["user"], extra["key"])
    for _ in range(40):  # a just-started account server may still answer the proxy 503 (bounded)
        answer = httpx.put(f"{login.url}/{CONTAINER}", headers={"X-Auth-Token": login.token})
        if answer.status_code != 503:
            break
        time.sleep(0.25)
    assert answer.status_code in (201, 202), answer.text
    return CONTAINER


def swift_driver(server: ObjectStoreServer, container: str, tmp_path: Path) -> StorageDriver:
    url = f"swift://{container}/t-{uuid.uuid4().hex}?auth_url={server.extra['auth_url']}"
    env = {"ST_USER": server.extra["user"], "ST_KEY": server.extra["key"]}
    return make_storage(Settings(data=tmp_path, storage=url), env=env)


class TestSwiftDriver(DriverSuite):
    @pytest.fixture
    async def driver(
        self, swift_server: ObjectStoreServer, swift_container: str, tmp_path: Path
    ) -> AsyncIterator[StorageDriver]:
        yield swift_driver(swift_server, swift_container, tmp_path)


def test_a_wrong_swift_key_is_a_clear_config_error(
    swift_server: ObjectStoreServer, tmp_path: Path
) -> None:
    url = f"swift://{CONTAINER}?auth_url={swift_server.extra['auth_url']}"
    with pytest.raises(ConfigError, match="refused \\(401\\)"):
        make_storage(
            Settings(data=tmp_path, storage=url),
            env={"ST_USER": swift_server.extra["user"], "ST_KEY": "wrong"},
        )


async def test_an_expiring_token_is_renewed_before_use(
    swift_server: ObjectStoreServer, swift_container: str
) -> None:
    """opendal's swift service holds a fixed token: the driver logs in again when the token is
    half-way through its life, so a long-running replica keeps working."""
    extra = swift_server.extra
    login = swift_login(extra["auth_url"], extra["user"], extra["key"])
    kw = {"container": swift_container, "root": f"/t-{uuid.uuid4().hex}/"}
    stale = opendal.AsyncOperator("swift", **kw, endpoint=login.url, token="AUTH_tk-expired")
    renewal = SwiftRenewal(extra["auth_url"], extra["user"], extra["key"], kw, expires=0.0)
    driver = ObjectStoreDriver(stale, name="swift", renew=renewal)
    await driver.put_bytes("k", b"after renewal")
    assert await driver.read_bytes("k") == b"after renewal"
    assert renewal.due > time.monotonic() + 60  # the next one is half a token's life away
    unrenewed = ObjectStoreDriver(stale, name="swift")
    with pytest.raises(StorageError):
        await unrenewed.put_bytes("k", b"refused")


# ---- S3 presigned redirects against a store that verifies SigV4 (Swift's s3api) --------------


async def test_presigned_redirects_are_verified_by_a_signing_store(
    swift_server: ObjectStoreServer, swift_container: str
) -> None:
    """s3rver does not check signatures; Swift's s3api does. A redirect URL reads its one
    object; another key, a flipped signature or a longer lifetime under the same signature are
    refused with 403."""
    endpoint = swift_server.extra["auth_url"].removesuffix("/auth/v1.0")
    op = opendal.AsyncOperator(
        "s3",
        bucket=swift_container,
        root=f"/s3-{uuid.uuid4().hex}/",
        endpoint=endpoint,
        region="us-east-1",
        access_key_id=swift_server.extra["user"],
        secret_access_key=swift_server.extra["key"],
        disable_config_load="true",
        disable_ec2_metadata="true",
    )
    driver = ObjectStoreDriver(op, name="s3", redirect_seconds=60)
    await driver.put_bytes("blobs/a/data", b"public to the holder")
    await driver.put_bytes("blobs/b/data", b"someone else's")
    url = await driver.redirect_url("blobs/a/data")
    assert url is not None
    signature = httpx.URL(url).params["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    async with httpx.AsyncClient(timeout=30) as http:
        ok = await http.get(url)
        assert ok.status_code == 200 and ok.content == b"public to the holder"
        for tampered in (
            url.replace("blobs/a/data", "blobs/b/data"),
            url.replace(signature, flipped),
            url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000"),
        ):
            assert tampered != url
            assert (await http.get(tampered)).status_code == 403, tampered
