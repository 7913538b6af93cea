"""One finding per vulnerability: aliases and single-upstream records merged, multi-CVE notices
attached to each CVE they cover."""

from __future__ import annotations

from moorage.scanning.osv import Match, affects, merge_findings
from tests.scanning.osv.records import record, synthetic


def _m(rec: object, *args: str) -> Match:
    m = affects(rec, *args)  # type: ignore[arg-type]
    assert isinstance(m, Match)
    return m


def test_ghsa_and_its_cve_are_one_finding() -> None:
    ghsa = record("osv/npm/GHSA-hrpp-h998-j3pp.json")
    nvd = synthetic("npm", "qs", [{"introduced": "6.9.0"}, {"fixed": "6.9.7"}], id="CVE-2022-24999")
    other = synthetic("npm", "qs", [{"introduced": "0"}], id="GHSA-0000-0000-0000")
    findings = merge_findings(
        [
            _m(ghsa, "npm", "qs", "6.9.3"),
            _m(nvd, "npm", "qs", "6.9.3"),
            _m(other, "npm", "qs", "6.9.3"),
        ]
    )
    assert [f.ids for f in findings] == [
        ("CVE-2022-24999", "GHSA-hrpp-h998-j3pp"),
        ("GHSA-0000-0000-0000",),
    ]
    merged = findings[0]
    assert merged.fixed == ("6.9.7",) and merged.status == "fixed" and len(merged.matches) == 2
    assert merged.severity is not None and merged.severity.source == "CVSS_V3"


def test_distribution_records_and_their_cve() -> None:
    alpine = record("osv-derived/alpine/ALPINE-CVE-2018-0734.json")  # upstream CVE-2018-0734
    nvd = synthetic(
        "Alpine:v3.18", "openssl", [{"introduced": "0"}, {"fixed": "1.1.1a-r0"}], id="CVE-2018-0734"
    )
    findings = merge_findings([_m(r, "Alpine:v3.18", "openssl", "1.1.0-r0") for r in (alpine, nvd)])
    assert [f.ids for f in findings] == [("CVE-2018-0734", "ALPINE-CVE-2018-0734")]


def test_a_notice_covering_two_cves() -> None:
    usn = record("osv/ubuntu/USN-3675-1.json")  # upstream UBUNTU-CVE-2018-9234 and -12020
    events = [{"introduced": "0"}, {"fixed": "2.2.4-1ubuntu1.1"}]
    one = synthetic(
        "Ubuntu:18.04:LTS", "gnupg2", events, id="UBUNTU-CVE-2018-9234", upstream=["CVE-2018-9234"]
    )
    args = ("Ubuntu:18.04:LTS", "gnupg2", "2.2.4-1ubuntu1")
    findings = merge_findings([_m(usn, *args), _m(one, *args)])
    assert [f.ids for f in findings] == [
        ("CVE-2018-9234", "UBUNTU-CVE-2018-9234", "USN-3675-1"),
        ("UBUNTU-CVE-2018-12020", "USN-3675-1"),
    ]
    assert all(f.fixed == ("2.2.4-1ubuntu1.1",) for f in findings)


def test_findings_are_per_package() -> None:
    ghsa = record("osv/npm/GHSA-hrpp-h998-j3pp.json")
    findings = merge_findings([_m(ghsa, "npm", "qs", "6.9.3"), _m(ghsa, "npm", "qs", "6.5.2")])
    assert [(f.version, f.fixed) for f in findings] == [
        ("6.5.2", ("6.5.3",)),
        ("6.9.3", ("6.9.7",)),
    ]
