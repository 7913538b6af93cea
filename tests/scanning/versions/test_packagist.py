"""Packagist ordering against composer/semver (``VersionParser::normalize``, then PHP's
``version_compare``), on the cases of composer/semver's VersionParserTest and ComparatorTest."""

from __future__ import annotations

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import PackagistVersion
from moorage.scanning.versions.packagist import normalize
from tests.scanning.versions import references
from tests.scanning.versions.tables import chain, pairs

# VersionParserTest::successfulNormalizedVersions and failingNormalizedVersions (inputs).
NORMALIZE = [
    "1.0.0", "1.2.3.4", "1.0.0RC1dev", "1.0.0-rC15-dev", "1.0.0.RC.15-dev", "1.0.0-rc1",
    "1.0.0.pl3-dev", "1.0-dev", "0", "10.4.13-beta", "10.4.13beta2", "10.4.13beta.2",
    "v1.13.11-beta.0", "1.13.11.0-beta0", "10.4.13-b", "10.4.13-b5", "v1.0.0", "2010.01",
    "2010.01.02", "2010.1.555", "2010.10.200", "v20100102", "2010-01-02", "2010-01-02.5",
    "20100102-203040", "20100102203040-10", "20100102-203040-p1", "201903.0", "201903.0-p2",
    "1.x-dev", "1.0.0+foo", "1.0.0-beta.5+foo", "1.0.0+foo as 2.0", "00.01.03.04",
    "000.001.003.004", "0.000.103.204", "0700", "041.x-dev", " 1.0.0", "1.0.0 ", "1.0.0@beta",
    "1.0.0-stable", "1.0.0-STABLE", "1.0.0-patch", "1.2.x-dev", "2.*-dev", "1.0.0-alpha2-dev",
    "dev-master", "dev-trunk", "dev-feature-foo", "DEV-FOOBAR", "master", "dev-master as 1.0.0",
    "", "a", "1.0.0-meh", "1.0.0.0.0", "feature-foo", "1.0.0+foo bar", "1.0.1-SNAPSHOT",
    "1.0.0<1.0.5-dev", "1.0.0-dev<1.0.5-dev", "foo bar-dev", "1.0.0@bad",
]  # fmt: skip
# ComparatorTest and the stability order composer documents (dev < alpha < beta < RC < stable).
ORDERED = [
    "1.0.0-dev", "1.0.0-alpha", "1.0.0-alpha2", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-RC1",
    "1.0.0-rc2", "1.0.0", "1.0.0-p1", "1.0.0-patch2", "1.0.1", "1.0.9", "1.0.10", "1.1-dev",
    "1.1.0", "1.9999999-dev", "1.x-dev", "2.0", "20100102",
]  # fmt: skip


def test_normalize_agrees_with_composer() -> None:
    theirs = references.packagist_normalize(NORMALIZE)
    mine = []
    for text in NORMALIZE:
        try:
            mine.append(PackagistVersion.parse(text).normalized)
        except VersionUnparseable:
            mine.append(None)
    # composer returns branch names (dev-...) normalised; Moorage refuses them (no order).
    expected = [None if t is not None and t.startswith("dev-") else t for t in theirs]
    assert list(zip(NORMALIZE, mine, strict=True)) == list(zip(NORMALIZE, expected, strict=True))
    assert sum(t is None for t in expected) >= 10


def test_order_agrees_with_composer() -> None:
    every = [v for v in NORMALIZE + ORDERED if v.strip() == v]
    table = pairs(every, chain(*ORDERED), randoms=400)
    theirs = references.packagist(table)
    mine = references.ours(PackagistVersion, table)
    assert references.disagreements(table, mine, theirs) == []
    assert {"lt", "eq", "gt", "error"} <= set(theirs) and len(table) > 700


def test_branch_names_have_no_order() -> None:
    with pytest.raises(VersionUnparseable, match="branch"):
        PackagistVersion.parse("dev-main")
    assert normalize("1.x-dev") == "1.9999999.9999999.9999999-dev"
