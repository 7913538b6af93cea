"""``moorage storage migrate``'s copier (moorage.registry.storage_migrate) on the in-process app's
database: filesystem → filesystem and → a real s3rver, blobs pushed while it copies, copies that
come back wrong from the new store (nothing placed, not complete), objects already present,
bytes missing in the old store, and a dry run."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from moorage.db.engine import Database
from moorage.oci.digest import Digest
from moorage.registry.layout import blob_key
from moorage.registry.storage_migrate import Migration, Summary, holds_content, known_objects
from moorage.storage.base import AppendWriter, StorageDriver, read_all
from moorage.storage.configured import driver_for
from moorage.storage.filesystem import FilesystemDriver
from moorage.storage.objectstore_operators import Credentials
from tests.http.inproc_images import push_blob, push_image
from tests.inprocess import InProcessApp
from tests.services.objectstores import S3_BUCKET, S3_KEY, ObjectStoreServer


@pytest.fixture()
async def db(inproc: InProcessApp) -> AsyncIterator[Database]:
    handle = Database(inproc.settings.database_url)
    try:
        yield handle
    finally:
        await handle.close()


async def _digests(db: Database) -> dict[str, int]:
    return {item.digest: item.size async for item in known_objects(db)}


async def _same_everywhere(db: Database, source: StorageDriver, target: StorageDriver) -> int:
    """Every object the database knows has the same bytes in both stores; how many."""
    known = await _digests(db)
    for digest in known:
        key = blob_key(Digest.parse(digest))
        assert await read_all(target.read(key)) == await read_all(source.read(key)), digest
    return len(known)


def _migration(
    db: Database, source: StorageDriver, target: StorageDriver, **kw: object
) -> tuple[Migration, list[str]]:
    said: list[str] = []
    return Migration(db, source, target, report=said.append, **kw), said  # type: ignore[arg-type]


async def test_filesystem_to_filesystem(inproc: InProcessApp, db: Database, tmp_path: Path) -> None:
    async with inproc.client() as c:
        await push_image(c, "acme/app", "v1")
        await push_image(c, "acme/other", "v1")
    source = FilesystemDriver(inproc.settings.storage_root)
    target = FilesystemDriver(tmp_path / "new")
    migration, said = _migration(db, source, target)
    summary = await migration.run()
    assert summary.complete, (summary, said)
    # Two images sharing one config: the config, two layers, two manifests.
    assert summary.objects == await holds_content(db) == len(await _digests(db)) == 5
    assert summary.copied == 5 and summary.present == 0
    assert summary.bytes_copied == sum((await _digests(db)).values())
    assert await _same_everywhere(db, source, target) == 5
    assert not (tmp_path / "new" / "uploads").exists() or not list(
        (tmp_path / "new" / "uploads").iterdir()
    )  # no staging copy left
    # Again: nothing copied, everything read back and verified.
    again, _ = _migration(db, source, target)
    second = await again.run()
    assert second.complete and (second.copied, second.present) == (0, 5)
    assert "complete: 5 objects" in second.words()


async def test_filesystem_to_s3(
    inproc: InProcessApp, db: Database, s3_server: ObjectStoreServer
) -> None:
    async with inproc.client() as c:
        await push_image(c, "acme/app", "v1")
        await push_blob(c, "acme/app", os.urandom(3 << 20))  # several read chunks
    url = (
        f"s3://{S3_BUCKET}/m-{uuid.uuid4().hex}?endpoint={s3_server.endpoint}"
        "&region=us-east-1&path_style=true"
    )
    target = driver_for(url, Credentials(S3_KEY, S3_KEY), {})
    source = FilesystemDriver(inproc.settings.storage_root)
    summary = await _migration(db, source, target)[0].run()
    assert summary.complete and summary.copied == 4, summary
    assert await _same_everywhere(db, source, target) == 4
    assert [k for k in await target.list("uploads") if "migrate-" in k] == []


class PushingSource(FilesystemDriver):
    """The old store, with a push arriving through the registry while the first object is
    being read (the registry keeps serving during a migration)."""

    def __init__(self, root: Path, app: InProcessApp) -> None:
        super().__init__(root)
        self.app = app
        self.pushed: list[str] = []

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:  # type: ignore[override]
        if len(self.pushed) < 2:
            async with self.app.client() as c:
                self.pushed.append(await push_blob(c, "acme/busy", os.urandom(1000)))
        async for chunk in super().read(key, offset, length):
            yield chunk


async def test_blobs_pushed_during_the_copy_are_copied(
    inproc: InProcessApp, db: Database, tmp_path: Path
) -> None:
    async with inproc.client() as c:
        await push_image(c, "acme/app", "v1")
    source = PushingSource(inproc.settings.storage_root, inproc)
    target = FilesystemDriver(tmp_path / "new")
    migration, said = _migration(db, source, target)
    summary = await migration.run()
    assert len(source.pushed) == 2
    assert summary.complete and summary.passes >= 2, (summary, said)
    assert summary.objects == 5
    for digest in source.pushed:
        assert await target.stat(blob_key(Digest.parse(digest))) == 1000
    assert any(line.startswith("pass 2:") for line in said)


class CorruptingWriter(AppendWriter):
    def __init__(self, inner: AppendWriter) -> None:
        self.inner = inner
        self.offset = inner.offset

    async def write(self, data: bytes | bytearray) -> None:
        spoiled = bytearray(data)
        spoiled[0] ^= 0xFF
        await self.inner.write(spoiled)
        self.offset = self.inner.offset

    async def close(self) -> None:
        await self.inner.close()

    async def abort(self) -> None:
        await self.inner.abort()


class CorruptingTarget(FilesystemDriver):
    """A new store that keeps the size but not the bytes (a broken disk, a bad gateway)."""

    async def open_append(self, key: str, offset: int) -> AppendWriter:
        return CorruptingWriter(await super().open_append(key, offset))


async def test_a_corrupted_copy_is_detected_and_not_placed(
    inproc: InProcessApp, db: Database, tmp_path: Path
) -> None:
    async with inproc.client() as c:
        await push_image(c, "acme/app", "v1")
    source = FilesystemDriver(inproc.settings.storage_root)
    target = CorruptingTarget(tmp_path / "new")
    summary = await _migration(db, source, target)[0].run()
    assert not summary.complete
    assert len(summary.failures) == 3 and summary.copied == 0
    assert all("does not match" in reason for _, reason in summary.failures)
    for digest in await _digests(db):
        assert await target.stat(blob_key(Digest.parse(digest))) is None
    assert "NOT complete" in summary.words()


async def test_a_wrong_object_already_present_is_copied_again(
    inproc: InProcessApp, db: Database, tmp_path: Path
) -> None:
    async with inproc.client() as c:
        digest = await push_blob(c, "acme/app", b"the real bytes")
    key = blob_key(Digest.parse(digest))
    target = FilesystemDriver(tmp_path / "new")
    await target.put_bytes(key, b"the fake bytes")  # the right size, the wrong content
    source = FilesystemDriver(inproc.settings.storage_root)
    migration, said = _migration(db, source, target)
    summary = await migration.run()
    assert summary.complete and summary.copied == 1 and summary.present == 0, summary
    assert await target.read_bytes(key) == b"the real bytes"
    assert any("copying again" in line for line in said)
    assert hashlib.sha256(await target.read_bytes(key)).hexdigest() == Digest.parse(digest).hex


async def test_bytes_missing_in_the_old_store_fail_the_migration(
    inproc: InProcessApp, db: Database, tmp_path: Path
) -> None:
    async with inproc.client() as c:
        digest = await push_blob(c, "acme/app", b"soon gone")
        await push_blob(c, "acme/app", b"still here")
    source = FilesystemDriver(inproc.settings.storage_root)
    await source.delete(blob_key(Digest.parse(digest)))
    summary = await _migration(db, source, FilesystemDriver(tmp_path / "new"))[0].run()
    assert not summary.complete and summary.copied == 1
    assert summary.failures == [(digest, "missing in the old storage")]


async def test_a_dry_run_writes_nothing(inproc: InProcessApp, db: Database, tmp_path: Path) -> None:
    async with inproc.client() as c:
        await push_image(c, "acme/app", "v1")
    summary: Summary = await _migration(
        db,
        FilesystemDriver(inproc.settings.storage_root),
        FilesystemDriver(tmp_path / "new"),
        dry_run=True,
    )[0].run()
    assert summary.copied == 3 and summary.bytes_copied > 0
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").rglob("data"))


async def test_an_empty_registry_is_complete_at_once(db: Database, tmp_path: Path) -> None:
    summary = await _migration(
        db, FilesystemDriver(tmp_path / "a"), FilesystemDriver(tmp_path / "b")
    )[0].run()
    assert summary.complete and summary.objects == 0 and summary.copied == 0
    assert await holds_content(db) == 0
