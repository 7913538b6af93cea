"""The scanner's jobs: ``scan`` (one image or index), ``scanall`` (every image) and ``rematch``
(after a vulnerability database update), their progress and outcome in the job's log.

* ``scan``, parameters ``digest`` (an image manifest or an index: each platform's image),
  ``repository`` and ``tag`` (where the ``SCAN_COMPLETED`` / ``SCAN_FAILED`` webhook event
  goes; both optional). Queued by a push to a repository with ``scanOnPush``
  (``registry.scan_on_push``), by DTR's ``POST /api/v0/imagescan/scan/{ns}/{repo}/{tag}/{os}/
  {arch}`` and by ``scanall``. An image already scanned, since the job was queued, against the
  database in force is not scanned twice (an index pushed after its platforms). A scan that
  fails ends the job ``errored`` with the reason (and the reason is the image's result). The
  runner's ``RecordKeeper`` (``JobContext.records``) keeps the parsed records of the generation
  in force from one scan to the next.
* ``scanall``, parameters ``scan`` and ``check`` (DTR's, both default true): with ``scan``, a
  ``scan`` job for every image manifest of every repository (layers come from the cache when
  they were read before: a layer's content never changes); with only ``check``, every stored
  inventory matched again against the database in force, no layer read.
* ``rematch``, queued in the transaction of every database update that changed something
  (``scanning.db_updates``): the stored inventories the changed records name are matched again
  (``scanning.engine_rematch``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select

from moorage.db import scan_result_tables as sr
from moorage.db import tables as t
from moorage.db.engine import utcnow
from moorage.errors import InvalidInput, MoorageError, ScanError
from moorage.jobs.context import JobContext
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.oci.manifest import parse_manifest
from moorage.queue import jobs
from moorage.registry.scan_on_push import SCAN_ACTION, is_image
from moorage.scanning import engine, engine_rematch
from moorage.scanning.db_updates import REMATCH_ACTION
from moorage.scanning.engine_results import Announce

SCAN = SCAN_ACTION
SCAN_ALL = "scanall"
REMATCH = REMATCH_ACTION
PAGE = 500
MAX_NAME = 255


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise InvalidInput(f"{key} must be a string of at most {MAX_NAME} characters")
    return value


def scan_target(params: dict[str, Any]) -> tuple[str, Announce | None]:
    """The ``scan`` job's digest and where its event goes; InvalidInput when they are bad."""
    raw = params.get("digest")
    if not isinstance(raw, str):
        raise InvalidInput("the scan job needs the manifest's digest (sha256:…)")
    try:
        digest = str(Digest.parse(raw))
    except MoorageError as exc:
        raise InvalidInput(f"the digest {raw[:100]!r} is not a digest") from exc
    repository, tag = _text(params, "repository"), _text(params, "tag")
    return digest, Announce(repository, tag) if repository else None


def validate(action: str, params: dict[str, Any], *, scanning_enabled: bool = True) -> None:
    """Refuse bad parameters when a job is queued rather than when it runs, and every scan job
    while the site setting ``scanningEnabled`` is off (the caller passes it)."""
    if not scanning_enabled and action in (SCAN, SCAN_ALL, REMATCH):
        raise InvalidInput("scanning is disabled: an administrator turns scanningEnabled on")
    if action == SCAN:
        scan_target(params)
    elif action == SCAN_ALL:
        for key in ("scan", "check"):
            if not isinstance(params.get(key, True), bool):
                raise InvalidInput(f"{key} is true or false")


async def run_scan(ctx: JobContext) -> None:
    digest, announce = scan_target(ctx.parameters)
    where = (
        f"{announce.repository}{':' + announce.tag if announce.tag else ''} " if announce else ""
    )
    await ctx.log(f"scanning {where}{digest}")
    outcomes = await engine.scan(
        ctx.registry,
        digest,
        job_id=ctx.job.id,
        announce=announce,
        note=ctx.log,
        stop=ctx.should_stop,
        current_since=ctx.job.scheduled_at,
        records=ctx.records,
    )
    for outcome in outcomes:
        await ctx.log(outcome.describe())
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise ScanError("; ".join(o.describe() for o in failed)[:2000])


async def _queue_page(ctx: JobContext, after: int, seen: set[str]) -> tuple[int, int] | None:
    """Queue the scans of one page of image manifests; (last id, queued), None at the end."""
    m, r = t.manifests, t.repositories
    first_tag = (
        select(t.tags.c.name)
        .where(t.tags.c.manifest_id == m.c.id)
        .order_by(t.tags.c.updated_at.desc(), t.tags.c.name)
        .limit(1)
        .scalar_subquery()
    )
    async with ctx.db.read() as conn:
        rows = list(
            await conn.execute(
                select(
                    m.c.id,
                    m.c.digest,
                    m.c.media_type,
                    m.c.payload,
                    r.c.name,
                    first_tag.label("tag"),
                )
                .join(r, r.c.id == m.c.repository_id)
                .where(and_(m.c.id > after, m.c.media_type.in_(sorted(mt.IMAGE_MANIFESTS))))
                .order_by(m.c.id)
                .limit(PAGE)
            )
        )
    if not rows:
        return None
    work: list[dict[str, Any]] = []
    for row in rows:
        if row.digest in seen:
            continue
        try:
            parsed = parse_manifest(bytes(row.payload), row.media_type)
        except MoorageError:
            continue
        if is_image(parsed):
            seen.add(row.digest)
            work.append({"digest": row.digest, "repository": row.name, "tag": row.tag or ""})
    now = utcnow()
    async with ctx.db.write() as conn:
        for parameters in work:
            job_id = await jobs.enqueue(conn, SCAN, parameters)
            await conn.execute(
                ctx.db.insert(sr.image_scans)
                .values(
                    manifest_digest=parameters["digest"],
                    status="queued",
                    queued_at=now,
                    job_id=job_id,
                )
                .on_conflict_do_nothing(index_elements=["manifest_digest"])
            )
    return int(rows[-1].id), len(work)


async def run_scan_all(ctx: JobContext) -> None:
    validate(SCAN_ALL, ctx.parameters)
    layers = ctx.parameters.get("scan", True)
    check = ctx.parameters.get("check", True)
    if not layers:
        if not check:
            await ctx.log("neither scan nor check asked: nothing to do")
            return
        report = await engine_rematch.rematch(
            ctx.db, note=ctx.log, stop=ctx.should_stop, everything=True
        )
        await ctx.log(report.summary())
        return
    after, queued, seen = 0, 0, set[str]()
    while not ctx.should_stop():
        page = await _queue_page(ctx, after, seen)
        if page is None:
            break
        after, count = page
        queued += count
    await ctx.log(f"queued {queued} image scans" + (" (stopped)" if ctx.should_stop() else ""))


async def run_rematch(ctx: JobContext) -> None:
    report = await engine_rematch.rematch(ctx.db, note=ctx.log, stop=ctx.should_stop)
    await ctx.log(report.summary())
