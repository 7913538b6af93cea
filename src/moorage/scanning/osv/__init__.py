"""OSV vulnerability records and the pure part of matching them against installed packages.

``record`` (the typed OSV schema), ``matching`` (``affects``: OSV's range evaluation per
ecosystem ordering), ``severity`` (CVSS vectors and words to DTR's critical/major/minor),
``status`` (fixed, or the distribution's reason it is not), ``aliases`` (one finding per
vulnerability). Pure code: imports nothing from Moorage but ``moorage.errors`` and
``moorage.scanning.versions``.
"""

from moorage.scanning.osv.aliases import Finding, merge_findings
from moorage.scanning.osv.matching import Indeterminate, Match, affects, ecosystem_matches
from moorage.scanning.osv.record import OsvRecord, load_record, parse_record
from moorage.scanning.osv.severity import Severity, level_of, severity_of
from moorage.scanning.osv.status import FixStatus, Status, fix_status

__all__ = [
    "Finding",
    "FixStatus",
    "Indeterminate",
    "Match",
    "OsvRecord",
    "Severity",
    "Status",
    "affects",
    "ecosystem_matches",
    "fix_status",
    "level_of",
    "load_record",
    "merge_findings",
    "parse_record",
    "severity_of",
]
