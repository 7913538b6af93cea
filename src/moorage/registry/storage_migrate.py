"""``moorage storage migrate``: copy every blob and manifest the database knows from the storage
in force to another one while the registry keeps serving, each copy verified by reading it
back through the new driver, and say whether the switch is safe.

A copy is written under ``uploads/migrate-<id>/data`` in the new store (streamed through the
driver's append writer, one chunk at a time), read back and hashed there, and only when its
digest and size are right moved to its content address; a wrong copy is deleted and counted as
a failure. An object the new store already holds at its address with the right size is not
copied again, but read back and verified too: nothing counts as copied unless its bytes were
checked in the new store.

Passes repeat while the registry is serving: pass 1 takes every object, each later pass takes
those that appeared meanwhile (pushes during the copy), until a pass finds nothing new (at most
``max_passes``). The database and the old store are only read: interrupting a migration leaves
the registry serving from the old store, and the next run carries on (what was verified is not
copied again). The switch itself (the stored setting) is the caller's (moorage.cli.storage_cmd).

The objects are listed from SQL a page at a time (keyset paging on the digest); the set of
digests verified in this run is kept in memory (about 100 bytes each).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import MoorageError, StorageNotFound
from moorage.oci.digest import Digest
from moorage.registry.layout import blob_key
from moorage.storage.base import StorageDriver
from moorage.storage.configured import driver_for
from moorage.storage.distribution_config import StorageUnreachable
from moorage.storage.objectstore_operators import Credentials

PAGE = 500
_PROGRESS_SECONDS = 5.0


@dataclass(frozen=True)
class Known:
    digest: str
    size: int


@dataclass
class Summary:
    passes: int = 0
    objects: int = 0  # distinct blobs and manifests seen
    copied: int = 0
    present: int = 0  # already in the new store with the right bytes
    bytes_copied: int = 0
    vanished: int = 0  # deleted (GC, a repository delete) while the migration ran
    failures: list[tuple[str, str]] = field(default_factory=list)
    settled: bool = False  # the last pass found nothing new
    dry_run: bool = False  # "copied" counts what would be copied

    @property
    def complete(self) -> bool:
        """Every object the database knows is verified in the new store."""
        return self.settled and not self.failures

    def words(self) -> str:
        state = "complete" if self.complete else "NOT complete"
        if self.dry_run:
            state = "dry run"
        copied = "to copy" if self.dry_run else "copied"
        present = "already present" + ("" if self.dry_run else " and verified")
        return (
            f"{state}: {self.objects} objects in {self.passes} passes, {self.copied} {copied} "
            f"({_size(self.bytes_copied)}), {self.present} {present}, "
            f"{self.vanished} deleted meanwhile, {len(self.failures)} failed"
        )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


async def known_objects(db: Database) -> AsyncIterator[Known]:
    """Every blob and manifest row (digest, size), a page at a time; a digest may come twice
    (a manifest stored in several repositories, or also a blob row)."""
    b, m = t.blobs, t.manifests
    by_blob = select(b.c.digest, b.c.size).order_by(b.c.digest).limit(PAGE)
    async for item in _pages(db, by_blob, b.c.digest):
        yield item
    by_manifest = (
        select(m.c.digest, func.max(m.c.size)).group_by(m.c.digest).order_by(m.c.digest)
    ).limit(PAGE)
    async for item in _pages(db, by_manifest, m.c.digest):
        yield item


async def _pages(
    db: Database, query: Select[tuple[Any, Any]], digest: ColumnElement[str]
) -> AsyncIterator[Known]:
    last = ""
    while True:
        async with db.read() as conn:
            rows = (await conn.execute(query.where(digest > last))).all()
        for row in rows:
            values = tuple(row)
            yield Known(str(values[0]), int(values[1]))
        if len(rows) < PAGE:
            return
        last = str(rows[-1][0])


async def holds_content(db: Database) -> int:
    """How many distinct blobs and manifests the database knows (0: an empty registry)."""
    b, m = t.blobs, t.manifests
    without_row = select(func.count(func.distinct(m.c.digest))).where(
        m.c.digest.not_in(select(b.c.digest))
    )
    async with db.read() as conn:
        blobs = (await conn.execute(select(func.count()).select_from(b))).scalar_one()
        manifests = (await conn.execute(without_row)).scalar_one()
    return int(blobs) + int(manifests)


async def _still_known(db: Database, digest: str) -> bool:
    async with db.read() as conn:
        for table in (t.blobs, t.manifests):
            found = await conn.execute(
                select(table.c.digest).where(table.c.digest == digest).limit(1)
            )
            if found.first() is not None:
                return True
    return False


async def reachable(
    url: str, creds: Credentials, env: Mapping[str, str], *, seconds: float = 30.0
) -> StorageDriver:
    """The driver of ``url``, once a probe object was written, read back and deleted there;
    StorageUnreachable with the driver's error in words otherwise."""
    try:
        driver = await asyncio.to_thread(driver_for, url, creds, env)  # Swift logs in
        await asyncio.wait_for(driver.check_health(), seconds)
    except TimeoutError as exc:
        raise StorageUnreachable(f"the storage did not answer within {seconds:.0f} s") from exc
    except MoorageError as exc:
        raise StorageUnreachable(f"the storage cannot be written and read: {exc.message}") from exc
    except Exception as exc:  # opendal's errors share no base class
        words = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise StorageUnreachable(f"the storage cannot be written and read: {words}") from exc
    return driver


class Migration:
    def __init__(
        self,
        db: Database,
        source: StorageDriver,
        target: StorageDriver,
        *,
        report: Callable[[str], None],
        dry_run: bool = False,
        max_passes: int = 10,
    ) -> None:
        self.db, self.source, self.target = db, source, target
        self.report = report
        self.dry_run = dry_run
        self.max_passes = max_passes
        self.summary = Summary(dry_run=dry_run)
        self._verified: set[str] = set()
        self._last_report = 0.0

    async def run(self) -> Summary:
        for number in range(1, self.max_passes + 1):
            self.summary.passes = number
            new = await self._pass(number)
            self.report(f"pass {number}: {new} new objects")
            if new == 0:
                self.summary.settled = True
                break
            if self.dry_run:
                self.summary.settled = True  # a dry run looks once
                break
        return self.summary

    async def _pass(self, number: int) -> int:
        new = 0
        async for item in known_objects(self.db):
            if item.digest in self._verified:
                continue
            new += 1
            self._verified.add(item.digest)  # counted once per run, even when it failed
            self.summary.objects += 1
            await self._one(item)
            now = time.monotonic()
            if now - self._last_report >= _PROGRESS_SECONDS:
                self._last_report = now
                s = self.summary
                self.report(
                    f"pass {number}: {s.objects} objects so far, {s.copied} copied "
                    f"({_size(s.bytes_copied)}), {s.present} present, {len(s.failures)} failed"
                )
        return new

    async def _one(self, item: Known) -> None:
        try:
            digest = Digest.parse(item.digest)
        except MoorageError as exc:
            self.summary.failures.append((item.digest, exc.message))
            return
        key = blob_key(digest)
        try:
            if await self.target.stat(key) == item.size:
                if self.dry_run or await self._verify(self.target, key, digest, item.size):
                    self.summary.present += 1
                    return
                self.report(f"{item.digest}: the copy in the new store is wrong; copying again")
            if self.dry_run:
                if await self.source.stat(key) is None:
                    await self._missing(item)
                else:
                    self.summary.copied += 1
                    self.summary.bytes_copied += item.size
                return
            await self._copy(key, digest, item.size)
        except StorageNotFound:
            await self._missing(item)
        except Exception as exc:  # a driver's own errors (opendal's) share no base class
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            self.summary.failures.append((item.digest, reason))
            self.report(f"{item.digest}: {reason}")

    async def _missing(self, item: Known) -> None:
        if await _still_known(self.db, item.digest):
            self.summary.failures.append((item.digest, "missing in the old storage"))
            self.report(f"{item.digest}: missing in the old storage (see `moorage check`)")
        else:
            self.summary.vanished += 1
            self._verified.discard(item.digest)  # pushed again later: a later pass copies it

    async def _copy(self, key: str, digest: Digest, size: int) -> None:
        staging = f"uploads/migrate-{uuid.uuid4().hex}/data"
        writer = await self.target.open_append(staging, 0)
        try:
            async for chunk in self.source.read(key):
                await writer.write(chunk)
            await writer.close()
        except BaseException:
            await writer.abort()
            await self.target.delete(staging.rsplit("/", 1)[0])
            raise
        try:
            if not await self._verify(self.target, staging, digest, size):
                self.summary.failures.append(
                    (str(digest), "the copy read back from the new store does not match")
                )
                self.report(f"{digest}: the copy read back from the new store does not match")
                return
            await self.target.move(staging, key)
        finally:
            await self.target.delete(staging.rsplit("/", 1)[0])
        self.summary.copied += 1
        self.summary.bytes_copied += size

    @staticmethod
    async def _verify(store: StorageDriver, key: str, digest: Digest, size: int) -> bool:
        hasher = hashlib.new(digest.algorithm)
        seen = 0
        async for chunk in store.read(key):
            hasher.update(chunk)
            seen += len(chunk)
        return seen == size and hasher.hexdigest() == digest.hex
