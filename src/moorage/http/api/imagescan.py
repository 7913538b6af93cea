"""DTR's scanner endpoints for the vulnerability database: ``GET /api/v0/imagescan/status``
(any signed-in user; the last error's text for administrators only) and ``PUT
/api/v0/imagescan/scan/update`` (system administrators only).

``?online=true`` queues the ``vulndbupdate`` job (or hands back the one waiting or running):
200 (DTR's status: its Swagger has no other) with the job. ``?online=false`` (DTR's default)
imports the zip archive sent as the multipart field ``file`` (DTR's curl examples name it
``upload``; both do) or as an ``application/zip`` body: the body streams to a private file in
the data folder, under the setting ``vulnerability_db_max_archive_bytes`` (the request gate's
limit for this route only), is imported, and the answer says what changed (200).
``replace=true`` makes the archive the whole offline database (offline records it does not hold
are removed). A bad archive is a 400 and changes nothing; an update already running is a 409.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from fastapi import APIRouter, Request

from moorage.http.api.common import Admin, AppServices, Db, SignedIn
from moorage.http.api.models.imagescan import DatabaseUpdate, ScannerStatus
from moorage.http.api.models.jobs import Job
from moorage.http.file_upload import receive_file
from moorage.jobs import vulndb_update
from moorage.scanning.vulndb import status as vulndb_status
from moorage.scanning.vulndb.importer import import_archives
from moorage.scanning.vulndb.store import UpdateInProgress

router = APIRouter(tags=["imagescan"])
FIELDS = ("file", "upload")


@router.get("/imagescan/status")
async def scanner_status(db: Db, principal: SignedIn) -> ScannerStatus:
    return ScannerStatus.of(await vulndb_status.read(db), show_errors=principal.is_admin)


def _incoming(data: Path) -> Path:
    folder = data / "vulndb" / "incoming"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4()}.zip"


@router.put("/imagescan/scan/update")
async def update_database(
    request: Request,
    services: AppServices,
    principal: Admin,
    online: bool = False,
    replace: bool = False,
) -> DatabaseUpdate | Job:
    db = services.db
    if online:
        job = await vulndb_update.queue(db)
        services.poke_jobs()
        return Job.of(job)
    running = (await vulndb_status.read(db)).updating
    if running is not None:  # refused before the body is read
        raise UpdateInProgress(
            f"a vulnerability database update is already running ({running.holder})",
            detail={"holder": running.holder},
        )
    settings = services.settings
    path = _incoming(settings.data)
    try:
        name = await receive_file(
            request, path, max_bytes=settings.vulnerability_db_max_archive_bytes, fields=FIELDS
        )
        report = await import_archives(
            db,
            [path],
            source=f"file {name or 'upload'} from {principal.name}",
            kind="offline",
            holder=f"upload by {principal.name}",
            prune=replace,
        )
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return DatabaseUpdate.of(report)
