"""What a completed vulnerability database update sets going, in the transaction of its flip
(``vulndb.importer`` hands ``after_update`` to ``vulndb.store.flip``): the update and its work
exist exactly when the new generation does, whichever caller imported (the ``vulndbupdate`` job,
the offline upload, ``moorage vulndb import``).

* a ``rematch`` job (``moorage.jobs.scan``), when the update added, changed, withdrew or removed
  anything: the stored inventories its records name are matched again, no layer read;
* DTR's ``SCANNER_UPDATE_COMPLETED`` event (global: delivered to webhooks without a key), its
  payload ``scanner_version``, ``scanner_updated_at``, ``db_version`` (the generation),
  ``db_updated_at``, ``success`` and ``replicas`` (one entry: this database; replicas share it).
"""

from __future__ import annotations

import datetime as dt

from moorage.db.engine import Connection, as_utc
from moorage.events import store as events
from moorage.queue import jobs
from moorage.scanning.catalog import default_catalog

REMATCH_ACTION = "rematch"
REPLICA = "database"


def _iso(value: dt.datetime) -> str:
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def after_update(
    conn: Connection, *, generation: int, imported_at: dt.datetime, changed: bool
) -> str | None:
    """Queue the re-match (when ``changed``) and record the event; the job's id, if queued."""
    job_id = None
    if changed:
        job_id = await jobs.enqueue(conn, REMATCH_ACTION, {"generation": generation})
    when = _iso(imported_at)
    version = default_catalog().version
    await events.record(
        conn,
        events.SCANNER_UPDATE_COMPLETED,
        repository="",
        repository_id=None,
        object_type=events.REPOSITORY,
        object_id="",
        actor=None,
        details={
            "scanner_version": version,
            "scanner_updated_at": when,
            "db_version": generation,
            "db_updated_at": when,
            "success": True,
            "replicas": {
                REPLICA: {"db_updated_at": when, "version": str(generation), "replica_id": REPLICA}
            },
        },
        at=imported_at,
    )
    return job_id
