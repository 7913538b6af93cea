"""DTR's jobrunner objects: jobs, their log lines, crons and workers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel
from moorage.queue import crons, job_logs, jobs, workers


def go_duration(seconds: int | None) -> str:
    """A duration as DTR writes it (``90s``), empty when there is none."""
    return "" if not seconds else f"{seconds}s"


class Job(WireModel):
    """DTR's job shape, plus the times and error Moorage records."""

    id: str
    retry_from_id: str = Field(serialization_alias="retryFromID")
    worker_id: str = Field(serialization_alias="workerID")
    status: str
    scheduled_at: Timestamp = Field(serialization_alias="scheduledAt")
    last_updated: Timestamp = Field(serialization_alias="lastUpdated")
    started_at: Timestamp | None = Field(serialization_alias="startedAt")
    ended_at: Timestamp | None = Field(serialization_alias="endedAt")
    action: str
    retries_left: int = Field(serialization_alias="retriesLeft")
    retries_total: int = Field(serialization_alias="retriesTotal")
    attempt: int
    capacity_map: dict[str, int] = Field(serialization_alias="capacityMap")
    parameters: dict[str, Any]
    deadline: str
    stop_timeout: str = Field(serialization_alias="stopTimeout")
    cancel_requested: bool = Field(serialization_alias="cancelRequested")
    cron: bool
    error: str

    @classmethod
    def of(cls, job: jobs.Job) -> Job:
        return cls(
            id=job.id,
            retry_from_id=job.retry_from_id or "",
            worker_id=job.worker or "",
            status=job.status,
            scheduled_at=job.scheduled_at,
            last_updated=job.updated_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            action=job.action,
            retries_left=max(0, job.max_attempts - job.attempt),
            retries_total=job.max_attempts - 1,
            attempt=job.attempt,
            capacity_map={},
            parameters=job.parameters,
            deadline=go_duration(job.deadline_seconds),
            stop_timeout="",
            cancel_requested=job.cancel_requested,
            cron=job.cron,
            error=job.error or "",
        )


class JobList(WireModel):
    jobs: list[Job]


class JobLogLine(WireModel):
    job_id: str = Field(serialization_alias="jobID")
    line_num: int = Field(serialization_alias="lineNum")
    ts: Timestamp
    data: str

    @classmethod
    def of(cls, line: job_logs.LogLine) -> JobLogLine:
        return cls(job_id=line.job_id, line_num=line.line, ts=line.at, data=line.data)


class Cron(WireModel):
    action: str
    schedule: str
    retries: int
    capacity_map: dict[str, int] = Field(serialization_alias="capacityMap")
    parameters: dict[str, Any]
    deadline: str
    stop_timeout: str = Field(serialization_alias="stopTimeout")
    next_run: Timestamp | None = Field(serialization_alias="nextRun")
    last_job_id: str = Field(serialization_alias="lastJobID")

    @classmethod
    def of(cls, cron: crons.Cron) -> Cron:
        return cls(
            action=cron.action,
            schedule=cron.schedule,
            retries=cron.retries,
            capacity_map={},
            parameters=cron.parameters,
            deadline=go_duration(cron.deadline_seconds),
            stop_timeout="",
            next_run=cron.next_run,
            last_job_id=cron.last_job_id or "",
        )


class CronList(WireModel):
    crons: list[Cron]


class Worker(WireModel):
    id: str
    status: str
    capacity_map: dict[str, int] = Field(serialization_alias="capacityMap")
    running: int
    heartbeat: Timestamp
    up_since: Timestamp = Field(serialization_alias="upSince")

    @classmethod
    def of(cls, worker: workers.Worker) -> Worker:
        return cls(
            id=worker.id,
            status=worker.status,
            capacity_map={"any": worker.capacity},
            running=worker.running,
            heartbeat=worker.heartbeat_at,
            up_since=worker.started_at,
        )


class WorkerList(WireModel):
    workers: list[Worker]
