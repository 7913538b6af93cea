"""``GET|PUT /api/v0/admin/settings/registry/simple``: DTR's storage settings (distribution's
``storage:`` block) on the in-process app, and on a real ``moorage serve`` that restarts onto the
stored setting. Who may, a storage pinned by the configuration, a registry that holds blobs, a
store that cannot be reached, secrets sealed and never answered nor logged, malformed bodies."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.oci.digest import Digest
from moorage.registry.layout import blob_key
from moorage.storage.distribution_config import REDACTED
from tests.auth.creds_helpers import new_user
from tests.conftest import RunningRegistry
from tests.http.inproc_images import push_blob
from tests.inprocess import InProcessApp, running_app
from tests.services.objectstores import S3_BUCKET, S3_KEY, ObjectStoreServer

PATH = "/api/v0/admin/settings/registry/simple"


def _s3_block(
    server: ObjectStoreServer, *, key: str = S3_KEY, secret: str = S3_KEY
) -> dict[str, Any]:
    return {
        "storage": {
            "s3": {
                "bucket": S3_BUCKET,
                "region": "us-east-1",
                "regionendpoint": server.endpoint,
                "forcepathstyle": True,
                "rootdirectory": f"/t-{uuid.uuid4().hex}",
                "accesskey": key,
                "secretkey": secret,
            },
            "delete": {"enabled": True},
            "maintenance": {"readonly": {"enabled": False}},
        }
    }


def _fs_block(root: Path) -> dict[str, Any]:
    return {"storage": {"filesystem": {"rootdirectory": str(root)}}}


def _error(r: httpx.Response) -> dict[str, Any]:
    errors: list[dict[str, Any]] = r.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]


async def _stored_row(app: InProcessApp) -> str | None:
    db = Database(app.settings.database_url)
    try:
        async with db.read() as conn:
            stmt = select(t.site_settings.c.value).where(
                t.site_settings.c.key == site_settings.STORAGE_KEY
            )
            value: str | None = (await conn.execute(stmt)).scalar()
            return value
    finally:
        await db.close()


async def test_anonymous_and_non_admins_are_refused(inproc: InProcessApp, tmp_path: Path) -> None:
    user = await new_user(inproc, "plainuser")
    body = _fs_block(tmp_path / "elsewhere")
    async with inproc.client(auth=None) as c:
        for r in (await c.get(PATH), await c.put(PATH, json=body)):
            assert r.status_code == 401, r.text
            assert _error(r)["code"] == "NOT_AUTHENTICATED"
        for r in (await c.get(PATH, auth=user), await c.put(PATH, json=body, auth=user)):
            assert r.status_code == 403, r.text
            assert _error(r)["code"] == "NOT_AUTHORIZED"
        r = await c.get(PATH, auth=("admin", "wrong-password"))
        assert r.status_code == 401
    assert await _stored_row(inproc) is None
    assert not (tmp_path / "elsewhere").exists()


async def test_default_is_the_data_folder(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        r = await c.get(PATH)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["storage"]["filesystem"] == {"rootdirectory": str(inproc.settings.storage_root)}
    assert got["storage"]["delete"] == {"enabled": True}
    assert (got["source"], got["pinned"], got["restartPending"]) == ("default", False, False)
    assert got["storageURL"] == f"file://{inproc.settings.storage_root}"


async def test_empty_registry_switches_on_restart(inproc: InProcessApp, tmp_path: Path) -> None:
    root = tmp_path / "new-root"
    async with inproc.client() as c:
        r = await c.put(PATH, json=_fs_block(root))
        assert r.status_code == 202, r.text
        assert r.json()["source"] == "database"
        assert r.json()["restartPending"] is True  # this replica still runs on the old one
        got = (await c.get(PATH)).json()
    assert got["storage"]["filesystem"] == {"rootdirectory": str(root)}
    assert (got["source"], got["restartPending"]) == ("database", True)
    assert root.is_dir() and not list((root / "_health").iterdir())  # the probe was removed
    row = json.loads(await _stored_row(inproc) or "{}")
    assert row["url"] == f"file://{root}" and row["updatedBy"] == "admin"


async def test_yaml_body_is_accepted(inproc: InProcessApp, tmp_path: Path) -> None:
    text = f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'y'}\n"
    async with inproc.client() as c:
        r = await c.put(PATH, content=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 202, r.text
    assert r.json()["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "y")


@pytest.mark.parametrize(
    ("body", "setting"),
    [
        ("{not json: [", "storage"),
        ('{"storage": {"oss": {"bucket": "x"}}}', "storage.oss"),
        (
            '{"storage": {"s3": {"bucket": "b-1", "region": "us-east-1", "bogus": 1}}}',
            "storage.s3.bogus",
        ),
        ('{"storage": {"filesystem": {"rootdirectory": "/x"}}, "auth": {}}', "auth"),
        ("[]", "storage"),
        ("", "storage"),
    ],
)
async def test_malformed_bodies_are_400(inproc: InProcessApp, body: str, setting: str) -> None:
    async with inproc.client() as c:
        r = await c.put(PATH, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    error = _error(r)
    assert error["code"] == "INVALID_SETTINGS"
    assert setting in {p["setting"] for p in error["detail"]}
    assert await _stored_row(inproc) is None


async def test_pinned_by_configuration_is_409(tmp_path: Path) -> None:
    pinned = f"file://{tmp_path / 'pinned'}"
    async with running_app(tmp_path / "data", storage=pinned) as app:
        async with app.client() as c:
            got = (await c.get(PATH)).json()
            assert (got["source"], got["pinned"], got["restartPending"]) == (
                "configuration",
                True,
                False,
            )
            r = await c.put(PATH, json=_fs_block(tmp_path / "other"))
        assert r.status_code == 409, r.text
        error = _error(r)
        assert error["code"] == "STORAGE_PINNED"
        assert "configuration" in error["message"] and str(tmp_path / "pinned") in error["message"]
        assert await _stored_row(app) is None
    assert not (tmp_path / "other").exists()


async def test_a_registry_with_blobs_needs_force(inproc: InProcessApp, tmp_path: Path) -> None:
    async with inproc.client() as c:
        digest = await push_blob(c, "acme/app", b"some layer bytes")
        r = await c.put(PATH, json=_fs_block(tmp_path / "new"))
        assert r.status_code == 409, r.text
        error = _error(r)
        assert error["code"] == "STORAGE_NOT_EMPTY"
        assert "moorage storage migrate" in error["message"] and error["detail"]["objects"] >= 1
        assert await _stored_row(inproc) is None
        # Said to be copied: the store is still probed, then the setting saved.
        r = await c.put(PATH, json=_fs_block(tmp_path / "new"), params={"force": "true"})
        assert r.status_code == 202, r.text
        # The same backend again (same URL) is no change: no force needed.
        r = await c.put(PATH, json=_fs_block(tmp_path / "new"))
        assert r.status_code == 202, r.text
        # Serving goes on from the old storage until the restart.
        r = await c.get(f"/v2/acme/app/blobs/{digest}")
        assert r.status_code == 200 and r.content == b"some layer bytes"
    key = blob_key(Digest.parse(digest))
    assert (inproc.settings.storage_root / key).exists()


async def test_unreachable_store_is_400_with_the_drivers_words(
    inproc: InProcessApp, tmp_path: Path, s3_server: ObjectStoreServer
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    async with inproc.client() as c:
        r = await c.put(PATH, json=_fs_block(blocker / "sub"))
        assert r.status_code == 400, r.text
        assert _error(r)["code"] == "STORAGE_UNREACHABLE"
        r = await c.put(PATH, json=_s3_block(s3_server, key="WRONGKEY", secret="WRONGSECRET"))
        assert r.status_code == 400, r.text
        error = _error(r)
        assert error["code"] == "STORAGE_UNREACHABLE"
        assert "cannot be written and read" in error["message"]
        assert "WRONGSECRET" not in r.text
    assert await _stored_row(inproc) is None


async def test_s3_secrets_are_sealed_redacted_and_not_logged(
    inproc: InProcessApp, s3_server: ObjectStoreServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    block = _s3_block(s3_server)
    async with inproc.client() as c:
        r = await c.put(PATH, json=block)
        assert r.status_code == 202, r.text
        got = (await c.get(PATH)).json()
        s3 = got["storage"]["s3"]
        assert s3["accesskey"] == s3["secretkey"] == REDACTED
        assert s3["regionendpoint"] == s3_server.endpoint and s3["forcepathstyle"] is True
        assert got["storageURL"].startswith(f"s3://{S3_BUCKET}/t-")
        assert S3_KEY not in json.dumps(got)
        # GET's answer sent back keeps the stored keys (the store is probed with them again).
        r = await c.put(PATH, json={"storage": got["storage"]})
        assert r.status_code == 202, r.text
    row = await _stored_row(inproc) or ""
    assert S3_KEY not in row  # sealed with the data folder's secret key
    stored = json.loads(row)
    assert stored["accessKeySealed"].startswith("gAAAAA")
    assert S3_KEY not in caplog.text
    assert any("storage setting changed" in m for m in caplog.messages)


# ---- a real server: the stored setting is what the next start uses ---------------------------


@pytest.fixture()
def restartable(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory()


def test_the_next_start_uses_the_stored_setting(
    restartable: RunningRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "chosen"
    with restartable.client() as c:
        r = c.put(PATH, json=_fs_block(root))
        assert r.status_code == 202, r.text
        assert r.json()["restartPending"] is True
    restartable.stop()
    restartable.start()
    data = uuid.uuid4().bytes * 8
    digest = Digest.of(data)
    with restartable.client() as c:
        got = c.get(PATH).json()
        assert (got["source"], got["restartPending"]) == ("database", False)
        r = c.post("/v2/acme/moved/blobs/uploads/", params={"digest": str(digest)}, content=data)
        assert r.status_code == 201, r.text
        assert c.get(f"/v2/acme/moved/blobs/{digest}").content == data
    assert (root / blob_key(digest)).read_bytes() == data
    assert not (restartable.data / "storage" / blob_key(digest)).exists()
