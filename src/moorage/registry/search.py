"""Repository search (the search box and ``/api/v0/index/autocomplete``): names containing the
query, case-insensitively, prefix matches first, paged and counted in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import tables as t
from moorage.registry.context import RegistryContext


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class SearchPage:
    ids: list[int]
    total: int


async def search_repositories(
    ctx: RegistryContext,
    query: str,
    *,
    visible: ColumnElement[bool],
    namespace: str | None,
    limit: int,
    offset: int = 0,
) -> SearchPage:
    """Ids of visible repositories whose name contains ``query`` (case-insensitively): names
    where a path component starts with it first, then by name; ``offset`` skips that many;
    ``total`` counts every match."""
    name = t.repositories.c.name
    text = _escape(query)
    condition = and_(visible, name.ilike(f"%{text}%", escape="\\"))
    if namespace:
        condition = and_(condition, t.repositories.c.namespace == namespace)
    prefix = or_(name.ilike(f"{text}%", escape="\\"), name.ilike(f"%/{text}%", escape="\\"))
    rank = case((prefix, 0), else_=1)
    stmt = (
        select(t.repositories.c.id)
        .where(condition)
        .order_by(rank, name)
        .offset(max(0, offset))
        .limit(limit)
    )
    async with ctx.db.read() as conn:
        ids = [int(r.id) for r in await conn.execute(stmt)]
        total = int(
            (
                await conn.execute(
                    select(func.count()).select_from(t.repositories).where(condition)
                )
            ).scalar_one()
        )
    return SearchPage(ids, total)
