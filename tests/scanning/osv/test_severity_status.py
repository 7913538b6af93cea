"""Severity (CVSS vectors scored by the ``cvss`` library, then the sources' words) in DTR's
critical/major/minor, and the fix status of a finding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cvss import CVSS3, CVSS4

from moorage.scanning.osv import Match, affects, fix_status, level_of, severity_of
from tests.scanning.osv.records import every_file, record, synthetic

V31_HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5
V31_LOW = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.6
V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(
    ("score", "level"),
    [("10.0", "critical"), ("9.8", "critical"), ("7.0", "critical"), ("6.9", "major"),
     ("4.0", "major"), ("3.9", "minor"), ("0.0", "minor")],
)  # fmt: skip
def test_dtr_bands(score: str, level: str) -> None:
    assert level_of(Decimal(score)) == level


def test_real_records_scored_by_the_cvss_library() -> None:
    scored = 0
    for name in every_file():
        rec = record(name)
        found = severity_of(rec, rec.affected[0])
        vectors = [s.score for s in rec.severity if s.type == "CVSS_V3"]
        if vectors:
            assert found is not None and found.source == "CVSS_V3"
            assert found.score == max(Decimal(str(CVSS3(v).scores()[0])) for v in vectors)
            assert found.level == level_of(found.score)
            scored += 1
    assert scored >= 7
    zipp = record("osv/pypi/GHSA-jfmj-5v4g-7637.json")  # V3 and V4: V3 wins
    assert severity_of(zipp) is not None and severity_of(zipp).source == "CVSS_V3"  # type: ignore[union-attr]


def test_v4_then_words() -> None:
    v4 = synthetic("npm", "p", [{"introduced": "0"}], severity=[{"type": "CVSS_V4", "score": V4}])
    found = severity_of(v4)
    assert found is not None and found.score == Decimal(str(CVSS4(V4).base_score))
    broken = synthetic(
        "npm", "p", [{"introduced": "0"}],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}],
        database_specific={"severity": "MODERATE"},
    )  # fmt: skip
    found = severity_of(broken)
    assert found is not None and (found.level, found.source, found.word) == (
        "major",
        "database_specific",
        "MODERATE",
    )
    ubuntu = synthetic(
        "Ubuntu:22.04:LTS",
        "p",
        [{"introduced": "0"}],
        ecosystem_specific={"ubuntu_priority": "high"},
    )
    assert severity_of(ubuntu, ubuntu.affected[0]).level == "critical"  # type: ignore[union-attr]
    debian = synthetic(
        "Debian:12", "p", [{"introduced": "0"}], ecosystem_specific={"urgency": "unimportant"}
    )
    assert severity_of(debian, debian.affected[0]).level == "minor"  # type: ignore[union-attr]
    word = synthetic(
        "Ubuntu:22.04:LTS",
        "p",
        [{"introduced": "0"}],
        severity=[{"type": "Ubuntu", "score": "medium"}],
    )
    assert severity_of(word).level == "major"  # type: ignore[union-attr]
    nothing = synthetic(
        "npm", "p", [{"introduced": "0"}], ecosystem_specific={"urgency": "not yet assigned"}
    )
    assert severity_of(nothing, nothing.affected[0]) is None
    per_package = synthetic(
        "npm", "p", [{"introduced": "0"}],
        severity=[{"type": "CVSS_V3", "score": V31_HIGH}],
        severity_affected=[{"type": "CVSS_V3", "score": V31_LOW}],
    )  # fmt: skip
    assert severity_of(per_package, per_package.affected[0]).level == "minor"  # type: ignore[union-attr]
    assert severity_of(per_package).level == "critical"  # type: ignore[union-attr]


def _m(rec: object, *args: str) -> Match:
    m = affects(rec, *args)  # type: ignore[arg-type]
    assert isinstance(m, Match)
    return m


def test_fix_status() -> None:
    usn = record("osv/ubuntu/USN-3863-1.json")
    assert fix_status(_m(usn, "Ubuntu:18.04:LTS", "apt", "1.6.3ubuntu0.1")).status == "fixed"
    open_ = synthetic("Debian:12", "p", [{"introduced": "0"}])
    assert fix_status(_m(open_, "Debian:12", "p", "1.0-1")).status == "affected"
    for word, status in [("will not fix", "will_not_fix"), ("ignored", "will_not_fix"),
                         ("Fix Deferred", "fix_deferred"), ("postponed", "fix_deferred"),
                         ("end-of-life", "end_of_life")]:  # fmt: skip
        rec = synthetic(
            "Debian:12", "p", [{"introduced": "0"}], ecosystem_specific={"status": word}
        )
        got = fix_status(_m(rec, "Debian:12", "p", "1.0-1"))
        assert (got.status, got.word) == (status, word)
    # a fix newer than the installed version wins over an old word
    fixed = synthetic(
        "Debian:12",
        "p",
        [{"introduced": "0"}, {"fixed": "2.0-1"}],
        database_specific={"status": "postponed"},
    )
    assert fix_status(_m(fixed, "Debian:12", "p", "1.0-1")).status == "fixed"
