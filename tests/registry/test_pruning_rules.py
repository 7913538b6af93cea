"""DTR's pruning rules, one by one: each field with each of its operators, Go durations, the
scan fields on a tag never scanned, and the forms that are refused (INVALID_PRUNING_POLICY)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from moorage.errors import InvalidPruningPolicy
from moorage.registry.pruning_rules import (
    FIELDS,
    ScanFacts,
    TagFacts,
    parse_duration,
    parse_rules,
)

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
SCANNED = ScanFacts(
    critical=2,
    major=1,
    minor=4,
    components=frozenset({"openssl", "busybox"}),
    licenses=frozenset({"MIT", "GPL-2.0"}),
)


def _tag(
    name: str = "release-1.2",
    *,
    age: dt.timedelta = dt.timedelta(hours=10),
    scan: ScanFacts | None = SCANNED,
) -> TagFacts:
    return TagFacts(name, "sha256:" + "a" * 64, NOW - age, scan)


def _matches(field: str, operator: str, values: list[Any], tag: TagFacts | None = None) -> bool:
    (rule,) = parse_rules([{"field": field, "operator": operator, "values": values}])
    return rule.matches(tag or _tag(), NOW)


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        ("eq", ["release-1.2"], True),
        ("eq", ["release"], False),
        ("eq", ["x", "release-1.2"], True),
        ("neq", ["release-1.2"], False),
        ("neq", ["x", "y"], True),
        ("sw", ["rel"], True),
        ("sw", ["1.2"], False),
        ("ew", ["1.2"], True),
        ("ew", ["rel"], False),
        ("c", ["ase-1"], True),
        ("c", ["zzz"], False),
        ("oo", ["a", "release-1.2"], True),
        ("oo", ["a", "b"], False),
        ("noo", ["a", "b"], True),
        ("noo", ["release-1.2"], False),
        ("matches", [r"\d+\.\d+$"], True),  # found anywhere in the name, as Go's MatchString
        ("matches", [r"^\d"], False),
    ],
)
def test_tag_operators(operator: str, values: list[str], expected: bool) -> None:
    assert _matches("tag", operator, values) is expected


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("vulnerability_critical", "gte", "2", True),
        ("vulnerability_critical", "gt", "2", False),
        ("vulnerability_critical", "eq", "2", True),
        ("vulnerability_critical", "neq", "2", False),
        ("vulnerability_major", "lte", "1", True),
        ("vulnerability_major", "lt", "1", False),
        ("vulnerability_minor", "eq", "4", True),
        ("vulnerability_all", "eq", "7", True),  # 2 + 1 + 4
        ("vulnerability_all", "gt", "7", False),
    ],
)
def test_vulnerability_operators(field: str, operator: str, value: str, expected: bool) -> None:
    assert _matches(field, operator, [value]) is expected


def test_component_and_license_operators() -> None:
    assert _matches("component.name", "eq", ["openssl"])
    assert not _matches("component.name", "eq", ["open"])
    assert _matches("component.name", "sw", ["busy"])
    assert _matches("component.name", "ew", ["ssl"])
    assert _matches("component.name", "c", ["pens"])
    assert _matches("component.name", "oo", ["zlib", "openssl"])
    assert not _matches("component.name", "oo", ["zlib"])
    assert _matches("component.name", "noo", ["zlib"])  # no component of the image is zlib
    assert not _matches("component.name", "noo", ["zlib", "busybox"])
    assert _matches("license.name", "oo", ["MIT"])
    assert not _matches("license.name", "oo", ["Apache-2.0"])
    assert _matches("license.name", "noo", ["Apache-2.0"])
    assert not _matches("license.name", "noo", ["GPL-2.0"])


def test_scan_rules_never_match_a_tag_without_a_completed_scan() -> None:
    """Whatever the operator, ``noo`` and ``lt 1`` included: no scan, no match."""
    unscanned = _tag(scan=None)
    for field, operators in FIELDS.items():
        if field in {"tag", "updated_at", "updated_at_duration"}:
            continue
        for operator in operators:
            assert not _matches(field, operator, ["1"], unscanned), (field, operator)
    # and an image scanned clean is not the same as one never scanned
    assert _matches("vulnerability_all", "lt", ["1"], _tag(scan=ScanFacts()))


def test_updated_at_and_durations() -> None:
    old, new = _tag(age=dt.timedelta(days=40)), _tag(age=dt.timedelta(hours=1))
    assert _matches("updated_at_duration", "bf", ["720h"], old)
    assert not _matches("updated_at_duration", "bf", ["720h"], new)
    assert _matches("updated_at_duration", "af", ["1h30m"], new)
    assert not _matches("updated_at_duration", "af", ["1h30m"], old)
    stamp = (NOW - dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")
    assert _matches("updated_at", "bf", [stamp], old)
    assert not _matches("updated_at", "af", [stamp], old)
    assert _matches("updated_at", "af", [stamp], new)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("720h", 720 * 3600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("2h45m10s", 2 * 3600 + 45 * 60 + 10),
        ("0", 0),
        ("+5s", 5),
        ("-5s", -5),
        ("10us", 1e-5),
        ("10µs", 1e-5),
        (".5s", 0.5),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "10", "10d", "1h 30m", "1.h.", "5 s", "-", "."])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    "rules",
    [
        [],
        None,
        "tag",
        [{"field": "tag", "operator": "like", "values": ["x"]}],
        [{"field": "tag", "operator": "gte", "values": ["x"]}],
        [{"field": "size", "operator": "eq", "values": ["x"]}],
        [{"field": "license_name", "operator": "oo", "values": ["MIT"]}],  # DTR: license.name
        [{"field": "license.name", "operator": "eq", "values": ["MIT"]}],
        [{"field": "tag", "operator": "matches", "values": ["("]}],
        [{"field": "tag", "operator": "eq", "values": []}],
        [{"field": "tag", "operator": "eq", "values": "x"}],
        [{"field": "tag", "operator": "eq", "values": [None]}],
        [{"field": "tag", "operator": "eq", "values": [True]}],
        [{"field": "tag", "operator": "eq"}],
        ["tag eq x"],
        [{"field": "vulnerability_all", "operator": "gt", "values": ["many"]}],
        [{"field": "vulnerability_all", "operator": "gt", "values": ["-1"]}],
        [{"field": "vulnerability_all", "operator": "sw", "values": ["1"]}],
        [{"field": "updated_at", "operator": "bf", "values": ["yesterday"]}],
        [{"field": "updated_at", "operator": "older_than", "values": ["30"]}],  # Moorage's old
        [{"field": "updated_at_duration", "operator": "bf", "values": ["30d"]}],
        [{"field": "updated_at_duration", "operator": "bf", "values": ["-1h"]}],
        [{"field": "updated_at_duration", "operator": "gt", "values": ["1h"]}],
    ],
)
def test_bad_rules_are_refused(rules: Any) -> None:
    with pytest.raises(InvalidPruningPolicy) as raised:
        parse_rules(rules)
    assert raised.value.status == 400 and raised.value.code == "INVALID_PRUNING_POLICY"


def test_numbers_are_read_from_strings_or_numbers() -> None:
    """DTR's values are strings; a number sent as a JSON number is read the same way."""
    assert _matches("vulnerability_critical", "eq", [2])
    (rule,) = parse_rules([{"field": "vulnerability_critical", "operator": "eq", "values": [2]}])
    assert rule.values == ("2",)
