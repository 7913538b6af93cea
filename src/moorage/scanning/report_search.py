"""Scanned images by what they hold: a vulnerability (any of its IDs: a CVE finds the finding its
DSA or GHSA merged), a component (name, and version), a layer, a licence. Only images in
repositories the caller may pull are found; a hidden repository contributes nothing, not even to
the count.

A result is one image as a repository names it: a tag of the manifest, a tag of an index that
lists it as a platform, or, for a manifest no tag reaches, the digest alone (``tag`` empty).
Results come in (repository, tag, digest) order, a page at a time from an opaque start token,
from one SQL query (a union of the three ways a repository names an image) over the digests the
search matched.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, literal, null, select, tuple_, union_all
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from moorage.auth.grants import visible_repositories
from moorage.auth.levels import Principal
from moorage.db import scan_result_tables as sr
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.errors import InvalidInput, InvalidParameters
from moorage.scanning.report_targets import ImageTarget

MAX_TERM = 1024
_CVE = re.compile(r"^cve-\d{4}-\d+$", re.IGNORECASE)


class By(enum.Enum):
    CVE = "cve"
    COMPONENT = "component"
    LAYER = "layer"
    LICENSE = "license"


@dataclass(frozen=True, slots=True)
class Query:
    by: By
    term: str
    version: str | None = None  # components only

    def __post_init__(self) -> None:
        if not self.term.strip() or len(self.term) > MAX_TERM:
            raise InvalidInput(
                f"the {self.by.value} to search for must be 1 to {MAX_TERM} characters"
            )
        if self.version is not None and len(self.version) > MAX_TERM:
            raise InvalidInput(f"the version must be at most {MAX_TERM} characters")


@dataclass(frozen=True, slots=True)
class Page:
    images: list[ImageTarget]
    next_start: str | None
    total: int | None  # counted only when asked


def vulnerability_id(term: str) -> str:
    """IDs as stored: a CVE in its upper-case form (``cve-2024-1`` finds ``CVE-2024-1``); other
    IDs as written (GHSA IDs are lower-case after their prefix)."""
    term = term.strip()
    return term.upper() if _CVE.match(term) else term


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matched_digests(query: Query) -> Select[Any]:
    """The image manifest digests (with a scan row) the search matches."""
    c, f, i = sr.image_scan_components, sr.image_scan_findings, sr.image_scan_finding_ids
    if query.by is By.CVE:
        return (
            select(f.c.manifest_digest)
            .select_from(i.join(f, f.c.pk == i.c.finding_pk))
            .where(and_(i.c.vuln_id == vulnerability_id(query.term), f.c.suppressed_by.is_(None)))
        )
    if query.by is By.COMPONENT:
        condition = c.c.name == query.term.strip()
        if query.version:
            condition = and_(condition, c.c.version == query.version.strip())
        return select(c.c.manifest_digest).where(condition)
    if query.by is By.LICENSE:
        # One row per licence a component declares, lower-case (SPDX IDs compare so): an index.
        lic = sr.image_scan_component_licenses
        return select(lic.c.manifest_digest).where(lic.c.license == sr.license_key(query.term))
    refs, m = t.manifest_references, t.manifests
    return (
        select(m.c.digest)
        .select_from(refs.join(m, m.c.id == refs.c.parent_id))
        .where(
            and_(
                refs.c.child_digest == query.term.strip(),
                refs.c.child_kind == "blob",
                exists().where(sr.image_scans.c.manifest_digest == m.c.digest),
            )
        )
    )


def _named_images(visible: ColumnElement[bool], digests: Select[Any]) -> Select[Any]:
    """(repository, tag, digest, os, arch, variant, index) of every visible naming of
    ``digests``: by a tag, by a tag of an index listing it, or by digest alone."""
    r, m, tg, refs = t.repositories, t.manifests, t.tags, t.manifest_references
    parent = m.alias("parent")
    tagged_parent = (
        select(refs.c.parent_id)
        .select_from(refs.join(parent, parent.c.id == refs.c.parent_id))
        .where(
            and_(
                refs.c.child_digest == m.c.digest,
                refs.c.child_kind == "manifest",
                parent.c.repository_id == m.c.repository_id,
                exists().where(tg.c.manifest_id == parent.c.id),
            )
        )
    )
    empty = cast(literal(""), String)
    direct = (
        select(
            r.c.name.label("repository"),
            tg.c.name.label("tag"),
            m.c.digest.label("digest"),
            cast(null(), String).label("os"),
            cast(null(), String).label("arch"),
            cast(null(), String).label("variant"),
            empty.label("index_digest"),
        )
        .select_from(m.join(r, r.c.id == m.c.repository_id).join(tg, tg.c.manifest_id == m.c.id))
        .where(and_(m.c.digest.in_(digests), visible))
    )
    via_index = (
        select(
            r.c.name,
            tg.c.name,
            refs.c.child_digest,
            refs.c.platform_os,
            refs.c.platform_arch,
            refs.c.platform_variant,
            parent.c.digest,
        )
        .select_from(
            refs.join(parent, parent.c.id == refs.c.parent_id)
            .join(r, r.c.id == parent.c.repository_id)
            .join(tg, tg.c.manifest_id == parent.c.id)
        )
        .where(and_(refs.c.child_kind == "manifest", refs.c.child_digest.in_(digests), visible))
    )
    untagged = (
        select(
            r.c.name,
            empty,
            m.c.digest,
            cast(null(), String),
            cast(null(), String),
            cast(null(), String),
            empty,
        )
        .select_from(m.join(r, r.c.id == m.c.repository_id))
        .where(
            and_(
                m.c.digest.in_(digests),
                visible,
                ~exists().where(tg.c.manifest_id == m.c.id),
                ~exists(tagged_parent),
            )
        )
    )
    return union_all(direct, via_index, untagged).subquery("named")  # type: ignore[return-value]


def _token(values: tuple[str, str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def _untoken(raw: str) -> tuple[str, str, str]:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidParameters(
            "pageStart is the X-Next-Page-Start of the previous page",
            detail={"pageStart": raw[:40]},
        ) from exc
    if not (
        isinstance(values, list) and len(values) == 3 and all(isinstance(v, str) for v in values)
    ):
        raise InvalidParameters("pageStart is the X-Next-Page-Start of the previous page")
    return values[0], values[1], values[2]


async def search(
    db: Database,
    principal: Principal,
    query: Query,
    *,
    start: str | None,
    limit: int,
    count: bool = False,
) -> Page:
    """A page of the images ``principal`` may see that ``query`` matches."""
    union: Any = _named_images(visible_repositories(principal), matched_digests(query))
    named = select(union).distinct().subquery("images")

    def ordered(column: Any) -> Any:
        return column if db.is_sqlite else column.collate("C")

    key = (ordered(named.c.repository), ordered(named.c.tag), ordered(named.c.digest))
    page = select(named)
    if start:
        page = page.where(tuple_(*key) > tuple_(*(literal(v) for v in _untoken(start))))
    page = page.order_by(*key).limit(limit + 1)
    async with db.read() as conn:
        rows = list(await conn.execute(page))
        total = None
        if count:
            counted = select(func.count()).select_from(named)
            total = int((await conn.execute(counted)).scalar_one())
    images = [
        ImageTarget(
            repository=row.repository,
            tag=row.tag or "",
            digest=row.digest,
            os=row.os or "",
            architecture=row.arch or "",
            variant=row.variant or "",
            index_digest=row.index_digest or "",
        )
        for row in rows[:limit]
    ]
    nxt = None
    if len(rows) > limit:
        last = images[-1]
        nxt = _token((last.repository, last.tag, last.digest))
    return Page(images, nxt, total)
