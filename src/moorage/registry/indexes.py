"""Browsing an index (manifest list): a page of the manifests it names, a summary for lists of
tags, and one image per platform. An index may name thousands of manifests; everything here
reads one page of its stored references (``manifest_references``), never all of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from moorage.db import tables as t
from moorage.db.engine import as_utc
from moorage.oci import mediatypes as mt
from moorage.registry.browse import ConfigCache, ImageDetails, TagRow, image_details
from moorage.registry.context import RegistryContext


async def _child_payloads(
    ctx: RegistryContext, repository_id: int, digests: list[str]
) -> dict[str, tuple[str, int, str | None, bytes, dt.datetime]]:
    if not digests:
        return {}
    query = select(
        t.manifests.c.digest,
        t.manifests.c.media_type,
        t.manifests.c.size,
        t.manifests.c.config_digest,
        t.manifests.c.payload,
        t.manifests.c.created_at,
    ).where(and_(t.manifests.c.repository_id == repository_id, t.manifests.c.digest.in_(digests)))
    async with ctx.db.read() as conn:
        return {
            r.digest: (
                r.media_type,
                int(r.size),
                r.config_digest,
                bytes(r.payload),
                as_utc(r.created_at),
            )
            for r in await conn.execute(query)
        }


@dataclass(frozen=True, slots=True)
class IndexChild:
    """One manifest an index (manifest list) names, from its stored references."""

    position: int
    digest: str
    media_type: str
    size: int
    os: str
    architecture: str
    variant: str

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p) or "unknown"

    def platform_fields(self) -> dict[str, str]:
        out = {"os": self.os, "architecture": self.architecture}
        if self.variant:
            out["variant"] = self.variant
        return out


@dataclass(frozen=True, slots=True)
class IndexSummary:
    """An index at a glance: how many manifests it names, the first few platforms, the size of
    the images it holds here."""

    count: int
    platforms: list[str]
    more_platforms: int
    size: int


SUMMARY_PLATFORMS = 6
_refs = t.manifest_references


async def index_children(
    ctx: RegistryContext, manifest_id: int, *, start: int, limit: int
) -> tuple[list[IndexChild], int | None]:
    """A page of an index's manifests in their order from position ``start``; and the position
    the next page starts at. An index may name thousands: nothing reads them all."""
    query = (
        select(
            _refs.c.position,
            _refs.c.child_digest,
            _refs.c.media_type,
            _refs.c.size,
            _refs.c.platform_os,
            _refs.c.platform_arch,
            _refs.c.platform_variant,
        )
        .where(
            and_(
                _refs.c.parent_id == manifest_id,
                _refs.c.child_kind == "manifest",
                _refs.c.position >= start,
            )
        )
        .order_by(_refs.c.position)
        .limit(limit + 1)
    )
    async with ctx.db.read() as conn:
        rows = [
            IndexChild(
                position=int(r.position),
                digest=r.child_digest,
                media_type=r.media_type,
                size=int(r.size),
                os=r.platform_os or "",
                architecture=r.platform_arch or "",
                variant=r.platform_variant or "",
            )
            for r in await conn.execute(query)
        ]
    nxt = rows[limit].position if len(rows) > limit else None
    return rows[:limit], nxt


async def index_summary(ctx: RegistryContext, repository_id: int, manifest_id: int) -> IndexSummary:
    """Three aggregate queries, whatever the number of manifests the index names."""
    is_child = and_(_refs.c.parent_id == manifest_id, _refs.c.child_kind == "manifest")
    platform = (_refs.c.platform_os, _refs.c.platform_arch, _refs.c.platform_variant)
    platforms = (
        select(*platform).where(is_child).group_by(*platform).order_by(*platform)
    ).subquery()
    child = t.manifests
    layer = t.manifest_references.alias("layer")
    size = (
        select(func.coalesce(func.sum(layer.c.size), 0))
        .select_from(
            _refs.join(
                child,
                and_(
                    child.c.repository_id == repository_id, child.c.digest == _refs.c.child_digest
                ),
            ).join(layer, and_(layer.c.parent_id == child.c.id, layer.c.child_kind == "blob"))
        )
        .where(is_child)
    )
    async with ctx.db.read() as conn:
        count = int((await conn.execute(select(func.count()).where(is_child))).scalar_one())
        distinct = int(
            (await conn.execute(select(func.count()).select_from(platforms))).scalar_one()
        )
        first = list(await conn.execute(select(platforms).limit(SUMMARY_PLATFORMS)))
        total = int((await conn.execute(size)).scalar_one())
    names = [
        "/".join(p for p in (r.platform_os, r.platform_arch, r.platform_variant) if p) or "unknown"
        for r in first
    ]
    return IndexSummary(count, names, max(0, distinct - len(names)), total)


async def platform_images(
    ctx: RegistryContext,
    repository_id: int,
    row: TagRow,
    configs: ConfigCache,
    *,
    start: int = 0,
    limit: int = 100,
) -> tuple[list[ImageDetails], int | None]:
    """The image a tag names, or a page of one per platform when it names an index (manifest
    list), from index position ``start``; and the position the next page starts at."""
    if row.media_type not in mt.INDEXES:
        top = await image_details(configs, row.digest, row.media_type, row.payload, row.created_at)
        return [top], None
    children, nxt = await index_children(ctx, row.manifest_id, start=start, limit=limit)
    stored = await _child_payloads(ctx, repository_id, sorted({c.digest for c in children}))
    out: list[ImageDetails] = []
    for child in children:
        found = stored.get(child.digest)
        if found is None:
            continue
        media_type, _, _, payload, created_at = found
        out.append(
            await image_details(
                configs, child.digest, media_type, payload, created_at, child.platform_fields()
            )
        )
    if not out and start == 0 and nxt is None:  # an index of nothing stored here: itself
        top = await image_details(configs, row.digest, row.media_type, row.payload, row.created_at)
        return [top], None
    return out, nxt
