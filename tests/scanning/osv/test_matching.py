"""OSV range evaluation on the real records and on the schema's edge cases."""

from __future__ import annotations

from types import TracebackType

import pytest

from moorage.errors import EcosystemUnknown, VersionUnparseable
from moorage.scanning.osv import Indeterminate, Match, affects, ecosystem_matches
from moorage.scanning.osv.matching import ParsedVersions, affects_version
from moorage.scanning.versions import DpkgVersion, scheme_for
from tests.scanning.osv.records import VULNDB, record, synthetic


def _match(result: object) -> Match:
    assert isinstance(result, Match), result
    return result


# ---- the real records -------------------------------------------------------------------------


def test_ubuntu_source_package_by_release() -> None:
    usn = record("osv/ubuntu/USN-3863-1.json")  # apt, fixed 1.6.6ubuntu0.1 on 18.04
    m = _match(affects(usn, "Ubuntu:18.04:LTS", "apt", "1.6.3ubuntu0.1"))  # trivy fixture's apt
    assert m.fixed == ("1.6.6ubuntu0.1",)
    assert m.via == "versions" and m.affected.package is not None
    assert m.affected.package.ecosystem == "Ubuntu:18.04:LTS"
    assert _match(affects(usn, "Ubuntu:18.04", "apt", "1.6.3ubuntu0.1")).fixed == m.fixed
    assert affects(usn, "Ubuntu:18.04:LTS", "apt", "1.6.6ubuntu0.1") is None
    assert affects(usn, "Ubuntu:18.04:LTS", "apt", "1.6.12ubuntu0.2") is None
    # the 16.04 entry has its own fix; a 22.04 image is not named at all
    assert _match(affects(usn, "Ubuntu:16.04:LTS", "apt", "1.2.10")).fixed == ("1.2.29ubuntu0.1",)
    assert affects(usn, "Ubuntu:22.04:LTS", "apt", "1.6.3ubuntu0.1") is None
    assert affects(usn, "Ubuntu:Pro:18.04:LTS", "apt", "1.6.3ubuntu0.1") is None
    assert affects(usn, "Debian:10", "apt", "1.6.3ubuntu0.1") is None


def test_ubuntu_epoch_versions_by_range() -> None:
    usn = record("osv/ubuntu/USN-5355-1.json")  # zlib, fixed 1:1.2.11.dfsg-0ubuntu2.1 on 18.04
    m = _match(affects(usn, "Ubuntu:18.04:LTS", "zlib", "1:1.2.11.dfsg-0ubuntu2"))
    assert m.fixed == ("1:1.2.11.dfsg-0ubuntu2.1",)
    # not in versions[] (a spelling nobody shipped) but inside the range
    assert _match(affects(usn, "Ubuntu:18.04:LTS", "zlib", "1:1.2.10-1")).via == "range"
    assert affects(usn, "Ubuntu:18.04:LTS", "zlib", "1:1.2.11.dfsg-0ubuntu2.1") is None
    assert affects(usn, "Ubuntu:18.04:LTS", "zlib", "2:0.1") is None


def test_alpine_branch_and_origin() -> None:
    derived = sorted((VULNDB / "osv-derived/alpine").glob("*.json"))
    busybox = [record(str(p.relative_to(VULNDB))) for p in derived]
    busybox = [
        r for r in busybox if r.affected[0].package and r.affected[0].package.name == "busybox"
    ]
    hits = {r.id for r in busybox if affects(r, "Alpine:v3.18", "busybox", "1.36.0-r9")}
    # the scalibr fixture's busybox 1.36.0-r9: affected by exactly the fixes in 1.36.1
    expected = {
        r.id
        for r in busybox
        if any(
            e.value.startswith("1.36.1")
            for e in r.affected[0].ranges[0].events
            if e.kind == "fixed"
        )
    }
    assert hits == expected and len(hits) == 5
    assert all(affects(r, "Alpine:3.18.4", "busybox", "1.36.0-r9") for r in busybox if r.id in hits)
    assert not any(affects(r, "Alpine:v3.17", "busybox", "1.36.0-r9") for r in busybox)
    openssl = record("osv-derived/alpine/ALPINE-CVE-2018-0734.json")  # fixed 1.1.1a-r0
    assert _match(affects(openssl, "Alpine:v3.18", "openssl", "1.1.1-r0")).fixed == ("1.1.1a-r0",)
    assert affects(openssl, "Alpine:v3.18", "openssl", "1.1.1a-r0") is None
    assert affects(openssl, "Alpine:v3.18", "openssl", "3.1.0-r4") is None


def test_npm_several_affected_entries() -> None:
    qs = record("osv/npm/GHSA-hrpp-h998-j3pp.json")
    assert _match(affects(qs, "npm", "qs", "6.9.3")).fixed == ("6.9.7",)
    assert _match(affects(qs, "npm", "qs", "6.5.2")).fixed == ("6.5.3",)
    assert _match(affects(qs, "npm", "qs", "0.0.1")).fixed == ("6.2.4",)
    for safe in ("6.9.7", "6.10.3", "6.11.0", "6.2.4"):
        assert affects(qs, "npm", "qs", safe) is None, safe
    assert affects(qs, "npm", "qsx", "6.9.3") is None
    assert affects(qs, "PyPI", "qs", "6.9.3") is None


def test_pypi_git_range_skipped_and_versions_list() -> None:
    rec = record("pysec/setuptools/PYSEC-2022-43012.yaml")  # GIT + ECOSYSTEM fixed 65.5.1
    assert _match(affects(rec, "PyPI", "setuptools", "65.5.0")).fixed == ("65.5.1",)
    assert _match(affects(rec, "PyPI", "setuptools", "0.6c11")).via == "versions"
    assert _match(affects(rec, "PyPI", "Setuptools", "65.5.0"))  # PEP 503 names
    assert _match(affects(rec, "PyPI", "setuptools", "65.4.1.post1")).via == "range"
    assert affects(rec, "PyPI", "setuptools", "65.5.1") is None
    assert affects(rec, "PyPI", "setuptools", "70.0.0") is None
    zipp = record("osv/pypi/GHSA-jfmj-5v4g-7637.json")
    assert _match(affects(zipp, "PyPI", "Zipp", "3.19.0")).fixed == ("3.19.1",)


def test_maven_range() -> None:
    guava = record("osv/maven/GHSA-7g45-4rm6-3mm3.json")  # introduced 1.0, fixed 32.0.0
    assert _match(affects(guava, "Maven", "com.google.guava:guava", "31.1-jre"))
    assert affects(guava, "Maven", "com.google.guava:guava", "32.0.0-jre") is None
    assert affects(guava, "Maven", "com.google.guava:guava", "1.0-rc1") is None


# ---- the schema's rules on records written here --------------------------------------------


def test_introduced_fixed_pairs_and_unsorted_events() -> None:
    rec = synthetic(
        "PyPI",
        "p",
        [{"fixed": "2.0"}, {"introduced": "3.0"}, {"introduced": "1.0"}, {"fixed": "3.5"}],
    )
    verdicts = {
        v: affects(rec, "PyPI", "p", v) is not None
        for v in ("0.9", "1.0", "1.9", "2.0", "2.5", "3.0", "3.4", "3.5")
    }
    assert verdicts == {
        "0.9": False, "1.0": True, "1.9": True, "2.0": False,
        "2.5": False, "3.0": True, "3.4": True, "3.5": False,
    }  # fmt: skip
    assert _match(affects(rec, "PyPI", "p", "1.5")).fixed == ("2.0", "3.5")


def test_last_affected_is_inclusive_and_limit_bounds() -> None:
    rec = synthetic("npm", "p", [{"introduced": "0"}, {"last_affected": "1.2.3"}])
    assert affects(rec, "npm", "p", "1.2.3") and not affects(rec, "npm", "p", "1.2.4")
    assert _match(affects(rec, "npm", "p", "1.0.0")).last_affected == ("1.2.3",)
    limited = synthetic("npm", "p", [{"introduced": "1.0.0"}, {"limit": "2.0.0"}])
    assert affects(limited, "npm", "p", "1.5.0") and not affects(limited, "npm", "p", "2.0.0")
    assert not affects(limited, "npm", "p", "0.9.0")
    unlimited = synthetic("npm", "p", [{"introduced": "1.0.0"}, {"limit": "*"}])
    assert affects(unlimited, "npm", "p", "99.0.0")


def test_ranges_are_ored_and_versions_only_records() -> None:
    rec = synthetic("Go", "example.com/m", [{"introduced": "1.0.0"}, {"fixed": "1.1.0"}],
                    [{"introduced": "2.0.0"}, {"fixed": "2.0.5"}])  # fmt: skip
    assert affects(rec, "Go", "example.com/m", "v1.0.5") and affects(
        rec, "Go", "example.com/m", "v2.0.1"
    )
    assert not affects(rec, "Go", "example.com/m", "v1.5.0")
    only = synthetic("RubyGems", "rack", versions=["2.2.3", "2.2.4"])
    assert _match(affects(only, "RubyGems", "rack", "2.2.4")).via == "versions"
    assert _match(affects(only, "RubyGems", "rack", "2.2.4.0"))  # the same version to rubygems
    assert not affects(only, "RubyGems", "rack", "2.2.5")


def test_semver_ranges_for_go_versions() -> None:
    rec = synthetic(
        "Go", "golang.org/x/net", [{"introduced": "0"}, {"fixed": "0.17.0"}], range_type="SEMVER"
    )
    assert _match(affects(rec, "Go", "golang.org/x/net", "v0.0.0-20220314234659-1baeb1ce4c0b"))
    assert _match(affects(rec, "Go", "golang.org/x/net", "v0.16.0+incompatible")).fixed == (
        "0.17.0",
    )
    assert not affects(rec, "Go", "golang.org/x/net", "v0.17.0")


def test_withdrawn_records_affect_nothing() -> None:
    rec = synthetic("npm", "p", [{"introduced": "0"}], withdrawn="2024-02-01T00:00:00Z")
    assert affects(rec, "npm", "p", "1.0.0") is None


def test_unparseable_installed_version_is_reported_not_hidden() -> None:
    usn = record("osv/ubuntu/USN-3863-1.json")
    result = affects(usn, "Ubuntu:18.04:LTS", "apt", "not-a-version")
    assert isinstance(result, Indeterminate) and "cannot be parsed" in result.reason
    assert affects(usn, "Ubuntu:18.04:LTS", "bash", "not-a-version") is None  # not named
    go = synthetic("Go", "m", [{"introduced": "0"}, {"fixed": "1.0.0"}], range_type="SEMVER")
    assert isinstance(affects(go, "Go", "m", "(devel)"), Indeterminate)


def test_unparseable_record_version_is_reported() -> None:
    rec = synthetic("Alpine:v3.18", "musl", [{"introduced": "0"}, {"fixed": "1.2.4-rX"}])
    result = affects(rec, "Alpine:v3.18", "musl", "1.2.3-r0")
    assert isinstance(result, Indeterminate) and "1.2.4-rX" in result.reason
    # another range that decides wins over the unreadable one
    both = synthetic("Alpine:v3.18", "musl", [{"introduced": "0"}, {"fixed": "1.2.4-rX"}],
                     [{"introduced": "0"}, {"fixed": "1.2.4-r0"}])  # fmt: skip
    assert isinstance(affects(both, "Alpine:v3.18", "musl", "1.2.3-r0"), Match)


def test_unknown_package_ecosystem() -> None:
    rec = synthetic("npm", "p", [{"introduced": "0"}])
    with pytest.raises(EcosystemUnknown):
        affects(rec, "Cobol", "p", "1")


@pytest.mark.parametrize(
    ("record_eco", "package_eco", "expected"),
    [
        ("Debian:12", "Debian:12", True),
        ("Debian:12", "Debian:12.5", True),
        ("Debian:11", "Debian:12", False),
        ("Debian", "Debian:12", True),
        ("Debian:12", "Debian", False),
        ("Alpine:v3.18", "Alpine:3.18.4", True),
        ("Alpine:v3.18", "Alpine:v3.1", False),
        ("Ubuntu:22.04:LTS", "Ubuntu:22.04", True),
        ("Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04", False),
        ("Ubuntu:Pro:22.04:LTS", "Ubuntu:Pro:22.04", True),
        ("Red Hat:enterprise_linux:8::appstream", "Red Hat:enterprise_linux:8", True),
        ("Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:8", False),
        ("Maven:https://repo.example/", "Maven", True),
        ("PyPI", "PyPI", True),
        ("PyPI", "npm", False),
    ],
)
def test_ecosystem_matches(record_eco: str, package_eco: str, expected: bool) -> None:
    assert ecosystem_matches(record_eco, package_eco) is expected


def test_parsed_versions_are_shared_and_change_no_answer() -> None:
    """One ``ParsedVersions`` for many packages against the same records: each version a record
    names parsed once per ordering, failures remembered as failures, the answers unchanged."""
    rec = synthetic("Debian:12", "tar", [{"introduced": "0"}, {"fixed": "1.35+dfsg-1"}])
    odd = synthetic("Debian:12", "tar", [{"introduced": "0"}, {"fixed": "not a version!"}])
    shared = ParsedVersions()
    for installed in ("1.34+dfsg-1.2", "1.35+dfsg-1", "1.36-1"):
        parsed = scheme_for("Debian:12").parse(installed)
        for one in (rec, odd):
            alone = affects_version(one, "Debian:12", "tar", installed, parsed)
            assert affects_version(one, "Debian:12", "tar", installed, parsed, shared) == alone
            assert alone == affects(one, "Debian:12", "tar", installed)
    assert len(shared) == 2  # "1.35+dfsg-1" and the unreadable one, each parsed once
    first = shared.parse(DpkgVersion, "1.35+dfsg-1")
    assert shared.parse(DpkgVersion, "1.35+dfsg-1") is first
    for _ in range(2):
        with pytest.raises(VersionUnparseable) as caught:
            shared.parse(DpkgVersion, "not a version!")
        assert caught.value.__traceback__ is not None
        depth = 0
        tb: TracebackType | None = caught.value.__traceback__
        while tb is not None:
            depth, tb = depth + 1, tb.tb_next
        assert depth < 5  # raised afresh each time: no traceback piling up
    bounded = ParsedVersions(limit=2)
    for text in ("1", "2", "3"):
        bounded.parse(DpkgVersion, text)
        assert len(bounded) <= 2
