"""What the DTR API and the web UI show of a repository's content: tags with their manifests,
manifests, image details (platform, layers, the Dockerfile lines from the config's history)
and repository search. Pages come from indexed SQL; only image details read config blobs,
and only for the page at hand."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, select
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
    payload: bytes | None


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
    payload: bytes | None


@dataclass
class ImageDetails:
    """One image manifest, as DTR's ``manifest`` object describes it."""

    digest: str
    media_type: str
    size: int
    config_media_type: str = ""
    config_digest: str = ""
    os: str = ""
    architecture: str = ""
    variant: str = ""
    author: str = ""
    created_at: str = ""
    layers: list[dict[str, Any]] = field(default_factory=list)
    dockerfile: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    children: list[dict[str, Any]] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "mediaType": self.media_type,
            "configMediaType": self.config_media_type,
            "configDigest": self.config_digest,
            "size": self.size,
            "createdAt": self.created_at,
            "os": self.os,
            "architecture": self.architecture,
            "variant": self.variant,
            "author": self.author,
            "labels": self.labels,
            "layers": self.layers,
            "dockerfile": self.dockerfile,
        }


def iso(value: dt.datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _bytewise(ctx: RegistryContext, column: ColumnElement[str]) -> ColumnElement[str]:
    return column if ctx.db.is_sqlite else column.collate("C")


# ---- tags ----------------------------------------------------------------------------------


def _tag_query(with_payload: bool) -> Any:
    columns = [
        t.tags.c.name,
        t.manifests.c.digest,
        t.manifests.c.media_type,
        t.manifests.c.size,
        t.manifests.c.config_digest,
        t.tags.c.pushed_by,
        t.tags.c.updated_at,
        t.manifests.c.created_at,
    ]
    if with_payload:
        columns.append(t.manifests.c.payload)
    return select(*columns).select_from(
        t.tags.join(t.manifests, t.manifests.c.id == t.tags.c.manifest_id)
    )


def _tag_row(row: Any, with_payload: bool) -> TagRow:
    return TagRow(
        name=row.name,
        digest=row.digest,
        media_type=row.media_type,
        size=int(row.size),
        config_digest=row.config_digest,
        pushed_by=row.pushed_by,
        updated_at=as_utc(row.updated_at),
        created_at=as_utc(row.created_at),
        payload=bytes(row.payload) if with_payload else None,
    )


async def tag_page(
    ctx: RegistryContext,
    repository_id: int,
    *,
    start: str | None,
    limit: int,
    with_payload: bool,
) -> tuple[list[TagRow], str | None]:
    """Tags ordered by name (bytewise) from ``start``; and the name the next page starts at."""
    column = _bytewise(ctx, t.tags.c.name)
    query = _tag_query(with_payload).where(t.tags.c.repository_id == repository_id)
    if start:
        query = query.where(column >= start)
    query = query.order_by(column).limit(limit + 1)
    async with ctx.db.read() as conn:
        rows = [_tag_row(r, with_payload) for r in await conn.execute(query)]
    nxt = rows[limit].name if len(rows) > limit else None
    return rows[:limit], nxt


async def tag(ctx: RegistryContext, repository_id: int, reference: str) -> TagRow:
    """One tag by name, or the manifest a digest names (its name is then the digest)."""
    if is_digest(reference):
        digest = str(Digest.parse(reference))
        query = select(
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
        )
    validate_tag(reference)
    query = _tag_query(True).where(
        and_(t.tags.c.repository_id == repository_id, t.tags.c.name == reference)
    )
    async with ctx.db.read() as conn:
        found = (await conn.execute(query)).first()
    if found is None:
        raise ManifestUnknown(f"no tag {reference!r}", detail={"reference": reference})
    return _tag_row(found, True)


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
                payload=None,
            )
            for r in await conn.execute(query)
        ]
    nxt = rows[limit].digest if len(rows) > limit else None
    return rows[:limit], nxt


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


def _dockerfile(config: dict[str, Any], layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The config's history, each non-empty line matched with the layer it produced."""
    history = config.get("history")
    if not isinstance(history, list):
        return []
    lines: list[dict[str, Any]] = []
    layer_index = 0
    for entry in history:
        if not isinstance(entry, dict):
            continue
        empty = bool(entry.get("empty_layer", False))
        line: dict[str, Any] = {
            "line": str(entry.get("created_by", "")),
            "created": str(entry.get("created", "")),
            "emptyLayer": empty,
            "layerDigest": "",
            "size": 0,
        }
        if entry.get("comment"):
            line["comment"] = str(entry["comment"])
        if not empty and layer_index < len(layers):
            line["layerDigest"] = layers[layer_index]["digest"]
            line["size"] = layers[layer_index]["size"]
            layer_index += 1
        lines.append(line)
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
    layers: list[dict[str, Any]] = [
        {
            "digest": str(layer.get("digest", "")),
            "mediaType": str(layer.get("mediaType", "")),
            "size": int(layer.get("size", 0) or 0),
        }
        for layer in raw_layers or []
        if isinstance(layer, dict)
    ]
    details = ImageDetails(
        digest=digest,
        media_type=media_type,
        size=sum(int(layer["size"]) for layer in layers) if layers else len(payload),
        layers=layers,
        created_at=iso(created_at),
    )
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
    if media_type in mt.INDEXES:
        children = doc.get("manifests") if isinstance(doc.get("manifests"), list) else []
        details.children = [c for c in children or [] if isinstance(c, dict)]
    return details


async def platform_images(
    ctx: RegistryContext, repository_id: int, row: TagRow, configs: ConfigCache
) -> list[ImageDetails]:
    """The image a tag names, or one per platform when it names an index (manifest list)."""
    assert row.payload is not None
    top = await image_details(configs, row.digest, row.media_type, row.payload, row.created_at)
    if row.media_type not in mt.INDEXES:
        return [top]
    wanted = [str(c.get("digest", "")) for c in top.children]
    stored = await _child_payloads(ctx, repository_id, wanted)
    out: list[ImageDetails] = []
    for child in top.children:
        digest = str(child.get("digest", ""))
        found = stored.get(digest)
        if found is None:
            continue
        media_type, _, _, payload, created_at = found
        platform = child.get("platform") if isinstance(child.get("platform"), dict) else None
        out.append(await image_details(configs, digest, media_type, payload, created_at, platform))
    return out or [top]


# ---- search --------------------------------------------------------------------------------


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_repositories(
    ctx: RegistryContext,
    query: str,
    *,
    visible: ColumnElement[bool],
    namespace: str | None,
    limit: int,
) -> list[int]:
    """Ids of visible repositories whose name contains ``query`` (case-insensitively),
    prefix matches first."""
    name = t.repositories.c.name
    condition = and_(visible, name.ilike(_like(query), escape="\\"))
    if namespace:
        condition = and_(condition, t.repositories.c.namespace == namespace)
    stmt = select(t.repositories.c.id, name).where(condition).order_by(name).limit(limit * 4)
    async with ctx.db.read() as conn:
        rows = [(int(r.id), str(r.name)) for r in await conn.execute(stmt)]
    q = query.lower()

    def rank(item: tuple[int, str]) -> tuple[int, str]:
        short = item[1].rsplit("/", 1)[-1].lower()
        return (0 if short.startswith(q) or item[1].lower().startswith(q) else 1, item[1])

    return [rid for rid, _ in sorted(rows, key=rank)[:limit]]
