"""RubyGems ordering against ``Gem::Version#<=>`` (ruby, one process), on the fixtures' gem
versions and the cases of rubygems' own test/rubygems/test_gem_version.rb."""

from __future__ import annotations

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import GemVersion
from tests.scanning.versions import references
from tests.scanning.versions.tables import chain, pairs, versions

# test_gem_version.rb: test_spaceship, test_semver, test_eql_eh, prerelease ordering.
CASES = [
    ("1.0", "1.0.0"), ("1.0", "1.0.a"), ("1.8.2", "0.0.0"), ("1.8.2", "1.8.2.a"),
    ("1.8.2.b", "1.8.2.a"), ("1.8.2.a", "1.8.2"), ("1.8.2.a10", "1.8.2.a9"), ("", "0"),
    ("0.beta.1", "0.0.beta.1"), ("0.0.beta", "0.0.beta.1"), ("0.0.beta", "0.beta.1"),
    ("5.a", "5.0.0.rc2"), ("5.x", "5.0.0.rc2"), ("1.9.3", "1.9.3.0"),
    ("1.0.0-rc1", "1.0.0.pre.rc1"),
    ("1.0-a", "1.0.pre.a"), ("1.2.b1", "1.2.b.1"), ("1.0.0.preview2", "1.0.0.pre"),
    ("1.0.0.rc1", "1.0.0.RC1"), ("1.0.0.B", "1.0.0.a"), ("1.1.1.0.1", "1.1.1.1"),
    ("1.2.0.a", "1.2.a"), ("2.0.0.dev", "2.0.0.alpha"),
]  # fmt: skip
ORDERED = ["0.9", "1.0.a.2", "1.0.a.10", "1.0.b1", "1.0.rc.1", "1.0", "1.0.1", "1.1.a", "1.1", "2"]
INVALID = [
    "junk", "1.0\n2.0", "1..2", "1.2 3", "1.0-", "-1", ".1", "1.", "1_0",
    "2.3422222.222.222222222.22222.ads0as.dasd0.ddd2222.2.qd3e.",
]  # fmt: skip


def test_agrees_with_gem_version() -> None:
    every = versions("rubygems") + ORDERED + [v for pair in CASES for v in pair if v] + INVALID
    table = pairs(every, [p for p in CASES if p[0]] + chain(*ORDERED), randoms=400)
    table = [(a, b) for a, b in table if "\n" not in a + b]
    theirs = references.rubygems(table)
    mine = references.ours(GemVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert {"lt", "eq", "gt", "error"} <= set(theirs) and len(table) > 700


def test_prerelease() -> None:
    assert GemVersion.parse("1.0.a").prerelease and not GemVersion.parse("1.0").prerelease
    assert GemVersion.parse("1.0-rc1").prerelease


@pytest.mark.parametrize("bad", ["", *INVALID])
def test_refuses(bad: str) -> None:
    with pytest.raises(VersionUnparseable):
        GemVersion.parse(bad)
