"""DTR's scanner objects: the scanner's status (``responses.NautilusStatus``, with the
vulnerability database's version and last update beside DTR's fields) and the outcome of an
offline update."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel, optional
from moorage.scanning.vulndb.importer import ImportReport
from moorage.scanning.vulndb.status import DatabaseStatus
from moorage.scanning.vulndb.store import Counts

# DTR's zero time, for the dates of a database never imported.
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
SCANNER_VERSION = 1
# ``state``: 0 no vulnerability database yet, 1 ready, 2 an update is importing.
STATE_EMPTY, STATE_READY, STATE_UPDATING = 0, 1, 2


class ScannerFingerprint(WireModel):
    scanner_type: int = Field(serialization_alias="scannerType")
    version: list[str]


class ImportCounts(WireModel):
    added: int
    updated: int
    unchanged: int
    withdrawn: int
    removed: int
    duplicates: int

    @classmethod
    def of(cls, counts: Counts | dict[str, int]) -> ImportCounts:
        values = counts.as_dict() if isinstance(counts, Counts) else counts
        return cls(**{name: int(values.get(name, 0)) for name in cls.model_fields})


class LastUpdate(WireModel):
    """The last update attempt, whatever its outcome."""

    outcome: str  # succeeded | failed
    at: Timestamp
    source: str
    error: str | None = optional()  # shown to administrators only


class UpdateProgress(WireModel):
    holder: str
    since: Timestamp
    progress: dict[str, Any]


class VulnerabilityDatabase(WireModel):
    version: int
    newest_modified: Timestamp | None = Field(serialization_alias="newestModified")
    imported_at: Timestamp | None = Field(serialization_alias="importedAt")
    source: str | None
    records: int
    withdrawn: int
    last_import: ImportCounts | None = Field(serialization_alias="lastImport")
    last_update: LastUpdate | None = Field(serialization_alias="lastUpdate")
    updating: UpdateProgress | None


class ScannerStatus(WireModel):
    """``GET /api/v0/imagescan/status``: DTR's fields, and ``database``."""

    state: int
    scanner_version: int
    scanner_updated_at: Timestamp = Field(serialization_alias="scannerUpdatedAt")
    db_version: int
    db_updated_at: Timestamp
    last_db_update_failed: bool = Field(serialization_alias="lastDBUpdateFailed")
    last_vuln_overrides_db_update_failed: bool = Field(
        serialization_alias="lastVulnOverridesDBUpdateFailed"
    )
    replicas: dict[str, ScannerFingerprint]
    database: VulnerabilityDatabase

    @classmethod
    def of(cls, status: DatabaseStatus, *, show_errors: bool) -> ScannerStatus:
        if status.updating is not None:
            state = STATE_UPDATING
        else:
            state = STATE_READY if status.generation > 0 else STATE_EMPTY
        last = None
        if status.last_outcome is not None and status.last_attempt_at is not None:
            last = LastUpdate(
                outcome=status.last_outcome,
                at=status.last_attempt_at,
                source=status.last_source or "",
                error=status.last_error if show_errors else None,
            )
        updating = None
        if status.updating is not None:
            updating = UpdateProgress(
                holder=status.updating.holder,
                since=status.updating.since,
                progress=status.updating.progress,
            )
        return cls(
            state=state,
            scanner_version=SCANNER_VERSION,
            scanner_updated_at=status.last_attempt_at or NEVER,
            db_version=status.generation,
            db_updated_at=status.imported_at or NEVER,
            last_db_update_failed=status.last_failed,
            last_vuln_overrides_db_update_failed=False,
            replicas={},
            database=VulnerabilityDatabase(
                version=status.generation,
                newest_modified=status.newest_modified,
                imported_at=status.imported_at,
                source=status.source,
                records=status.records,
                withdrawn=status.withdrawn,
                last_import=ImportCounts.of(status.last_import) if status.last_import else None,
                last_update=last,
                updating=updating,
            ),
        )


class DatabaseUpdate(WireModel):
    """``PUT /api/v0/imagescan/scan/update?online=false``: the imported file's outcome."""

    version: int
    source: str
    records: int
    withdrawn: int
    counts: ImportCounts
    skipped_files: int = Field(serialization_alias="skippedFiles")
    seconds: float
    summary: str

    @classmethod
    def of(cls, report: ImportReport) -> DatabaseUpdate:
        return cls(
            version=report.generation,
            source=report.source,
            records=report.records,
            withdrawn=report.withdrawn_total,
            counts=ImportCounts.of(report.counts),
            skipped_files=report.skipped_files,
            seconds=round(report.seconds, 3),
            summary=report.summary(),
        )
