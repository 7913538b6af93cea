"""What the DTR API and the web UI show of a repository's content: tags with their manifests,
manifests, image details (platform, layers, the Dockerfile lines from the config's history)
and repository search. Pages come from indexed SQL; only image details read config blobs,
and only for the page at hand."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.sql.elements import ColumnElement

from moorage.db import tables as t
from moorage.db.engine import as_utc
from moorage.errors import ManifestUnknown
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest, is_digest
from moorage.oci.names import validate_tag
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key

MAX_CONFIG_BYTES = 4 * 1024 * 1024
_TITLE = "org.opencontainers.image.title"
IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)


@dataclass(frozen=True, slots=True)
class TagRow:
    name: str
    digest: str
    media_type: str
    size: int
    config_digest: str | None
    pushed_by: str | None
    updated_at: dt.datetime
    created_at: dt.datetime
    payload: bytes
    manifest_id: int = 0


@dataclass(frozen=True, slots=True)
class ManifestRow:
    id: int
    digest: str
    media_type: str
    artifact_type: str | None
    subject: str | None
    config_digest: str | None
    size: int
    created_at: dt.datetime
    payload: bytes


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer (an artifact's file) of an image manifest."""

    digest: str
    media_type: str
    size: int
    title: str = ""  # org.opencontainers.image.title: an artifact's file name
    urls: tuple[str, ...] = ()  # a foreign layer's download addresses


@dataclass(frozen=True, slots=True)
class DockerfileLine:
    """One entry of the config's history, with the layer it produced (none when empty)."""

    line: str
    created: str
    empty_layer: bool
    layer_digest: str = ""
    size: int = 0
    comment: str = ""
    media_type: str = ""  # the layer's (empty for an empty line)
    urls: tuple[str, ...] = ()  # the layer's


@dataclass
class ImageDetails:
    """One image manifest, as DTR's ``manifest`` object describes it."""

    digest: str
    media_type: str
    size: int
    created_at: dt.datetime
    config_media_type: str = ""
    config_digest: str = ""
    os: str = ""
    os_version: str = ""  # the config's os.version (Windows images)
    architecture: str = ""
    variant: str = ""
    author: str = ""
    layers: list[Layer] = field(default_factory=list)
    dockerfile: list[DockerfileLine] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    artifact_type: str = ""
    subject: str = ""

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def is_artifact(self) -> bool:
        """An artifact (a signature, an SBOM, a Helm chart...) rather than a runnable image:
        a manifest with an ``artifactType``, or whose config is not an image config."""
        if self.is_index:
            return bool(self.artifact_type)
        return bool(self.artifact_type) or (
            bool(self.config_media_type) and self.config_media_type not in IMAGE_CONFIGS
        )

    @property
    def kind(self) -> str:
        """What the manifest is, in words: its artifact type, or the config's media type."""
        return self.artifact_type or (self.config_media_type if self.is_artifact else "")


def _bytewise(ctx: RegistryContext, column: ColumnElement[str]) -> ColumnElement[str]:
    return column if ctx.db.is_sqlite else column.collate("C")


# ---- tags ----------------------------------------------------------------------------------


def _tag_query() -> Any:
    columns = [
        t.tags.c.name,
        t.manifests.c.digest,
        t.manifests.c.media_type,
        t.manifests.c.size,
        t.manifests.c.config_digest,
        t.tags.c.pushed_by,
        t.tags.c.updated_at,
        t.manifests.c.created_at,
        t.manifests.c.id.label("manifest_id"),
        t.manifests.c.payload,
    ]
    return select(*columns).select_from(
        t.tags.join(t.manifests, t.manifests.c.id == t.tags.c.manifest_id)
    )


def _tag_row(row: Any) -> TagRow:
    return TagRow(
        name=row.name,
        digest=row.digest,
        media_type=row.media_type,
        size=int(row.size),
        config_digest=row.config_digest,
        pushed_by=row.pushed_by,
        updated_at=as_utc(row.updated_at),
        created_at=as_utc(row.created_at),
        payload=bytes(row.payload),
        manifest_id=int(row.manifest_id),
    )


async def tag_page(
    ctx: RegistryContext,
    repository_id: int,
    *,
    start: str | None,
    limit: int,
) -> tuple[list[TagRow], str | None]:
    """Tags ordered by name (bytewise) from ``start``; and the name the next page starts at."""
    column = _bytewise(ctx, t.tags.c.name)
    query = _tag_query().where(t.tags.c.repository_id == repository_id)
    if start:
        query = query.where(column >= start)
    query = query.order_by(column).limit(limit + 1)
    async with ctx.db.read() as conn:
        rows = [_tag_row(r) for r in await conn.execute(query)]
    nxt = rows[limit].name if len(rows) > limit else None
    return rows[:limit], nxt


async def tag_page_before(
    ctx: RegistryContext, repository_id: int, *, before: str, limit: int
) -> list[TagRow]:
    """The ``limit`` tags just before ``before`` (a "previous" page), in name order."""
    column = _bytewise(ctx, t.tags.c.name)
    query = (
        _tag_query()
        .where(and_(t.tags.c.repository_id == repository_id, column < before))
        .order_by(column.desc())
        .limit(limit)
    )
    async with ctx.db.read() as conn:
        rows = [_tag_row(r) for r in await conn.execute(query)]
    return rows[::-1]


async def tag_count(ctx: RegistryContext, repository_id: int, before: str | None = None) -> int:
    """How many tags the repository has (named before ``before`` when given)."""
    condition = t.tags.c.repository_id == repository_id
    if before is not None:
        condition = and_(condition, _bytewise(ctx, t.tags.c.name) < before)
    async with ctx.db.read() as conn:
        query = select(func.count()).select_from(t.tags).where(condition)
        return int((await conn.execute(query)).scalar_one())


async def tag(ctx: RegistryContext, repository_id: int, reference: str) -> TagRow:
    """One tag by name, or the manifest a digest names (its name is then the digest)."""
    if is_digest(reference):
        digest = str(Digest.parse(reference))
        query = select(
            t.manifests.c.id,
            t.manifests.c.digest,
            t.manifests.c.media_type,
            t.manifests.c.size,
            t.manifests.c.config_digest,
            t.manifests.c.created_at,
            t.manifests.c.payload,
        ).where(and_(t.manifests.c.repository_id == repository_id, t.manifests.c.digest == digest))
        async with ctx.db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise ManifestUnknown(detail={"reference": reference})
        return TagRow(
            name=digest,
            digest=row.digest,
            media_type=row.media_type,
            size=int(row.size),
            config_digest=row.config_digest,
            pushed_by=None,
            updated_at=as_utc(row.created_at),
            created_at=as_utc(row.created_at),
            payload=bytes(row.payload),
            manifest_id=int(row.id),
        )
    validate_tag(reference)
    query = _tag_query().where(
        and_(t.tags.c.repository_id == repository_id, t.tags.c.name == reference)
    )
    async with ctx.db.read() as conn:
        found = (await conn.execute(query)).first()
    if found is None:
        raise ManifestUnknown(f"no tag {reference!r}", detail={"reference": reference})
    return _tag_row(found)


# ---- manifests -----------------------------------------------------------------------------


async def manifest_page(
    ctx: RegistryContext, repository_id: int, *, start: str | None, limit: int
) -> tuple[list[ManifestRow], str | None]:
    """Manifests ordered by digest from ``start``; and the digest the next page starts at."""
    m = t.manifests
    query = select(
        m.c.id,
        m.c.digest,
        m.c.media_type,
        m.c.artifact_type,
        m.c.subject_digest,
        m.c.config_digest,
        m.c.size,
        m.c.created_at,
        m.c.payload,
    ).where(m.c.repository_id == repository_id)
    if start:
        query = query.where(m.c.digest >= start)
    query = query.order_by(m.c.digest).limit(limit + 1)
    async with ctx.db.read() as conn:
        rows = [
            ManifestRow(
                id=int(r.id),
                digest=r.digest,
                media_type=r.media_type,
                artifact_type=r.artifact_type,
                subject=r.subject_digest,
                config_digest=r.config_digest,
                size=int(r.size),
                created_at=as_utc(r.created_at),
                payload=bytes(r.payload),
            )
            for r in await conn.execute(query)
        ]
    nxt = rows[limit].digest if len(rows) > limit else None
    return rows[:limit], nxt


async def manifest_count(ctx: RegistryContext, repository_id: int) -> int:
    """How many manifests the repository holds (``count=true``)."""
    query = (
        select(func.count())
        .select_from(t.manifests)
        .where(t.manifests.c.repository_id == repository_id)
    )
    async with ctx.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


TAGS_PER_MANIFEST = 20
_TAGS_OF = (
    select(t.tags.c.name)
    .select_from(t.tags.join(t.manifests, t.manifests.c.id == t.tags.c.manifest_id))
    .where(
        and_(
            t.manifests.c.repository_id == bindparam("repository_id"),
            t.manifests.c.digest == bindparam("digest"),
        )
    )
    .limit(TAGS_PER_MANIFEST + 1)
)


async def tags_naming(ctx: RegistryContext, repository_id: int, digest: str) -> list[TagRow]:
    """The first ``TAGS_PER_MANIFEST`` tags (by name) naming the manifest ``digest``: one
    query (DTR's ``tags/{digest}`` answers every tag of the digest)."""
    query = (
        _tag_query()
        .where(
            and_(
                t.manifests.c.repository_id == repository_id,
                t.manifests.c.digest == digest,
            )
        )
        .order_by(_bytewise(ctx, t.tags.c.name))
        .limit(TAGS_PER_MANIFEST)
    )
    async with ctx.db.read() as conn:
        return [_tag_row(r) for r in await conn.execute(query)]


async def tags_of(
    ctx: RegistryContext, repository_id: int, digests: list[str]
) -> dict[str, list[str]]:
    """Up to ``TAGS_PER_MANIFEST`` tag names naming each of ``digests``, sorted (one indexed
    query each: a manifest with 100,000 tags costs no more than one with two)."""
    out: dict[str, list[str]] = {}
    async with ctx.db.read() as conn:
        for digest in digests:
            params = {"repository_id": repository_id, "digest": digest}
            names = [r.name for r in await conn.execute(_TAGS_OF, params)]
            if names:
                out[digest] = sorted(names[:TAGS_PER_MANIFEST])
    return out


# ---- image details -------------------------------------------------------------------------


class ConfigCache:
    """Config blobs read once per request (many tags share one image)."""

    def __init__(self, ctx: RegistryContext) -> None:
        self.ctx = ctx
        self._seen: dict[str, dict[str, Any] | None] = {}

    async def get(self, digest: str | None) -> dict[str, Any] | None:
        if not digest:
            return None
        if digest not in self._seen:
            self._seen[digest] = await self._read(digest)
        return self._seen[digest]

    async def _read(self, digest: str) -> dict[str, Any] | None:
        try:
            key = blob_key(Digest.parse(digest))
            size = await self.ctx.storage.stat(key)
            if size is None or size > MAX_CONFIG_BYTES:
                return None
            doc = json.loads(await self.ctx.storage.read_bytes(key))
        except Exception:  # details are best effort: a missing or odd config shows none
            return None
        return doc if isinstance(doc, dict) else None


def _doc(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _urls(value: object) -> tuple[str, ...]:
    return tuple(str(u) for u in value) if isinstance(value, list) else ()


def _dockerfile(config: dict[str, Any], layers: list[Layer]) -> list[DockerfileLine]:
    """The config's history, each non-empty line matched with the layer it produced."""
    history = config.get("history")
    if not isinstance(history, list):
        return []
    lines: list[DockerfileLine] = []
    produced = iter(layers)
    for entry in history:
        if not isinstance(entry, dict):
            continue
        empty = bool(entry.get("empty_layer", False))
        layer = None if empty else next(produced, None)
        lines.append(
            DockerfileLine(
                line=str(entry.get("created_by", "")),
                created=str(entry.get("created", "")),
                empty_layer=empty,
                layer_digest=layer.digest if layer else "",
                size=layer.size if layer else 0,
                comment=str(entry["comment"]) if entry.get("comment") else "",
                media_type=layer.media_type if layer else "",
                urls=layer.urls if layer else (),
            )
        )
    return lines


async def image_details(
    configs: ConfigCache,
    digest: str,
    media_type: str,
    payload: bytes,
    created_at: dt.datetime,
    platform: dict[str, Any] | None = None,
) -> ImageDetails:
    doc = _doc(payload)
    raw_layers = doc.get("layers") if isinstance(doc.get("layers"), list) else []
    layers: list[Layer] = []
    for layer in raw_layers or []:
        if not isinstance(layer, dict):
            continue
        annotations = layer.get("annotations")
        title = annotations.get(_TITLE) if isinstance(annotations, dict) else None
        layers.append(
            Layer(
                digest=str(layer.get("digest", "")),
                media_type=str(layer.get("mediaType", "")),
                size=int(layer.get("size", 0) or 0),
                title=str(title) if title else "",
                urls=_urls(layer.get("urls")),
            )
        )
    details = ImageDetails(
        digest=digest,
        media_type=media_type,
        size=sum(layer.size for layer in layers) if layers else len(payload),
        layers=layers,
        created_at=as_utc(created_at),
        artifact_type=str(doc.get("artifactType") or ""),
    )
    subject = doc.get("subject")
    if isinstance(subject, dict) and isinstance(subject.get("digest"), str):
        details.subject = subject["digest"]
    config_desc = doc.get("config")
    if isinstance(config_desc, dict):
        details.config_media_type = str(config_desc.get("mediaType", ""))
        details.config_digest = str(config_desc.get("digest", ""))
        details.size += int(config_desc.get("size", 0) or 0) if layers else 0
    config = None
    if details.config_media_type in IMAGE_CONFIGS:
        config = await configs.get(details.config_digest)
    if config is not None:
        details.os = str(config.get("os", ""))
        details.os_version = str(config.get("os.version", "") or "")
        details.architecture = str(config.get("architecture", ""))
        details.variant = str(config.get("variant", "") or "")
        details.author = str(config.get("author", "") or "")
        inner = config.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("Labels"), dict):
            details.labels = {str(k): str(v) for k, v in inner["Labels"].items()}
        details.dockerfile = _dockerfile(config, layers)
    if platform:
        details.os = details.os or str(platform.get("os", ""))
        details.architecture = details.architecture or str(platform.get("architecture", ""))
        details.variant = details.variant or str(platform.get("variant", "") or "")
        details.os_version = details.os_version or str(platform.get("os.version", "") or "")
    return details
