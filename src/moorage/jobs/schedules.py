"""The crons every installation starts with (cron expressions: ``moorage.queue.crons``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DefaultSchedule:
    action: str
    schedule: str
    parameters: dict[str, Any] = field(default_factory=dict)


UPLOAD_PURGE = "uploadpurge"
VULNDB_UPDATE = "vulndbupdate"

# Every installation starts with these crons: migration 0012 writes them (from a frozen copy), the
# Jobs page and /api/v0/crons show them, and an administrator may change or delete them (a
# deleted one stays deleted). ``uploadpurge`` runs daily and purges uploads idle for a day.
DEFAULTS = (
    DefaultSchedule(UPLOAD_PURGE, "20 4 * * *", {"maxAgeSeconds": 86400}),
    # The daily online update of the vulnerability database (written by migration 0013).
    DefaultSchedule(VULNDB_UPDATE, "40 3 * * *"),
)
