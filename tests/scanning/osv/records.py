"""The real OSV records in tests/scanning/data/vulndb (see its SOURCES.md), and records written
by a test for the cases no real record shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from moorage.scanning.osv import OsvRecord, parse_record

VULNDB = Path(__file__).resolve().parent.parent / "data" / "vulndb"


def raw(relative: str) -> dict[str, Any]:
    path = VULNDB / relative
    if path.suffix == ".yaml":
        data: dict[str, Any] = yaml.safe_load(path.read_text())
    else:
        data = json.loads(path.read_text())
    return data


def record(relative: str) -> OsvRecord:
    return parse_record(raw(relative))


def every_file() -> list[str]:
    return sorted(
        str(p.relative_to(VULNDB)) for p in VULNDB.rglob("*") if p.suffix in (".json", ".yaml")
    )


def synthetic(ecosystem: str, name: str, *ranges: list[dict[str, str]], **extra: Any) -> OsvRecord:
    """A record of one affected package with ``ranges`` (lists of events, ECOSYSTEM type unless
    ``range_type`` says otherwise) and any top-level ``extra`` fields."""
    range_type = extra.pop("range_type", "ECOSYSTEM")
    affected: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": range_type, "events": events} for events in ranges],
    }
    for key in (
        "versions",
        "ecosystem_specific",
        "database_specific_affected",
        "severity_affected",
    ):
        if key in extra:
            affected[key.removesuffix("_affected")] = extra.pop(key)
    if not ranges:
        del affected["ranges"]
    data = {"id": extra.pop("id", "TEST-0001"), "modified": "2024-01-01T00:00:00Z", **extra}
    data["affected"] = [affected]
    return parse_record(data)
