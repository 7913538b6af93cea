"""Tags list and catalog: lexically sorted pages served from indexed SQL."""

from __future__ import annotations

import json

from sqlalchemy import and_, select
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import tables as t
from moorage.errors import NameUnknown
from moorage.registry import repositories
from moorage.registry.context import RegistryContext


def _bytewise(ctx: RegistryContext, column: ColumnElement[str]) -> ColumnElement[str]:
    """Compare and sort by code point whatever the database's default collation."""
    return column if ctx.db.is_sqlite else column.collate("C")


async def tags(
    ctx: RegistryContext, name: str, limit: int | None, last: str | None
) -> tuple[list[str], bool]:
    """Tag names after ``last``, at most ``limit``; and whether more follow."""
    async with ctx.db.read() as conn:
        repo = await repositories.find(conn, name)
        if repo is None:
            raise NameUnknown(detail={"name": name})
        column = _bytewise(ctx, t.tags.c.name)
        query = select(t.tags.c.name).where(t.tags.c.repository_id == repo.id)
        if last:
            query = query.where(column > last)
        query = query.order_by(column)
        if limit is not None:
            query = query.limit(limit + 1)
        names = [r.name for r in await conn.execute(query)]
    if limit is not None and len(names) > limit:
        return names[:limit], True
    return names, False


async def catalog(
    ctx: RegistryContext, limit: int, last: str | None, visible: ColumnElement[bool]
) -> tuple[list[str], bool]:
    """Repository names after ``last`` among those ``visible`` selects; and whether more follow."""
    async with ctx.db.read() as conn:
        column = _bytewise(ctx, t.repositories.c.name)
        query = select(t.repositories.c.name).where(visible)
        if last:
            query = query.where(and_(column > last))
        query = query.order_by(column).limit(limit + 1)
        names = [r.name for r in await conn.execute(query)]
    return names[:limit], len(names) > limit


async def referrers(
    ctx: RegistryContext, name: str, subject: str, artifact_type: str | None
) -> list[dict[str, object]]:
    """Descriptors of the manifests whose ``subject`` is ``subject`` (empty when none)."""
    async with ctx.db.read() as conn:
        repo = await repositories.find(conn, name)
        if repo is None:
            return []
        query = select(
            t.manifests.c.digest,
            t.manifests.c.media_type,
            t.manifests.c.artifact_type,
            t.manifests.c.size,
            t.manifests.c.annotations,
        ).where(
            and_(t.manifests.c.repository_id == repo.id, t.manifests.c.subject_digest == subject)
        )
        if artifact_type is not None:
            query = query.where(t.manifests.c.artifact_type == artifact_type)
        rows = list(await conn.execute(query.order_by(t.manifests.c.id)))
    out: list[dict[str, object]] = []
    for r in rows:
        desc: dict[str, object] = {"mediaType": r.media_type, "digest": r.digest, "size": r.size}
        if r.artifact_type:
            desc["artifactType"] = r.artifact_type
        if r.annotations:
            desc["annotations"] = json.loads(r.annotations)
        out.append(desc)
    return out
