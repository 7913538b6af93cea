"""NuGet ordering: no NuGet.Versioning runs here, so the reference is NuGet.Client's own tests
(test/NuGet.Core.Tests/NuGet.Versioning.Test: VersionComparerTests, NuGetVersionTest)."""

from __future__ import annotations

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import NugetVersion

# VersionComparerTests.VersionComparisonDefaultEqual / NuGetVersionTest.SemVerEqualsOperatorWorks
EQUAL = [
    ("1.0.0", "1.0.0"), ("1.0.0-BETA", "1.0.0-beta"), ("1.0.0-BETA+AA", "1.0.0-beta+aa"),
    ("1.0.0-BETA.X.y.5.77.0+AA", "1.0.0-beta.x.y.5.77.0+aa"), ("1.0", "1.0.0.0"),
    ("1.23.01", "1.23.1"), ("1.45.6", "1.45.6.0"), ("1.45.6-Alpha", "1.45.6-Alpha"),
    ("1.6.2-BeTa", "1.6.02-beta"), ("22.3.07     ", "22.3.07"), ("1.022", "1.22.0.0"),
    ("  1.022-Beta", "1.22-beta"),
]  # fmt: skip
# VersionComparisonDefaultLess / SemVerLessThanAndGreaterThanOperatorsWorks: a < b.
LESS = [
    ("0.0.0", "1.0.0"), ("1.0.0", "1.1.0"), ("1.0.0", "1.0.1"), ("1.999.9999", "2.1.1"),
    ("1.0.0-BETA", "1.0.0-beta2"), ("1.0.0-beta+AA", "1.0.0+aa"), ("1.0.0-BETA", "1.0.0-beta.1+AA"),
    ("1.0.0-BETA.X.y.5.77.0+AA", "1.0.0-beta.x.y.5.79.0+aa"),
    ("1.0.0-BETA.X.y.5.79.0+AA", "1.0.0-beta.x.y.5.790.0+abc"), ("1.0", "1.0.1"),
    ("1.23", "1.231"), ("1.4.5.6", "1.45.6"), ("1.4.5.6", "1.4.5.60"), ("1.01", "1.10"),
    ("1.01-alpha", "1.10-beta"), ("1.01.0-RC-1", "1.10.0-rc-2"), ("1.01-RC-1", "1.01"),
    ("1.01", "1.2-preview"), ("1.0.0-1", "1.0.0-a"), ("1.0.0-2", "1.0.0-10"),
]  # fmt: skip
# NuGetVersionTest.ParseThrowsIfStringIsNotAValidSemVer
INVALID = [
    "1beta", "$version$", "1.2Av^c", "1.2..", "1.2.3.4.5", "1.2.3.Beta",
    "1.2.3.4This version is full of awesomeness!!", "So.is.this", "1.34.2Alpha",
    "1.34.2Release Candidate", "1.4.7-", "1.4.7-*", "1.4.7+*", "1.4.7-AA.01^", "1.4.7-AA.0A^",
    "1.4.7-A^A", "1.4.7+AA.01^", "",
]  # fmt: skip


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal(a: str, b: str) -> None:
    assert NugetVersion.compare(a, b) == 0 == NugetVersion.compare(b, a)


@pytest.mark.parametrize(("a", "b"), LESS)
def test_less(a: str, b: str) -> None:
    assert NugetVersion.compare(a, b) == -1
    assert NugetVersion.compare(b, a) == 1


@pytest.mark.parametrize("bad", INVALID)
def test_refuses(bad: str) -> None:
    with pytest.raises(VersionUnparseable):
        NugetVersion.parse(bad)


def test_four_parts() -> None:
    v = NugetVersion.parse("3.4.0.3-RC-3")
    assert v.numbers == (3, 4, 0, 3) and v.label == "RC-3"
