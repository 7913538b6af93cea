"""PyPI ordering: PEP 440 through ``packaging`` (the reference is the library itself, on the
fixtures' versions and PEP 440's examples), legacy versions against pip's vendored packaging 21.3
``LegacyVersion``, which is how pip ordered them."""

from __future__ import annotations

import pytest
from packaging.version import Version as Pep440

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import PypiVersion
from tests.scanning.versions import references
from tests.scanning.versions.tables import chain, pairs, versions

# PEP 440's "Summary of permitted suffixes and relative ordering", normalisation examples.
PEP440 = [
    *chain(
        "1.dev0",
        "1.0.dev456",
        "1.0a1",
        "1.0a2.dev456",
        "1.0a12.dev456",
        "1.0a12",
        "1.0b1.dev456",
        "1.0b2",
        "1.0b2.post345.dev456",
        "1.0b2.post345",
        "1.0rc1.dev456",
        "1.0rc1",
        "1.0",
        "1.0+abc.5",
        "1.0+abc.7",
        "1.0+5",
        "1.0.post456.dev34",
        "1.0.post456",
        "1.0.15",
        "1.1.dev1",
        "1!0.1",
    ),
    ("1.0", "1.0.0"),
    ("1.0c1", "1.0rc1"),
    ("1.0-1", "1.0.post1"),
    ("v1.0", "1.0"),
    ("1.0.0-alpha", "1.0.0a0"),
    ("1.0_RC_2", "1.0rc2"),
]
LEGACY = [
    "1.0.0-SNAPSHOT",
    "2013-b-x",
    "1.0-beta-2-x",
    "0.1-dev-x",
    "1.0.preview.2.x",
    "0.9.8-dev-r1234",
    "1.0~rc1",
    "5.0.0_rc2_x",
    "1.0.x",
    "2.0b1-pre",
    "1.2.3_patch",
    "3.0.0-jvm",
    "1.0-final-1",
    "1.0.0a-b",
    "2.1.3.x-rc",
]


def test_pep440_agrees_with_packaging() -> None:
    table = pairs(versions("pypi"), PEP440, randoms=400)
    assert len(table) > 1500
    theirs = [references.WORD[(Pep440(a) > Pep440(b)) - (Pep440(a) < Pep440(b))] for a, b in table]
    mine = references.ours(PypiVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert {"lt", "eq", "gt"} <= set(theirs)


def test_legacy_agrees_with_pips_legacy_version() -> None:
    parse = references.pip_legacy()
    every = LEGACY + versions("pypi")[::20] + ["0.6c11", "1.0", "63.0.0b1"]
    table = pairs(every, randoms=300)
    theirs = []
    for a, b in table:
        x, y = parse(a), parse(b)
        theirs.append(references.WORD[(x > y) - (x < y)])  # type: ignore[operator]
    mine = references.ours(PypiVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    kinds = {type(parse(v)).__name__ for v in LEGACY}
    assert kinds == {"LegacyVersion"}
    assert all(PypiVersion.parse(v).legacy for v in LEGACY)
    assert not PypiVersion.parse("1.0").legacy


def test_legacy_sorts_before_every_pep440_version() -> None:
    assert PypiVersion.parse("9999.0-SNAPSHOT") < PypiVersion.parse("0.0.dev0")
    assert PypiVersion.parse("1.0").pep440 == Pep440("1.0")
    assert PypiVersion.parse("2013-b-x").pep440 is None


@pytest.mark.parametrize("bad", ["", "unknown", "dev", "latest", "$version", "1.0\n"])
def test_refuses_what_is_no_version(bad: str) -> None:
    if bad == "1.0\n":  # surrounding blanks are dropped, as pip does
        assert PypiVersion.parse(bad) == PypiVersion.parse("1.0")
        return
    with pytest.raises(VersionUnparseable):
        PypiVersion.parse(bad)
