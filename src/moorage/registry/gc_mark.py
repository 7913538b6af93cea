"""GC's mark phase in SQL (``gc.py``, phase 1): the database computes the live manifests, so
Python never holds every manifest, tag or reference, only one batch of candidates at a time.

The live set is a recursive CTE of manifest ids, seeded with the tagged manifests (and, when
untagged manifests are kept, with every manifest that is not a referrer), following edges to a
fixed point: an index to its children (``manifest_references`` rows of kind ``manifest``,
matched by digest to a manifest of the index's repository) and a manifest to its referrers
(manifests of its repository whose ``subject_digest`` is its digest). The recursive term names
the CTE once (SQLite's rule; PostgreSQL refuses two recursive terms), joined to one derived
table of both kinds of edge, and the CTE is a UNION (not UNION ALL): a row already found is not
found again, so a cycle of references ends.

A candidate is a manifest outside the live set whose ``created_at`` is before the cutoff;
``candidates`` reads them in keyset pages on ``id``. Each page re-runs the mark, so it sees the
tags and pushes of the moment; the deleting transaction still re-checks every candidate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    and_,
    case,
    func,
    or_,
    select,
    union_all,
)

from moorage.db import tables as t
from moorage.db.engine import Connection

__all__ = ["MarkCounts", "candidates", "count", "live_cte"]


@dataclass(frozen=True, slots=True)
class MarkCounts:
    examined: int  # every manifest
    in_use: int  # the tagged manifests' closure
    live: int  # in use, plus what is kept because untagged manifests are kept
    candidates: int  # not live, created before the cutoff
    young: int  # not live, created since the cutoff


def _edges() -> Any:
    """(src, dst): an index to a child manifest of its repository, a subject to a referrer."""
    m, mr = t.manifests, t.manifest_references
    parent, child = m.alias("gc_parent"), m.alias("gc_child")
    subject, referrer = m.alias("gc_subject"), m.alias("gc_referrer")
    children = (
        select(mr.c.parent_id.label("src"), child.c.id.label("dst"))
        .select_from(
            mr.join(parent, parent.c.id == mr.c.parent_id).join(
                child,
                and_(
                    child.c.repository_id == parent.c.repository_id,
                    child.c.digest == mr.c.child_digest,
                ),
            )
        )
        .where(mr.c.child_kind == "manifest")
    )
    referrers = select(subject.c.id.label("src"), referrer.c.id.label("dst")).select_from(
        referrer.join(
            subject,
            and_(
                subject.c.repository_id == referrer.c.repository_id,
                subject.c.digest == referrer.c.subject_digest,
            ),
        )
    )
    return union_all(children, referrers).subquery("gc_edges")


def live_cte(*, keep_untagged: bool, flagged: bool = False) -> CTE:
    """The live manifests' ids (column ``id``). ``flagged`` adds ``tagged``: 1 for the tagged
    manifests' closure, 0 for the rest of the live set (an id can then appear with both)."""
    m, tg = t.manifests, t.tags

    tagged = m.c.id.in_(select(tg.c.manifest_id))
    seeds = select(m.c.id.label("id"))
    if flagged:
        seeds = seeds.add_columns(case((tagged, 1), else_=0).label("tagged"))
    # Untagged kept: every non-referrer is a seed too (its closure is kept but not "in use").
    seeds = seeds.where(or_(tagged, m.c.subject_digest.is_(None)) if keep_untagged else tagged)
    live = seeds.cte("gc_live", recursive=True)
    edges = _edges()
    step = select(edges.c.dst, *([live.c.tagged] if flagged else [])).select_from(
        live.join(edges, edges.c.src == live.c.id)
    )
    return live.union(step)


async def count(conn: Connection, *, keep_untagged: bool, cutoff: dt.datetime) -> MarkCounts:
    """The report's numbers, in one statement (one evaluation of the live set)."""
    m = t.manifests
    live = live_cte(keep_untagged=keep_untagged, flagged=True)
    per_id = (
        select(live.c.id, func.max(live.c.tagged).label("tagged")).group_by(live.c.id).subquery()
    )

    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = (
        await conn.execute(
            select(
                func.count(),
                total(per_id.c.tagged == 1),
                total(per_id.c.id.is_not(None)),
                total(and_(per_id.c.id.is_(None), m.c.created_at < cutoff)),
                total(and_(per_id.c.id.is_(None), m.c.created_at >= cutoff)),
            ).select_from(m.outerjoin(per_id, per_id.c.id == m.c.id))
        )
    ).one()
    return MarkCounts(*(int(v) for v in row))


async def candidates(
    conn: Connection, *, keep_untagged: bool, cutoff: dt.datetime, after: int, limit: int
) -> list[Any]:
    """Up to ``limit`` candidates with ``id > after``, by id: the rows ``_delete_manifest``
    takes (id, repository_id, digest, subject_digest, created_at)."""
    m = t.manifests
    live = live_cte(keep_untagged=keep_untagged)
    # An anti-join, not NOT IN: PostgreSQL runs NOT IN over a large subquery row by row.
    query = (
        select(m.c.id, m.c.repository_id, m.c.digest, m.c.subject_digest, m.c.created_at)
        .select_from(m.outerjoin(live, live.c.id == m.c.id))
        .where(and_(m.c.id > after, m.c.created_at < cutoff, live.c.id.is_(None)))
        .order_by(m.c.id)
        .limit(limit)
    )
    return list(await conn.execute(query))
