"""dpkg ordering: the fixtures' Debian and Ubuntu versions and deb-version(7)'s examples, against
``dpkg --compare-versions`` itself."""

from __future__ import annotations

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import DpkgVersion
from tests.scanning.versions import references
from tests.scanning.versions.tables import chain, pairs, versions

# deb-version(7): "~~ < ~~a < ~ < (empty) < a"; epochs; the revision; numbers as numbers.
SPEC = [
    *chain("1~~", "1~~a", "1~", "1", "1a"),
    *chain("1.0~rc1", "1.0", "1.0+b1", "1.0-1", "1.0-1ubuntu0.1", "1.0.1", "1:0.1"),
    ("1.0", "1.00"),
    ("1.0-0", "1.0"),
    ("0:1.0", "1.0"),
    ("2:1", "1:9"),
    ("1.0", "1.0.0"),
    ("1:2:3-4", "1:2:3-5"),
    ("1.0-1-1", "1.0-1"),
    ("1.0-a", "1.0-1"),
    ("7.6p2-4", "7.6-0"),
    ("1.2.3~", "1.2.3"),
    ("+1:1.0", "1.0"),
]
# Refused by dpkg (errors) or warned about (Moorage refuses both).
BAD = [
    "1.0-",
    ":1.0",
    "1:",
    "a:1.0",
    "-1:1.0",
    "2147483648:1.0",
    "-1",
    "a1.0",
    "1.0_1",
    "1:1.0-a_b",
    "1.0-1:2",
    "1 0",
    "1.0-#",
    "~1",
]


@pytest.fixture(scope="module")
def table() -> list[tuple[str, str]]:
    table = pairs(versions("dpkg"), SPEC, randoms=250)
    table += [(bad, "1.0") for bad in BAD] + [("1.0", bad) for bad in BAD]
    return table


def test_agrees_with_dpkg(table: list[tuple[str, str]]) -> None:
    theirs = references.dpkg(table)
    mine = references.ours(DpkgVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert len(table) > 1000
    assert {"lt", "eq", "gt", "error"} <= set(theirs)


def test_parts_and_sorting() -> None:
    v = DpkgVersion.parse("1:2.38.1-5+b1")
    assert (v.epoch, v.upstream, v.revision) == (1, "2.38.1", "5+b1")
    assert DpkgVersion.parse("2.38.1").revision == ""
    listed = ["1.0", "1.0~rc1", "1:0.1", "1.0-1", "1.0+b1"]
    assert [str(v) for v in sorted(map(DpkgVersion.parse, listed))] == [
        "1.0~rc1",
        "1.0",
        "1.0-1",
        "1.0+b1",
        "1:0.1",
    ]


@pytest.mark.parametrize("bad", ["", "   ", "1.0\x00", "1.0é", *BAD])
def test_refuses_what_dpkg_refuses(bad: str) -> None:
    with pytest.raises(VersionUnparseable) as caught:
        DpkgVersion.parse(bad)
    assert caught.value.scheme == "dpkg" and caught.value.version == bad


def test_versions_of_two_schemes_never_compare() -> None:
    from moorage.scanning.versions import ApkVersion

    with pytest.raises(TypeError):
        _ = DpkgVersion.parse("1.0") < ApkVersion.parse("1.0")
    assert DpkgVersion.parse("1.0") != ApkVersion.parse("1.0")
    with pytest.raises(TypeError):
        hash(DpkgVersion.parse("1.0"))
