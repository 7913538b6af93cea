"""Maven ordering: maven-artifact's ComparableVersionTest tables (apache/maven) and the fixtures'
Maven versions, against maven-artifact 3.8's ``ComparableVersion`` itself (one JVM).

The upstream tables are inputs, not expectations: they were written for other Maven releases
(``2-1 < 2.0.a`` there, ``2.0.a < 2-1`` in 3.8 after MNG-5568), and the jar decides."""

from __future__ import annotations

from moorage.scanning.versions import MavenVersion
from tests.scanning.versions import references
from tests.scanning.versions.tables import chain, pairs, versions

# ComparableVersionTest.VERSIONS_QUALIFIER and VERSIONS_NUMBER: each strictly increasing.
QUALIFIER = [
    "1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11",
    "1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc", "1-def",
    "1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123",
]  # fmt: skip
NUMBER = [
    "2.0", "2-1", "2.0.a", "2.0.0.a", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c",
    "2.1-1", "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11",
    "11", "11.a", "11b", "11c", "11m",
]  # fmt: skip
# ComparableVersionTest.testVersionsEqual / testVersionComparing.
EQUAL = [
    ("1", "1.0"), ("1", "1.0.0"), ("1", "1-0"), ("1.0", "1.0-0"), ("1a", "1.a"), ("1a", "1-a"),
    ("1a", "1.0.0-a"), ("1x", "1.0-x"), ("1ga", "1"), ("1final", "1"), ("1cr", "1rc"),
    ("1a1", "1alpha1"), ("1b2", "1beta2"), ("1m3", "1milestone3"), ("1X", "1x"), ("1GA", "1"),
    ("1Cr", "1Rc"), ("1m3", "1MILESTONE3"), ("1-release", "1"),
    ("1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
]  # fmt: skip
ORDER = [
    ("1", "2"), ("1.5", "2"), ("1.0.1", "1.1"), ("1.0-alpha-1", "1.0"),
    ("1.0-alpha-1", "1.0-beta-1"), ("1.0-beta-1", "1.0-SNAPSHOT"), ("1.0-SNAPSHOT", "1.0"),
    ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"), ("1.0", "1.0-1"), ("1.0.0", "1.0-1"),
    ("2.0-1", "2.0.1"), ("2.0.1-klm", "2.0.1-lmn"), ("2.0.1", "2.0.1-xyz"),
    ("2.0.1-xyz", "2.0.1-123"), ("1..1", "1.0.1"), ("1.2.3.4.5.6", "1.2.3.4.5.7"),
    ("12345678901234567890", "12345678901234567891"), ("1.0-beta.2", "1.0-beta-2"),
]  # fmt: skip


def test_agrees_with_maven_artifact() -> None:
    every = versions("maven") + QUALIFIER + NUMBER + [v for p in EQUAL + ORDER for v in p]
    table = pairs(every, [*EQUAL, *ORDER, *chain(*QUALIFIER), *chain(*NUMBER)], randoms=400)
    theirs = references.maven(table)
    mine = references.ours(MavenVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert {"lt", "eq", "gt"} <= set(theirs) and len(table) > 700


def test_canonical_form() -> None:
    assert MavenVersion.parse("1.0.0-a1").canonical == "1-alpha-1"
    assert MavenVersion.parse("1.1-cr1").canonical == "1.1-rc-1"
