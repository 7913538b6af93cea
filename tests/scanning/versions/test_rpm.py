"""RPM ordering: the fixtures' EVRs and rpm's documented tilde/caret cases, against rpm 4.18's
``rpm.vercmp`` (all pairs in one ``rpm --eval``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import RpmVersion
from tests.scanning.versions import references
from tests.scanning.versions.tables import chain, pairs, versions

# rpm's docs/manual/dependencies and rpmvercmp tests: tilde before, caret after the base.
SPEC = [
    *chain("1.0~rc1", "1.0", "1.0^git1", "1.0^git2", "1.0.1", "1.0a", "1.1"),
    *chain("1.0~~", "1.0~", "1.0~^", "1.0"),
    *chain("1.0", "1.0-1", "1.0-2", "1.0-10", "1:0.1", "2:0"),
    ("1.0", "1.0-"),
    ("1.0-", "1.0-0"),
    ("0:1.0-1", "1.0-1"),
    (":1.0", "1.0"),
    ("1.001", "1.1"),
    ("1.0a", "1.0.a"),
    ("1.a", "1.0"),
    ("1..0", "1.0"),
    ("1_0", "1.0"),
    ("2.0.1", "2.0_1"),
    ("a", "b"),
    ("a:1.0", "1.0"),
    ("1.0-1.el8_8", "1.0-1.el8"),
    ("5.5p1", "5.5p10"),
    ("10xyz", "10.1xyz"),
    ("xyz.4", "8"),
    ("1.0^", "1.0"),
    ("1.0^", "1.0^0"),
    ("20101121", "20101122"),
    ("1:1.2-3.cm2", "0:1.2-3.cm2"),
]


def test_agrees_with_rpm(tmp_path: Path) -> None:
    table = pairs(versions("rpm"), SPEC, randoms=300)
    theirs = references.rpm(table, tmp_path)
    mine = references.ours(RpmVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert len(table) > 800
    assert {"lt", "eq", "gt"} <= set(theirs)


def test_parts() -> None:
    v = RpmVersion.parse("1:2.32.1-42.el8_8")
    assert (v.epoch, v.version, v.release) == ("1", "2.32.1", "42.el8_8")
    assert RpmVersion.parse("2.32.1").release is None
    assert RpmVersion.parse("2.32.1").epoch == "0"


@pytest.mark.parametrize("bad", ["", " ", "1.0 1", "1.0\t1", "1.0-1é", "-1"])
def test_refuses(bad: str) -> None:
    with pytest.raises(VersionUnparseable):
        RpmVersion.parse(bad)
