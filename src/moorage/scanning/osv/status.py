"""Whether a finding can be fixed, and the distribution's word when it cannot.

A match with a fixed version newer than the installed one is ``fixed`` (an upgrade exists).
Without one, the record's own status word is kept when it says why: Debian's tracker and
Ubuntu's CVE tracker publish "ignored"/"will not fix" and "postponed"/"deferred" for issues they
leave unfixed; trackers export them under ``status``-like keys of ``ecosystem_specific`` or
``database_specific`` (``status``, ``fix_status``, ``fix_state``, ``state``, ``resolution``),
of the affected package first, then of the record. Other unfixed findings are ``affected``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from moorage.scanning.osv.matching import Match

FixStatus = Literal[
    "fixed", "affected", "will_not_fix", "fix_deferred", "end_of_life", "under_investigation"
]
_KEYS = ("status", "fix_status", "fix_state", "state", "resolution")
_WORDS: dict[str, FixStatus] = {}
for _status, _words in {
    "will_not_fix": ("will not fix", "will_not_fix", "won't fix", "wont fix", "wontfix",
                     "wont-fix", "ignored"),
    "fix_deferred": ("fix deferred", "fix_deferred", "deferred", "postponed"),
    "end_of_life": ("end of life", "end-of-life", "end_of_life", "eol"),
    "under_investigation": ("under investigation", "under_investigation", "needs-triage",
                            "needs triage"),
}.items():  # fmt: skip
    for _word in _words:
        _WORDS[_word] = _status  # type: ignore[assignment]


@dataclass(frozen=True)
class Status:
    status: FixStatus
    word: str | None = None  # the record's own word, as written


def _status_word(specific: dict[str, Any] | None) -> Status | None:
    for key, value in (specific or {}).items():
        if key.lower() in _KEYS and isinstance(value, str):
            status = _WORDS.get(value.strip().lower())
            if status is not None:
                return Status(status, value)
    return None


def fix_status(match: Match) -> Status:
    if match.fixed:
        return Status("fixed")
    entry, record = match.affected, match.record
    for specific in (entry.ecosystem_specific, entry.database_specific, record.database_specific):
        found = _status_word(specific)
        if found is not None:
            return found
    return Status("affected")
