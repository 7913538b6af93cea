"""``moorage storage migrate`` end to end: a real ``moorage serve`` keeps serving while the
command copies its blobs to another folder; the switch is the database setting the API shows,
the restarted server pushes and pulls on the new storage (a folder, and s3rver with keys sealed
in the database); a dry run, a bad URL, a storage pinned by the configuration, and a failed copy
that switches nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from moorage.oci.digest import Digest
from moorage.registry.layout import blob_key
from moorage.storage.configured import driver_for
from moorage.storage.distribution_config import REDACTED
from moorage.storage.objectstore_operators import Credentials
from tests.cli import moorage
from tests.conftest import RunningRegistry
from tests.registry.pushing import push_blob, push_image
from tests.services.objectstores import S3_BUCKET, S3_KEY, ObjectStoreServer

PATH = "/api/v0/admin/settings/registry/simple"


@pytest.fixture()
def served(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory()


def test_migrate_while_serving_then_restart(served: RunningRegistry, tmp_path: Path) -> None:
    new_root = tmp_path / "new-storage"
    with served.client() as c:
        digest, _ = push_image(c, "acme/app", "v1", b'{"os":"linux"}', [os.urandom(5000)])
        layer = push_blob(c, "acme/app", os.urandom(70_000))
    # A dry run counts and changes nothing.
    dry = moorage(
        "storage",
        "migrate",
        "--to",
        f"file://{new_root}",
        "--dry-run",
        data=served.data,
        database=served.database,
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run: 4 objects" in dry.stdout and "4 to copy" in dry.stdout
    assert not new_root.exists() or not any(new_root.rglob("data"))
    # The real one, while the server serves.
    run = moorage(
        "storage",
        "migrate",
        "--to",
        f"file://{new_root}",
        data=served.data,
        database=served.database,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "complete: 4 objects" in run.stdout and "4 copied" in run.stdout
    assert "switched" in run.stdout and "restart each replica" in run.stdout
    assert "copying from" in run.stderr
    with served.client() as c:
        got = c.get(PATH).json()
        assert (got["source"], got["restartPending"]) == ("database", True)
        assert got["storage"]["filesystem"]["rootdirectory"] == str(new_root)
        # Still serving from the old storage until the restart.
        assert c.get(f"/v2/acme/app/manifests/{digest}").status_code == 200
    # A second run finds everything present.
    again = moorage(
        "storage",
        "migrate",
        "--from",
        f"file://{served.data / 'storage'}",
        "--to",
        f"file://{new_root}",
        data=served.data,
        database=served.database,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 copied" in again.stdout and "4 already present" in again.stdout
    served.stop()
    served.start()
    pushed = os.urandom(3000)
    with served.client() as c:
        assert c.get(PATH).json()["restartPending"] is False
        assert c.get(f"/v2/acme/app/blobs/{layer}").status_code == 200
        assert c.get(f"/v2/acme/app/manifests/{digest}").status_code == 200
        fresh = push_blob(c, "acme/app", pushed)
    assert (new_root / blob_key(Digest.parse(fresh))).read_bytes() == pushed
    assert not (served.data / "storage" / blob_key(Digest.parse(fresh))).exists()


def test_refusals(served: RunningRegistry, tmp_path: Path) -> None:
    bad = moorage(
        "storage",
        "migrate",
        "--to",
        "s3://user:pw@bucket",
        data=served.data,
        database=served.database,
    )
    assert bad.returncode == 2 and "credentials do not belong in the URL" in bad.stderr
    assert "user:pw" not in bad.stderr
    same = moorage(
        "storage",
        "migrate",
        "--to",
        f"file://{served.data / 'storage'}",
        data=served.data,
        database=served.database,
    )
    assert same.returncode == 2 and "already the old storage" in same.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    unreachable = moorage(
        "storage",
        "migrate",
        "--to",
        f"file://{blocked}/sub",
        data=served.data,
        database=served.database,
    )
    assert unreachable.returncode == 1 and "cannot be written and read" in unreachable.stderr
    with served.client() as c:
        assert c.get(PATH).json()["source"] == "default"  # nothing switched


def test_missing_bytes_switch_nothing(served: RunningRegistry, tmp_path: Path) -> None:
    with served.client() as c:
        gone = push_blob(c, "acme/broken", uuid.uuid4().bytes)
    (served.data / "storage" / blob_key(Digest.parse(gone))).unlink()
    run = moorage(
        "storage",
        "migrate",
        "--to",
        f"file://{tmp_path / 'new'}",
        data=served.data,
        database=served.database,
    )
    assert run.returncode == 1
    assert (
        "NOT complete" in run.stdout and f"failed: {gone}: missing in the old storage" in run.stdout
    )
    assert "not switched" in run.stdout
    with served.client() as c:
        assert c.get(PATH).json()["source"] == "default"


def test_pinned_storage_prints_the_setting_to_change(
    registry_factory: Callable[..., RunningRegistry], tmp_path: Path
) -> None:
    old = tmp_path / "pinned"
    reg = registry_factory(extra_args=["--storage", f"file://{old}"])
    with reg.client() as c:
        push_blob(c, "acme/pinned", b"pinned bytes")
    new = tmp_path / "next"
    run = moorage(
        "storage",
        "migrate",
        "--storage",
        f"file://{old}",
        "--to",
        f"file://{new}",
        data=reg.data,
        database=reg.database,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the configuration pins the storage" in run.stdout
    assert f"to file://{new} on every replica" in run.stdout
    with reg.client() as c:
        got = c.get(PATH).json()
        assert (got["source"], got["pinned"]) == ("configuration", True)


def test_migrate_to_s3_with_sealed_keys(
    served: RunningRegistry, s3_server: ObjectStoreServer
) -> None:
    with served.client() as c:
        digest, _ = push_image(c, "acme/s3", "v1", b'{"os":"linux"}', [os.urandom(9000)])
    url = (
        f"s3://{S3_BUCKET}/cli-{uuid.uuid4().hex}?endpoint={s3_server.endpoint}"
        "&region=us-east-1&path_style=true"
    )
    keys = {"MOORAGE_TO_ACCESS_KEY": S3_KEY, "MOORAGE_TO_SECRET_KEY": S3_KEY}
    wrong = moorage(
        "storage",
        "migrate",
        "--to",
        url,
        data=served.data,
        database=served.database,
        env={"MOORAGE_TO_ACCESS_KEY": "NOPE", "MOORAGE_TO_SECRET_KEY": "NOPE"},
    )
    assert wrong.returncode == 1 and "cannot be written and read" in wrong.stderr
    run = moorage(
        "storage", "migrate", "--to", url, data=served.data, database=served.database, env=keys
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "complete: 3 objects" in run.stdout and S3_KEY not in run.stdout + run.stderr
    with served.client() as c:
        s3 = c.get(PATH).json()["storage"]["s3"]
        assert s3["accesskey"] == s3["secretkey"] == REDACTED
    # The restarted server (no storage in its configuration, no AWS keys in its environment)
    # opens the sealed keys and serves from S3.
    served.stop()
    served.start()
    with served.client() as c:
        assert c.get(f"/v2/acme/s3/manifests/{digest}").status_code == 200
        fresh = push_blob(c, "acme/s3", b"pushed onto s3")
    store = driver_for(url, Credentials(S3_KEY, S3_KEY), {})
    assert asyncio.run(store.read_bytes(blob_key(Digest.parse(fresh)))) == b"pushed onto s3"
