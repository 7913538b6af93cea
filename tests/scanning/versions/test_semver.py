"""SemVer ordering: npm against node-semver (as npm bundles it), Go module versions against
golang.org/x/mod/semver (as the Go toolchain vendors it), strict SemVer 2.0.0 against the
specification's own examples and node-semver's precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import GoVersion, NpmVersion, SemVer
from tests.scanning.versions import references
from tests.scanning.versions.tables import chain, pairs, versions

# semver.org section 11's precedence example, and build metadata that never counts.
SPEC = [
    *chain(
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ),
    ("1.0.0+build.1", "1.0.0+build.2"),
    ("1.0.0-alpha+001", "1.0.0-alpha"),
    ("1.0.0-0.3.7", "1.0.0-x.7.z.92"),
    ("1.0.0-x-y-z.--", "1.0.0-x-y-z.-"),
    ("1.0.0-alpha.1", "1.0.0-alpha.a"),
    ("1.0.0-A", "1.0.0-a"),
    ("10.0.0", "9.0.0"),
]
# From the specification's list of invalid versions (the FAQ's regular expression tests).
INVALID = [
    "1",
    "1.2",
    "1.2.3-0123",
    "1.2.3-0123.0123",
    "1.1.2+.123",
    "+invalid",
    "-invalid",
    "alpha",
    "1.0.0-alpha_beta",
    "01.1.1",
    "1.01.1",
    "1.1.01",
    "1.2.3.DEV",
    "1.2-SNAPSHOT",
    "1.0.0-alpha..",
    "1.2.3+",
    "1.2.3-",
    "9.8.7+meta+meta",
    "1.2.31.2.3----RC-SNAPSHOT.12.09.1--..12+788",
]
NPM_SPELLINGS = [
    "v1.2.3",
    "=1.2.3",
    " 1.2.3 ",
    "v1.2.3-beta.1",
    "=v1.2.3",
    "V1.2.3",
    "vv1.2.3",
    "v 1.2.3",
]
GO = [
    "v1.2.3",
    "v1.2.3+incompatible",
    "v2.0.0+incompatible",
    "v0.0.0-20220314234659-1baeb1ce4c0b",
    "v0.0.0-20191109021931-daa7c04131f5",
    "v1.2.4-0.20191109021931-daa7c04131f5",
    "v1",
    "v1.2",
    "v1.2.0",
    "v1.0.0-rc.1",
    "v1.2.3-pre",
    "v0.9.0",
    "v1.10.0",
]
GO_INVALID = ["v1.2.3.4", "1.2.3.4", "v01.2.3", "v1.2-pre", "(devel)", "vX"]


def test_npm_agrees_with_node_semver() -> None:
    every = versions("npm") + [v for pair in SPEC for v in pair] + INVALID + NPM_SPELLINGS
    table = pairs(every, randoms=400)
    theirs = references.npm(table)
    mine = references.ours(NpmVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert {"lt", "eq", "gt", "error"} <= set(theirs)


def test_go_agrees_with_x_mod_semver(tmp_path: Path) -> None:
    table = pairs(GO + GO_INVALID + ["v" + v for pair in SPEC for v in pair], randoms=300)
    theirs = references.go_semver(table, tmp_path)
    mine = references.ours(GoVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert {"lt", "eq", "gt", "error"} <= set(theirs)


def test_go_without_the_v_prefix_as_osv_writes_it() -> None:
    assert GoVersion.compare("1.2.3", "v1.2.3") == 0
    assert GoVersion.compare("0.0.0-20220314234659-1baeb1ce4c0b", "v0.0.1") == -1
    assert GoVersion.compare("v2.0.0+incompatible", "2.0.0") == 0


def test_strict_semver_spec_examples_and_node_precedence() -> None:
    strict = [(a, b) for a, b in SPEC]
    theirs = references.npm(strict)
    assert references.ours(SemVer, strict) == theirs
    for a, b in chain(*[a for a, _ in SPEC[:55]]):
        if SemVer.parse(a) != SemVer.parse(b):
            assert (SemVer.parse(a) < SemVer.parse(b)) != (SemVer.parse(b) < SemVer.parse(a))


@pytest.mark.parametrize("bad", [*INVALID, *NPM_SPELLINGS[:2], ""])
def test_strict_semver_refuses(bad: str) -> None:
    with pytest.raises(VersionUnparseable):
        SemVer.parse(bad)
