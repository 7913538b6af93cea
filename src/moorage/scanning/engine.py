"""The scan of one manifest digest: what each image holds, matched against the vulnerability
database in force, written as one result per image manifest.

``scan(ctx, digest)``: the manifest's bytes are read from the registry's SQL (any repository's
copy: the bytes are the digest's); an index is scanned platform by platform (each platform's
image manifest is its own result), anything that is no container image is skipped. For an image:
the config blob is read (bounded) from storage, each layer's inventory comes from the cache or
from its blob read once (``engine_layers``), the layers are merged as a container sees them
(``inventory.image``: whiteouts applied, each package attributed to the layer that introduced
it), the OS and each package's advisory stream decided (``ecosystems``), every component matched
against one pinned generation of the database (``engine_match``), and the result written in one
short transaction (``engine_results``: overrides and VEX applied, counts, the webhook event).

A scan fails, with the reason in the result and the job's log, never "0 vulnerabilities", when:
the manifest or a blob is missing, a layer cannot be read, an OS package database cannot be read,
or no vulnerability database has been imported yet (the inventory is kept then; the first import
matches it). Other files an analyser could not read (one odd jar) are listed in ``os_detail``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from moorage.db import scan_result_tables as sr
from moorage.db import tables as t
from moorage.db.engine import Database, as_utc
from moorage.errors import MoorageError, ScanError
from moorage.oci.manifest import ParsedManifest, parse_manifest
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key
from moorage.registry.scan_on_push import IMAGE_CONFIGS, is_image, is_platform_image
from moorage.scanning import ecosystems
from moorage.scanning.catalog import OS_ANALYZERS, Catalog, default_catalog
from moorage.scanning.engine_layers import LayersRead, inventories
from moorage.scanning.engine_match import Outcome, Query, RecordKeeper, match_all
from moorage.scanning.engine_results import (
    NO_DATABASE,
    Announce,
    ComponentRow,
    Counts,
    ScanWrite,
    forget_queued,
    mark_scanning,
    write_failed,
    write_scanned,
)
from moorage.scanning.inventory.image import ImageInventory, merge_layers
from moorage.scanning.vulndb import query

log = logging.getLogger("moorage.scanning")
MAX_CONFIG = 4 * 1024 * 1024
MAX_PLATFORMS = 100
Note = Callable[[str], Awaitable[None]]


async def _silent(message: str) -> None:
    return None


def _never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class ImageOutcome:
    digest: str
    status: str  # scanned | failed | skipped | current
    reason: str | None = None
    counts: Counts = field(default_factory=Counts)
    components: int = 0
    layers: LayersRead | None = None
    os: str | None = None
    platform: str = ""

    def describe(self) -> str:
        where = f"{self.digest}" + (f" ({self.platform})" if self.platform else "")
        if self.status == "scanned":
            c = self.counts
            read = (
                f"; {self.layers.read} layers read, {self.layers.cached} cached"
                if self.layers
                else ""
            )
            return (
                f"{where}: scanned, {self.os or 'unknown OS'}, {self.components} components: "
                f"{c.critical} critical, {c.major} major, {c.minor} minor{read}"
            )
        return f"{where}: {self.status}" + (f": {self.reason}" if self.reason else "")


@dataclass
class _Options:
    catalog: Catalog
    job_id: str | None
    announce: Announce | None
    note: Note
    stop: Callable[[], bool]
    current_since: dt.datetime | None
    records: RecordKeeper | None = None


async def _manifest(db: Database, digest: str) -> tuple[str, bytes] | None:
    m = t.manifests
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(m.c.media_type, m.c.payload).where(m.c.digest == digest).limit(1)
            )
        ).first()
    return (row.media_type, bytes(row.payload)) if row is not None else None


async def _is_current(db: Database, digest: str, since: dt.datetime) -> bool:
    """Scanned against the database in force since ``since`` (a scan queued after it ran)."""
    s = sr.image_scans
    generation = await query.snapshot(db)
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(s.c.status, s.c.completed_at, s.c.vulndb_generation).where(
                    s.c.manifest_digest == digest
                )
            )
        ).first()
    return (
        row is not None
        and row.status == "scanned"
        and row.completed_at is not None
        and as_utc(row.completed_at) >= since
        and row.vulndb_generation == generation
    )


async def scan(
    ctx: RegistryContext,
    digest: str,
    *,
    job_id: str | None = None,
    announce: Announce | None = None,
    catalog: Catalog | None = None,
    note: Note | None = None,
    stop: Callable[[], bool] | None = None,
    current_since: dt.datetime | None = None,
    records: RecordKeeper | None = None,
) -> list[ImageOutcome]:
    """Scan the image or index ``digest`` (see the module's documentation). ``current_since``:
    an image already scanned, since then, against the database in force is left as it is.
    ``records``: parsed records kept between scans (by the job runner), else parsed afresh."""
    options = _Options(
        catalog or default_catalog(),
        job_id,
        announce,
        note or _silent,
        stop or _never,
        current_since,
        records,
    )
    return await _scan_digest(ctx, digest, options, index=True)


async def _scan_digest(
    ctx: RegistryContext, digest: str, options: _Options, *, index: bool, platform: str = ""
) -> list[ImageOutcome]:
    """The image ``digest`` (with ``index``: or each platform's image of an index)."""
    found = await _manifest(ctx.db, digest)
    if found is None:
        reason = "the manifest is not in any repository"
        await _fail_if_recorded(ctx.db, digest, reason, options)
        return [ImageOutcome(digest, "failed", reason, platform=platform)]
    try:
        parsed = parse_manifest(found[1], found[0])
    except MoorageError as exc:
        reason = f"the manifest cannot be read: {exc.message}"
        await write_failed(ctx.db, digest, reason, job_id=options.job_id, announce=options.announce)
        return [ImageOutcome(digest, "failed", reason, platform=platform)]
    if not parsed.is_index:
        outcome = await scan_image(ctx, digest, parsed, options)
        return [dataclasses.replace(outcome, platform=platform)]
    if not index:
        return [ImageOutcome(digest, "skipped", "an index inside an index", platform=platform)]
    outcomes: list[ImageOutcome] = []
    for child in [c for c in parsed.manifests if is_platform_image(c)][:MAX_PLATFORMS]:
        described = child.platform or {}
        names = (described.get(k) for k in ("os", "architecture", "variant"))
        outcomes += await _scan_digest(
            ctx,
            str(child.digest),
            options,
            index=False,
            platform="/".join(str(n) for n in names if n),
        )
    return outcomes


async def _fail_if_recorded(db: Database, digest: str, reason: str, options: _Options) -> None:
    """A digest no repository holds gets no new row; one that was queued says why it failed."""
    s = sr.image_scans
    async with db.read() as conn:
        row = (await conn.execute(select(s.c.status).where(s.c.manifest_digest == digest))).first()
    if row is not None:
        await write_failed(db, digest, reason, job_id=options.job_id, announce=None)


async def _config(ctx: RegistryContext, parsed: ParsedManifest) -> dict[str, Any]:
    config = parsed.config
    assert config is not None  # is_image checked it
    if config.media_type not in IMAGE_CONFIGS:
        raise ScanError(f"the config's media type {config.media_type!r} is not an image's")
    if config.size > MAX_CONFIG:
        raise ScanError(f"the image config is {config.size} bytes, over {MAX_CONFIG}")
    key = blob_key(config.digest)
    if await ctx.storage.stat(key) is None:
        raise ScanError(f"the image config {config.digest} is missing from storage")
    try:
        document = json.loads(await ctx.storage.read_bytes(key))
    except ValueError as exc:
        raise ScanError(f"the image config {config.digest} is not JSON") from exc
    if not isinstance(document, dict):
        raise ScanError(f"the image config {config.digest} is not a JSON object")
    return document


def _unreadable(image: ImageInventory) -> dict[str, dict[str, str]]:
    """Files an analyser could not read; ScanError for an OS package database."""
    for path, why in sorted(image.unreadable.items()):
        for participant, reason in why.items():
            if participant in OS_ANALYZERS:
                raise ScanError(
                    f"the {participant} package database {path} cannot be read: {reason}"
                )
    return image.unreadable


def components_of(image: ImageInventory) -> tuple[ecosystems.Distribution, list[ComponentRow]]:
    """Each package of the image as a component with its advisory stream."""
    dist = ecosystems.distribution(image.os, (p.package for p in image.packages))
    rows: list[ComponentRow] = []
    for found in image.packages:
        p = found.package
        target = ecosystems.target(p, dist)
        problem = target.problem
        if target.ecosystem is not None and len(target.version) > sr.MAX_VERSION:
            problem = f"the version is longer than {sr.MAX_VERSION} characters: not matched"
        rows.append(
            ComponentRow(
                layer_index=found.layer_index,
                layer_digest=found.layer_digest,
                type=p.type,
                name=p.name,
                version=p.version,
                path=p.path,
                namespace=p.namespace,
                source_name=p.source_name,
                source_version=p.source_version,
                arch=p.arch,
                licenses=p.licenses,
                ecosystem=target.ecosystem if problem is None else None,
                match_name=target.name if problem is None else None,
                match_problem=problem,
            )
        )
    return dist, rows


def query_of(row: ComponentRow) -> Query | None:
    """What a stored component is matched as (None: it is not)."""
    if row.ecosystem is None or row.match_name is None:
        return None
    version = ecosystems.match_version(row.type, row.ecosystem, row.version, row.source_version)
    return Query(row.ecosystem, row.match_name, version)


def with_outcome(row: ComponentRow, outcome: Outcome | None) -> ComponentRow:
    if outcome is None or outcome.problem is None or row.match_problem is not None:
        return row
    return dataclasses.replace(row, match_problem=outcome.problem)


def _os_detail(
    image: ImageInventory,
    dist: ecosystems.Distribution,
    config: dict[str, Any],
    layers: LayersRead,
    unreadable: dict[str, dict[str, str]],
) -> dict[str, Any]:
    os = image.os
    detail: dict[str, Any] = {
        "ecosystem": dist.ecosystem,
        "platform": {k: config.get(k) for k in ("os", "architecture", "variant") if config.get(k)},
        "layers": {"read": layers.read, "cached": layers.cached, "foreign": layers.foreign},
    }
    if dist.problem:
        detail["problem"] = dist.problem
    if os is not None:
        detail.update(
            id=os.id,
            version_id=os.version_id,
            codename=os.codename,
            pretty_name=os.pretty_name,
            point_release=os.point_release,
            apk_branch=os.apk_branch,
            source=os.source,
        )
    if unreadable:
        detail["unreadable"] = unreadable
    return {k: v for k, v in detail.items() if v is not None}


async def scan_image(
    ctx: RegistryContext, digest: str, parsed: ParsedManifest, options: _Options
) -> ImageOutcome:
    """Scan one image manifest and write its result."""
    db = ctx.db
    if not is_image(parsed):
        await forget_queued(db, digest)
        return ImageOutcome(digest, "skipped", "not a container image")
    if options.current_since is not None and await _is_current(db, digest, options.current_since):
        return ImageOutcome(digest, "current", "already scanned against the database in force")
    started = await mark_scanning(db, digest, options.job_id)
    try:
        return await _scan_image(ctx, digest, parsed, options, started)
    except ScanError as exc:
        await write_failed(
            db, digest, exc.message, job_id=options.job_id, announce=options.announce
        )
        return ImageOutcome(digest, "failed", exc.message)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(
                write_failed(
                    db, digest, "the scan was stopped", job_id=options.job_id, announce=None
                )
            )
        raise
    except Exception as exc:
        log.exception("scan failed", extra={"digest": digest})
        reason = f"internal error: {type(exc).__name__}: {str(exc)[:500]}"
        with contextlib.suppress(Exception):
            await write_failed(db, digest, reason, job_id=options.job_id, announce=options.announce)
        raise


async def _scan_image(
    ctx: RegistryContext,
    digest: str,
    parsed: ParsedManifest,
    options: _Options,
    started: dt.datetime,
) -> ImageOutcome:
    db = ctx.db
    config = await _config(ctx, parsed)
    layers = await inventories(
        db, ctx.storage, parsed.layers, options.catalog, note=options.note, stop=options.stop
    )
    image = merge_layers(layers.inventories)
    unreadable = _unreadable(image)
    for path, why in sorted(unreadable.items()):
        await options.note(
            f"{path} could not be read: " + "; ".join(f"{k}: {v}" for k, v in why.items())
        )
    dist, rows = components_of(image)
    detail = _os_detail(image, dist, config, layers, unreadable)
    generation = await query.snapshot(db)
    if generation == 0:
        await write_failed(
            db,
            digest,
            NO_DATABASE,
            job_id=options.job_id,
            announce=options.announce,
            os=dist.label,
            os_detail=detail,
            components=rows,
        )
        return ImageOutcome(digest, "failed", NO_DATABASE, components=len(rows), layers=layers)
    queries = {i: q for i, row in enumerate(rows) if (q := query_of(row)) is not None}
    kept = options.records.cache(generation) if options.records is not None else None
    outcomes = await match_all(db, queries.values(), generation, kept)
    pairs = []
    for i, row in enumerate(rows):
        outcome = outcomes.get(queries[i]) if i in queries else None
        pairs.append((with_outcome(row, outcome), outcome.findings if outcome else ()))
    write = ScanWrite(
        digest=digest,
        os=dist.label,
        os_detail=detail,
        components=pairs,
        layers=[d for d, _ in layers.inventories],
        generation=generation,
        job_id=options.job_id,
        started_at=started,
    )
    counts = await write_scanned(db, write, options.announce)
    return ImageOutcome(digest, "scanned", None, counts, len(rows), layers, dist.label)
