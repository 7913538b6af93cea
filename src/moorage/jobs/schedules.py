"""Cron expressions (croniter): five fields, or six with seconds first as DTR's (robfig/cron)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from moorage.errors import InvalidInput


def _seconds_first(expression: str) -> bool:
    return len(expression.split()) == 6


def validate(expression: str) -> str:
    expression = " ".join(expression.split())
    fields = len(expression.split())
    if fields not in (5, 6) or not croniter.is_valid(
        expression, second_at_beginning=_seconds_first(expression)
    ):
        raise InvalidInput(
            "schedule must be a cron expression of 5 fields, or 6 with seconds first",
            detail={"schedule": expression[:255]},
        )
    return expression


def next_run(expression: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` the expression names (UTC)."""
    it = croniter(expression, after, second_at_beginning=_seconds_first(expression))
    nxt: dt.datetime = it.get_next(dt.datetime)
    return nxt if nxt.tzinfo else nxt.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class DefaultSchedule:
    action: str
    schedule: str
    parameters: dict[str, Any] = field(default_factory=dict)


UPLOAD_PURGE = "uploadpurge"

# Every installation starts with these crons: migration 0012 writes them (from a frozen copy), the
# Jobs page and /api/v0/crons show them, and an administrator may change or delete them (a
# deleted one stays deleted). ``uploadpurge`` runs daily and purges uploads idle for a day.
DEFAULTS = (DefaultSchedule(UPLOAD_PURGE, "20 4 * * *", {"maxAgeSeconds": 86400}),)
