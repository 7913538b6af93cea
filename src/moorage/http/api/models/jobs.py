"""DTR's jobrunner objects: jobs, their log lines, crons, workers and action configs.

An object's ``action`` is the name it was submitted with (DTR's ``gc`` stays ``gc``, though
Moorage's ``onlinegc`` runs it); a job's ``capacityMap`` is the one unit of its (Moorage) action's
capacity it takes on a worker, and a worker's is how many jobs of each action it runs at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel
from moorage.queue import action_configs, crons, job_logs, jobs, workers


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
            action=job.name,
            retries_left=max(0, job.max_attempts - job.attempt),
            retries_total=job.max_attempts - 1,
            attempt=job.attempt,
            capacity_map={job.action: 1},
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
    id: str
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
            id=cron.id,
            action=cron.name,
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
    """DTR's worker (``status`` ``running``, ``stopped`` or ``dead``), plus its running jobs'
    count and its last heartbeat and start."""

    id: str
    status: str
    capacity_map: dict[str, int] = Field(serialization_alias="capacityMap")
    heartbeat_expiration: Timestamp = Field(serialization_alias="heartbeatExpiration")
    running: int
    heartbeat: Timestamp
    up_since: Timestamp = Field(serialization_alias="upSince")

    @classmethod
    def of(cls, worker: workers.Worker, actions: list[str], stale_after: dt.timedelta) -> Worker:
        return cls(
            id=worker.id,
            status=worker.status,
            capacity_map=workers.effective(worker.capacity, actions, worker.limits),
            heartbeat_expiration=worker.heartbeat_at + stale_after,
            running=worker.running,
            heartbeat=worker.heartbeat_at,
            up_since=worker.started_at,
        )


class WorkerList(WireModel):
    workers: list[Worker]


class ActionConfig(WireModel):
    id: str
    action: str
    parameters: dict[str, Any]

    @classmethod
    def of(cls, config: action_configs.ActionConfig) -> ActionConfig:
        return cls(id=config.id, action=config.name, parameters=config.parameters)


class ActionConfigList(WireModel):
    action_configs: list[ActionConfig] = Field(serialization_alias="actionConfigs")
