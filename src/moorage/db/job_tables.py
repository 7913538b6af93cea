"""The jobrunner's tables (``moorage.queue``): jobs, their log lines, crons, workers and the
per-action defaults (DTR's action configs).

They are declared on ``moorage.db.tables.metadata``, the one MetaData of the schema; Alembic's
``env.py`` imports this module with ``tables`` so the metadata it compares holds every table.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
)

from moorage.db.tables import metadata

jobs = Table(
    "jobs",
    metadata,
    # ``seq`` orders and pages the history; ``id`` is the job's public name (a UUID, as DTR's).
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("action", String(64), nullable=False),
    # waiting → running → done | errored | canceled | worker_dead
    Column("status", String(16), nullable=False),
    Column("parameters", Text, nullable=False, server_default="{}"),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("max_attempts", Integer, nullable=False, server_default="1"),
    Column("retry_from_id", String(36), nullable=True),
    Column("worker", String(255), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("deadline_seconds", Integer, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("cron", Boolean, nullable=False, server_default=false()),
    Column("error", Text, nullable=True),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("run_after", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The action's name as it was submitted when that was DTR's name for a Moorage action
    # (``gc`` for ``onlinegc``): what the API shows; ``action`` is what runs.
    Column("submitted_action", String(64), nullable=True),
    Index("ix_jobs_status_run_after", "status", "run_after"),
    Index("ix_jobs_action", "action"),
)

job_logs = Table(
    "job_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_job_logs_job", "job_id", "line"),
)

crons = Table(
    "crons",
    metadata,
    Column("action", String(64), primary_key=True),
    Column("schedule", String(255), nullable=False),
    Column("parameters", Text, nullable=False, server_default="{}"),
    Column("retries", Integer, nullable=False, server_default="0"),
    Column("deadline_seconds", Integer, nullable=True),
    Column("next_run", DateTime(timezone=True), nullable=False),
    Column("last_job_id", String(36), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # DTR's cron ``id`` (a UUID; migration 0018 gave the crons before it theirs).
    Column("id", String(36), nullable=True),
    Column("submitted_action", String(64), nullable=True),  # as on ``jobs``
)

job_workers = Table(
    "job_workers",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # running | stopped
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    # Per-action limits an administrator set (DTR's capacityMap: action → jobs at once), JSON.
    Column("capacity_map", Text, nullable=False, server_default="{}"),
)

action_configs = Table(
    "action_configs",
    metadata,
    # DTR's per-action defaults: parameters every job of the action starts with (its own win).
    Column("action", String(64), primary_key=True),
    Column("id", String(36), nullable=False),
    Column("submitted_action", String(64), nullable=True),  # as on ``jobs``
    Column("parameters", Text, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
