"""Repositories: they exist only as database rows; nothing here walks the store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.errors import NameUnknown
from moorage.oci.names import validate_name


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    name: str
    namespace: str


def namespace_of(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else ""


async def find(conn: AsyncConnection, name: str) -> Repository | None:
    row = (
        await conn.execute(
            select(t.repositories.c.id, t.repositories.c.namespace).where(
                t.repositories.c.name == name
            )
        )
    ).first()
    return Repository(row.id, name, row.namespace) if row else None


async def require(conn: AsyncConnection, name: str) -> Repository:
    repo = await find(conn, name)
    if repo is None:
        raise NameUnknown(detail={"name": name})
    return repo


async def ensure(db: Database, name: str) -> Repository:
    """The repository, created if it does not exist yet (a push creates it)."""
    validate_name(name)
    async with db.read() as conn:
        repo = await find(conn, name)
    if repo is not None:
        return repo
    async with db.write() as conn:
        await conn.execute(
            db.insert(t.repositories)
            .values(name=name, namespace=namespace_of(name), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return await require(conn, name)
