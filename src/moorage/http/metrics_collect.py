"""The database's figures for ``/metrics``, read at scrape time by the process answering it.

A handful of bounded statements, in one read: open uploads (one aggregate), jobs by action and
status (one GROUP BY over the jobs table, which compaction keeps short), the last online GC run
(the newest ended ``onlinegc`` job through ``ix_jobs_action``, and its last log line, which holds
the run's numbers as JSON), and the replicas table. Read once per scrape, whatever the number of
serving processes, so nothing here is multiplied.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from moorage import __version__
from moorage.db import job_tables as jt
from moorage.db import replica_heartbeats
from moorage.db.engine import Database, as_utc, utcnow
from moorage.db.tables import uploads

GC_ACTION = "onlinegc"
FAILED_STATUSES = ("errored", "worker_dead")
# The GC report's numbers (moorage.registry.gc_report, camelCase in the log) that are exported.
GC_DELETED = {
    "manifests": "manifestsDeleted",
    "links": "linksDeleted",
    "blobs": "blobsDeleted",
    "files": "filesDeleted",
    "uploads": "uploadsDeleted",
}
GC_BYTES = {"blobs": "blobBytesDeleted", "files": "bytesFreed", "uploads": "uploadBytesFreed"}


@dataclass(frozen=True)
class GcRun:
    status: str
    started_at: dt.datetime | None
    ended_at: dt.datetime
    result: dict[str, Any]  # the report's numbers; empty when the job recorded none

    @property
    def seconds(self) -> float:
        if isinstance(self.result.get("seconds"), int | float):
            return float(self.result["seconds"])
        if self.started_at is None:
            return 0.0
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


def gc_result(line: str | None) -> dict[str, Any]:
    """The numbers of a GC job's last log line (``finished: …; result {json}``), else {}."""
    if not line:
        return {}
    _, found, text = line.rpartition("result ")
    if not found:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class DatabaseFigures(Collector):
    """One scrape's figures, exposed as metric families (a prometheus_client collector)."""

    now: dt.datetime
    heartbeat_interval: float
    uploads_open: int = 0
    uploads_bytes: int = 0
    jobs: list[tuple[str, str, int]] = field(default_factory=list)  # action, status, count
    last_gc: GcRun | None = None
    replicas: list[replica_heartbeats.Replica] = field(default_factory=list)

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("moorage", "The registry's version")
        info.add_metric([], {"version": __version__})
        yield info
        yield GaugeMetricFamily(
            "moorage_uploads_open", "Blob uploads started and not finished", value=self.uploads_open
        )
        yield GaugeMetricFamily(
            "moorage_uploads_open_bytes",
            "Bytes received so far by the open uploads",
            value=self.uploads_bytes,
        )
        yield from self._jobs()
        yield from self._gc()
        yield from self._replicas()

    def _jobs(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "moorage_jobs",
            "Jobs in the jobs table, by action and status",
            labels=["action", "status"],
        )
        waiting = GaugeMetricFamily(
            "moorage_jobs_waiting",
            "Jobs waiting to run (the queue depth), by action",
            labels=["action"],
        )
        failed = GaugeMetricFamily(
            "moorage_jobs_failed",
            "Jobs that failed (errored, or their worker died), kept in the history, by action",
            labels=["action"],
        )
        depth = 0
        failures: dict[str, int] = {}
        for action, status, count in self.jobs:
            jobs.add_metric([action, status], count)
            if status == "waiting":
                waiting.add_metric([action], count)
                depth += count
            if status in FAILED_STATUSES:
                failures[action] = failures.get(action, 0) + count
        for action, count in sorted(failures.items()):
            failed.add_metric([action], count)
        yield jobs
        yield waiting
        yield failed
        yield GaugeMetricFamily(
            "moorage_jobs_queue_depth", "Jobs waiting to run, all actions", value=depth
        )

    def _gc(self) -> Iterator[Metric]:
        run = self.last_gc
        if run is None:
            return
        yield GaugeMetricFamily(
            "moorage_gc_last_run_timestamp_seconds",
            "When the last online GC run ended (Unix time)",
            value=run.ended_at.timestamp(),
        )
        yield GaugeMetricFamily(
            "moorage_gc_last_run_duration_seconds",
            "How long the last online GC run took",
            value=run.seconds,
        )
        yield GaugeMetricFamily(
            "moorage_gc_last_run_success",
            "1 when the last online GC run finished, 0 when it failed or was canceled",
            value=1 if run.status == "done" else 0,
        )
        yield GaugeMetricFamily(
            "moorage_gc_last_run_dry_run",
            "1 when the last online GC run was a dry run (it deleted nothing)",
            value=1 if run.result.get("dryRun") else 0,
        )
        deleted = GaugeMetricFamily(
            "moorage_gc_last_run_deleted",
            "What the last online GC run deleted, by kind (counts)",
            labels=["kind"],
        )
        for kind, key in GC_DELETED.items():
            if isinstance(run.result.get(key), int):
                deleted.add_metric([kind], run.result[key])
        freed = GaugeMetricFamily(
            "moorage_gc_last_run_deleted_bytes",
            "Bytes the last online GC run deleted, by kind",
            labels=["kind"],
        )
        for kind, key in GC_BYTES.items():
            if isinstance(run.result.get(key), int):
                freed.add_metric([kind], run.result[key])
        yield deleted
        yield freed

    def _replicas(self) -> Iterator[Metric]:
        by_health = GaugeMetricFamily(
            "moorage_replicas", "Registered replicas by kind and health", labels=["kind", "health"]
        )
        age = GaugeMetricFamily(
            "moorage_replica_heartbeat_age_seconds",
            "Seconds since each replica's last heartbeat",
            labels=["replica", "kind"],
        )
        counts: dict[tuple[str, str], int] = {}
        for replica in self.replicas:
            health = "healthy" if replica.healthy(self.now, self.heartbeat_interval) else "down"
            counts[(replica.kind, health)] = counts.get((replica.kind, health), 0) + 1
            seen = as_utc(replica.last_seen)
            age.add_metric([replica.id, replica.kind], max(0.0, (self.now - seen).total_seconds()))
        for (kind, health), count in sorted(counts.items()):
            by_health.add_metric([kind, health], count)
        yield by_health
        yield age


async def read_figures(db: Database, *, heartbeat_interval: float) -> DatabaseFigures:
    figures = DatabaseFigures(now=utcnow(), heartbeat_interval=heartbeat_interval)
    jobs = jt.jobs
    async with db.read() as conn:
        open_uploads = (
            await conn.execute(
                select(
                    func.count().label("n"),
                    func.coalesce(func.sum(uploads.c.offset), 0).label("size"),
                )
            )
        ).one()
        figures.uploads_open = int(open_uploads.n)
        figures.uploads_bytes = int(open_uploads.size)
        rows = await conn.execute(
            select(jobs.c.action, jobs.c.status, func.count().label("n"))
            .group_by(jobs.c.action, jobs.c.status)
            .order_by(jobs.c.action, jobs.c.status)
        )
        figures.jobs = [(str(row.action), str(row.status), int(row.n)) for row in rows]
        last = (
            await conn.execute(
                select(jobs.c.id, jobs.c.status, jobs.c.started_at, jobs.c.ended_at)
                .where(jobs.c.action == GC_ACTION, jobs.c.ended_at.is_not(None))
                .order_by(jobs.c.seq.desc())
                .limit(1)
            )
        ).first()
        if last is not None:
            line = (
                await conn.execute(
                    select(jt.job_logs.c.data)
                    .where(jt.job_logs.c.job_id == last.id)
                    .order_by(jt.job_logs.c.line.desc())
                    .limit(1)
                )
            ).scalar()
            figures.last_gc = GcRun(
                status=last.status,
                started_at=as_utc(last.started_at) if last.started_at else None,
                ended_at=as_utc(last.ended_at),
                result=gc_result(line),
            )
    figures.replicas = await replica_heartbeats.list_all(db)
    return figures
