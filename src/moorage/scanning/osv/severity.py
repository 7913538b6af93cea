"""A record's severity in DTR's three levels: critical, major, minor.

DTR (after Docker Security Scanning) counts vulnerabilities in three levels that follow the
CVSS qualitative bands it scored with: **critical** for a base score of 7.0 and above, **major**
from 4.0 to 6.9, **minor** below 4.0 (CVSS v2's High / Medium / Low; v3's High and Critical
are both DTR's critical). The bands are this module's ``CRITICAL`` and ``MAJOR`` constants.

The score comes from the record's CVSS vectors, scored with the ``cvss`` library: the affected
package's own ``severity[]`` first, then the record's; CVSS v3.x first (the version DTR's bands
were used with), then v4, then v2; the highest base score of the chosen version. A record with no
usable vector is ranked by the words its sources use: Ubuntu's priority (``severity`` type
``Ubuntu``, ``ecosystem_specific.ubuntu_priority``), Debian's ``urgency``, GitHub's
``database_specific.severity`` (``LOW``, ``MODERATE``, ``HIGH``, ``CRITICAL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

from moorage.scanning.osv.record import Affected, OsvRecord
from moorage.scanning.osv.record import Severity as SeverityEntry

Level = Literal["critical", "major", "minor"]
CRITICAL = Decimal("7.0")
MAJOR = Decimal("4.0")
LEVEL_RANK: dict[Level, int] = {"minor": 0, "major": 1, "critical": 2}

_WORDS: dict[str, Level] = {
    "critical": "critical",
    "high": "critical",
    "important": "critical",
    "medium": "major",
    "moderate": "major",
    "low": "minor",
    "negligible": "minor",
    "unimportant": "minor",
}
_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


@dataclass(frozen=True)
class Severity:
    level: Level
    score: Decimal | None  # the CVSS base score the level came from; None for a word
    source: str  # "CVSS_V3", "CVSS_V4", "CVSS_V2", "Ubuntu", "urgency", "database_specific"…
    vector: str | None = None
    word: str | None = None


def level_of(score: Decimal) -> Level:
    """DTR's level for a CVSS base score."""
    if score >= CRITICAL:
        return "critical"
    if score >= MAJOR:
        return "major"
    return "minor"


def base_score(kind: str, vector: str) -> Decimal | None:
    """The CVSS base score of a vector (None if the vector is malformed or of another kind)."""
    try:
        if kind == "CVSS_V3":
            return Decimal(str(CVSS3(vector).scores()[0]))
        if kind == "CVSS_V4":
            return Decimal(str(CVSS4(vector).base_score))
        if kind == "CVSS_V2":
            return Decimal(str(CVSS2(vector).scores()[0]))
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return None


def _from_vectors(entries: list[SeverityEntry]) -> Severity | None:
    for kind in _PREFERENCE:
        scored = [
            (score, e.score)
            for e in entries
            if e.type == kind and (score := base_score(kind, e.score)) is not None
        ]
        if scored:
            score, vector = max(scored)
            return Severity(level_of(score), score, kind, vector=vector)
    return None


def _word(value: Any) -> Level | None:
    return _WORDS.get(value.strip().lower()) if isinstance(value, str) else None


def _from_words(record: OsvRecord, affected: Affected | None) -> Severity | None:
    candidates: list[tuple[str, Any]] = []
    for entries in ([] if affected is None else affected.severity, record.severity):
        candidates += [("Ubuntu", e.score) for e in entries if e.type == "Ubuntu"]
    if affected is not None:
        specific = affected.ecosystem_specific or {}
        candidates.append(("ubuntu_priority", specific.get("ubuntu_priority")))
        candidates.append(("urgency", specific.get("urgency")))
        candidates.append(("database_specific", (affected.database_specific or {}).get("severity")))
    candidates.append(("database_specific", (record.database_specific or {}).get("severity")))
    for source, value in candidates:
        level = _word(value)
        if level is not None:
            return Severity(level, None, source, word=str(value))
    return None


def severity_of(record: OsvRecord, affected: Affected | None = None) -> Severity | None:
    """The record's severity for one affected package (None: the record says nothing usable)."""
    if affected is not None and (found := _from_vectors(affected.severity)):
        return found
    return _from_vectors(record.severity) or _from_words(record, affected)


def worst(severities: list[Severity | None]) -> Severity | None:
    """The most severe of several (level, then score)."""
    known = [s for s in severities if s is not None]
    if not known:
        return None
    return max(known, key=lambda s: (LEVEL_RANK[s.level], s.score or Decimal(-1)))
