"""apk ordering: apk-tools' own test table (``data/apk-tools-version.data``) and the versions of
the Alpine fixtures and secdb records. No apk binary exists on Debian, so the table is the
reference."""

from __future__ import annotations

import itertools

import pytest

from moorage.errors import VersionUnparseable
from moorage.scanning.versions import ApkVersion
from tests.scanning.versions.tables import DATA, versions

OPS = {"<": -1, "=": 0, ">": 1}


def _table() -> tuple[list[tuple[str, str, str]], list[tuple[str, bool]]]:
    comparisons, validity = [], []
    for raw in (DATA / "apk-tools-version.data").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) == 3:
            comparisons.append((fields[0], fields[1], fields[2]))
        else:
            validity.append((line.removeprefix("!"), not line.startswith("!")))
    return comparisons, validity


COMPARISONS, VALIDITY = _table()


def _valid(v: str) -> bool:
    try:
        ApkVersion.parse(v)
    except VersionUnparseable:
        return False
    return True


def test_apk_tools_comparison_table() -> None:
    checked, refused, wrong = 0, [], []
    for a, op, b in COMPARISONS:
        if op not in OPS:
            continue  # fuzzy (~) matches: a dependency operator, not an ordering
        if not (_valid(a) and _valid(b)):
            refused.append(f"{a} {op} {b}")  # apk compares invalid ones by a prefix; we refuse
            continue
        checked += 1
        got = ApkVersion.compare(a, b)
        if got != OPS[op]:
            wrong.append(f"{a} {op} {b}: got {got}")
    assert wrong == []
    assert checked > 700
    # The table's two comparisons of invalid versions: an unknown suffix (the validity table's
    # "!0.1_foobar") and letters after a letter ("!0.1bc").
    assert refused == ["23_foo > 4_beta", "1.0 < 1.0bc"]


def test_apk_tools_validity_table() -> None:
    wrong = [f"{v!r}: expected valid={ok}" for v, ok in VALIDITY if _valid(v) != ok]
    assert wrong == []
    assert sum(ok for _, ok in VALIDITY) >= 5 and sum(not ok for _, ok in VALIDITY) >= 25


def test_fixture_versions_are_valid_and_totally_ordered() -> None:
    parsed = [ApkVersion.parse(v) for v in versions("apk")]
    ordered = sorted(parsed)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier <= later and later >= earlier
        assert ApkVersion.compare(later.text, earlier.text) >= 0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.1.1a-r0", "1.1.1-r0", 1),
        ("1.1.1t-r2", "1.1.1u-r0", -1),
        ("1.36.1-r0", "1.36.1-r5", -1),
        ("3.1.0_alpha1-r0", "3.1.0-r0", -1),
        ("3.1.0_p1-r0", "3.1.0-r0", 1),
        ("1.01", "1.1", -1),
        ("2.14.0_git20231019~abc1-r0", "2.14.0_git20231019-r0", 1),
    ],
)
def test_examples(a: str, b: str, expected: int) -> None:
    assert ApkVersion.compare(a, b) == expected
    assert ApkVersion.compare(b, a) == -expected
