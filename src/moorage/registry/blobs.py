"""Blobs: content-addressed bytes, visible in a repository only through its link row."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import and_, delete, select

from moorage.db import tables as t
from moorage.db.engine import Connection, Database, utcnow
from moorage.errors import BlobUnknown, BlobUploadInvalid
from moorage.oci.digest import Digest
from moorage.registry import repositories
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int
    key: str


async def linked_size(conn: Connection, repository_id: int, digest: str) -> int | None:
    row = (
        await conn.execute(
            select(t.blobs.c.size)
            .select_from(
                t.repository_blobs.join(t.blobs, t.blobs.c.digest == t.repository_blobs.c.digest)
            )
            .where(
                and_(
                    t.repository_blobs.c.repository_id == repository_id,
                    t.repository_blobs.c.digest == digest,
                )
            )
        )
    ).first()
    return None if row is None else int(row.size)


async def stat(ctx: RegistryContext, name: str, digest: Digest) -> BlobInfo:
    """The blob as seen from repository ``name``; BLOB_UNKNOWN unless linked there."""
    query = (
        select(t.blobs.c.size)
        .select_from(
            t.repository_blobs.join(
                t.repositories, t.repositories.c.id == t.repository_blobs.c.repository_id
            ).join(t.blobs, t.blobs.c.digest == t.repository_blobs.c.digest)
        )
        .where(and_(t.repositories.c.name == name, t.repository_blobs.c.digest == str(digest)))
    )
    async with ctx.db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise BlobUnknown(detail={"digest": str(digest)})
    return BlobInfo(digest, int(row.size), blob_key(digest))


async def link(db: Database, conn: Connection, repository_id: int, digest: str, size: int) -> None:
    """Record the blob (if new) and link it into the repository, inside the caller's transaction."""
    now = utcnow()
    await conn.execute(
        db.insert(t.blobs)
        .values(digest=digest, size=size, created_at=now)
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    # A push refreshes the link's time: online GC leaves links younger than its grace period.
    await conn.execute(
        db.insert(t.repository_blobs)
        .values(repository_id=repository_id, digest=digest, created_at=now)
        .on_conflict_do_update(index_elements=["repository_id", "digest"], set_={"created_at": now})
    )


async def revive(ctx: RegistryContext, conn: Connection, digest: Digest, size: int) -> None:
    """In the transaction that links a blob: take back a blob whose row online GC deleted.

    Deleting the tombstone stops GC from deleting the bytes later; when GC already deleted them
    (``bytes_deleted``), this push's bytes must be the ones at the address now. The tombstone row
    is where a push and GC's byte deletion meet (see ``moorage.registry.gc``)."""
    tomb = t.gc_blob_tombstones
    row = (
        await conn.execute(
            delete(tomb).where(tomb.c.digest == str(digest)).returning(tomb.c.bytes_deleted)
        )
    ).first()
    if row is not None and row.bytes_deleted and await ctx.storage.stat(blob_key(digest)) != size:
        raise BlobUploadInvalid(
            "the blob was garbage collected while this push finished; push it again",
            detail={"digest": str(digest)},
        )


async def known_size(conn: Connection, digest: str) -> int | None:
    row = (await conn.execute(select(t.blobs.c.size).where(t.blobs.c.digest == digest))).first()
    return None if row is None else int(row.size)


async def mount(ctx: RegistryContext, name: str, digest: Digest, source: str) -> BlobInfo | None:
    """Link a blob that ``source`` holds into ``name``; None when ``source`` does not hold it."""
    async with ctx.db.read() as conn:
        src = await repositories.find_remembered(conn, source)
        size = None if src is None else await linked_size(conn, src.id, str(digest))
    if size is None or await ctx.storage.stat(blob_key(digest)) is None:
        return None
    repo = await repositories.ensure(ctx.db, name)
    async with ctx.db.write() as conn:
        await link(ctx.db, conn, repo.id, str(digest), size)
        await revive(ctx, conn, digest, size)
    return BlobInfo(digest, size, blob_key(digest))


async def holders(ctx: RegistryContext, digest: Digest, limit: int = 20) -> list[str]:
    """Repositories that hold the blob (candidates for a mount without ``from``)."""
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(t.repositories.c.name)
            .select_from(
                t.repository_blobs.join(
                    t.repositories, t.repositories.c.id == t.repository_blobs.c.repository_id
                )
            )
            .where(t.repository_blobs.c.digest == str(digest))
            .limit(limit)
        )
        return [r.name for r in rows]


async def unlink(ctx: RegistryContext, name: str, digest: Digest) -> None:
    """Unlink the blob from the repository; garbage collection frees unused bytes."""
    async with ctx.db.write() as conn:
        repo = await repositories.find(conn, name)
        result = None
        if repo is not None:
            result = await conn.execute(
                delete(t.repository_blobs).where(
                    and_(
                        t.repository_blobs.c.repository_id == repo.id,
                        t.repository_blobs.c.digest == str(digest),
                    )
                )
            )
    if result is None or result.rowcount == 0:
        raise BlobUnknown(detail={"digest": str(digest)})


async def rehash(ctx: RegistryContext, key: str, algorithm: str) -> str:
    """Hash stored bytes with another algorithm (the rare upload finished with a sha512 digest)."""
    h = hashlib.new(algorithm)
    async for chunk in ctx.storage.read(key):
        h.update(chunk)
    return h.hexdigest()
