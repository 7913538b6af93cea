"""Scans asked for through the API: ``scan`` jobs for chosen images (the images shown ``queued``
meanwhile, as a push with scan on push marks them: a stored result stays until the new one
replaces it) and the one ``scanall`` job, queued in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moorage.db import scan_result_tables as sr
from moorage.db import site_settings
from moorage.db.engine import Database, utcnow
from moorage.errors import InvalidInput
from moorage.queue import jobs
from moorage.registry.scan_on_push import SCAN_ACTION
from moorage.scanning.report_targets import ImageTarget

SCAN_ALL_ACTION = "scanall"


def scan_parameters(target: ImageTarget) -> dict[str, Any]:
    """The ``scan`` job's parameters for one image (those of a scan on push)."""
    return {"digest": target.digest, "repository": target.repository, "tag": target.tag}


async def _refused_when_disabled(db: Database) -> None:
    if not (await site_settings.load(db)).scanning_enabled:
        raise InvalidInput("scanning is disabled: an administrator turns scanningEnabled on")


async def queue_scans(db: Database, targets: Sequence[ImageTarget]) -> list[jobs.Job]:
    """A ``scan`` job for each of ``targets`` (refused while ``scanningEnabled`` is off)."""
    await _refused_when_disabled(db)
    now = utcnow()
    async with db.write() as conn:
        ids = []
        for target in targets:
            job_id = await jobs.enqueue(conn, SCAN_ACTION, scan_parameters(target))
            ids.append(job_id)
            await conn.execute(
                db.insert(sr.image_scans)
                .values(
                    manifest_digest=target.digest, status="queued", queued_at=now, job_id=job_id
                )
                .on_conflict_do_nothing(index_elements=["manifest_digest"])
            )
    return [await jobs.get(db, job_id) for job_id in ids]


async def queue_scan_all(db: Database, parameters: dict[str, Any]) -> jobs.Job:
    """The ``scanall`` job: every image manifest gets its ``scan`` (refused while
    ``scanningEnabled`` is off)."""
    await _refused_when_disabled(db)
    async with db.write() as conn:
        job_id = await jobs.enqueue(conn, SCAN_ALL_ACTION, parameters)
    return await jobs.get(db, job_id)
