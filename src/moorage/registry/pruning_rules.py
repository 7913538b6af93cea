"""DTR 2.7's pruning rules (Swagger ``ruleengine.Rule``: ``{field, operator, values}``), parsed
and evaluated against one tag.

The fields and their operators are those DTR's API documents for ``POST …/pruningPolicies``,
plus the two its rule engine also has for tag names (``neq``, ``matches``):

- ``tag``: ``eq``, ``neq``, ``sw`` (starts with), ``ew`` (ends with), ``c`` (contains),
  ``oo`` (one of), ``noo`` (not one of), ``matches`` (a regular expression found in the name);
- ``component.name``: ``eq``, ``sw``, ``ew``, ``c``, ``oo`` (some component of the image
  qualifies), ``noo`` (no component of the image is one of the values);
- ``license.name``: ``oo`` (some license of the image is one of the values), ``noo`` (none is);
- ``vulnerability_all``, ``vulnerability_critical``, ``vulnerability_major``,
  ``vulnerability_minor``: ``gte``, ``gt``, ``eq``, ``neq``, ``lte``, ``lt`` against
  ``values[0]``, a whole number;
- ``updated_at``: ``bf`` / ``af`` a date-time (``values[0]``, RFC 3339);
- ``updated_at_duration``: ``bf`` / ``af`` a Go duration ago (``values[0]``: ``720h``,
  ``1h30m``): ``bf 720h`` is a tag last updated more than 720 hours ago.

A string operator matches when one of ``values`` does (``neq`` and ``noo``: when none does).
A scan field (vulnerabilities, components, licenses) never matches a tag whose image has no
completed scan: pruning acts on what a scan found, not on the absence of a scan. Go's
``time.ParseDuration`` is re-written here (``parse_duration``): the standard library has no
parser for that syntax, and DTR shops' policies carry it. ``matches`` uses Python's regular
expressions, which accept every pattern of Go's RE2 syntax that pruning policies use in
practice (classes, groups, anchors, repetitions).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from moorage.errors import InvalidPruningPolicy

STRING_OPERATORS = ("eq", "neq", "sw", "ew", "c", "oo", "noo", "matches")
NUMBER_OPERATORS = ("gte", "gt", "eq", "neq", "lte", "lt")
TIME_OPERATORS = ("bf", "af")
VULNERABILITY_FIELDS = (
    "vulnerability_all",
    "vulnerability_critical",
    "vulnerability_major",
    "vulnerability_minor",
)
FIELDS: dict[str, tuple[str, ...]] = {
    "tag": STRING_OPERATORS,
    "component.name": ("eq", "sw", "ew", "c", "oo", "noo"),
    "license.name": ("oo", "noo"),
    **dict.fromkeys(VULNERABILITY_FIELDS, NUMBER_OPERATORS),
    "updated_at": TIME_OPERATORS,
    "updated_at_duration": TIME_OPERATORS,
}
SCAN_FIELDS = frozenset((*VULNERABILITY_FIELDS, "component.name", "license.name"))
MAX_RULES = 100
MAX_VALUES = 1000

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5
    "μs": 1e-6,  # U+03BC
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")


def parse_duration(text: str) -> dt.timedelta:
    """Go's ``time.ParseDuration``: ``[-+]?`` then one or more ``<decimal><unit>`` (units
    ``ns us µs ms s m h``), or ``0``; ValueError otherwise."""
    rest = text
    sign = -1.0 if rest.startswith("-") else 1.0
    rest = rest[1:] if rest[:1] in {"-", "+"} else rest
    if rest == "0":
        return dt.timedelta(0)
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    seconds, pos = 0.0, 0
    while pos < len(rest):
        part = _DURATION_PART.match(rest, pos)
        if part is None or part.group(1) in {"", "."} or part.group(2) not in _UNITS:
            raise ValueError(f"invalid duration {text!r}")
        seconds += float(part.group(1)) * _UNITS[part.group(2)]
        pos = part.end()
    return dt.timedelta(seconds=sign * seconds)


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 date-time (a missing zone read as UTC); ValueError otherwise."""
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """What a completed scan found in a tag's image (an index: its platforms together)."""

    critical: int = 0
    major: int = 0
    minor: int = 0
    components: frozenset[str] = field(default_factory=frozenset)
    licenses: frozenset[str] = field(default_factory=frozenset)

    def count(self, rule_field: str) -> int:
        if rule_field == "vulnerability_critical":
            return self.critical
        if rule_field == "vulnerability_major":
            return self.major
        if rule_field == "vulnerability_minor":
            return self.minor
        return self.critical + self.major + self.minor


@dataclass(frozen=True, slots=True)
class TagFacts:
    """One tag as the rules see it; ``scan`` None: its image has no completed scan."""

    name: str
    digest: str
    updated_at: dt.datetime
    scan: ScanFacts | None = None


def _string_matches(operator: str, subject: str, values: tuple[str, ...]) -> bool:
    if operator in {"eq", "oo"}:
        return subject in values
    if operator in {"neq", "noo"}:
        return subject not in values
    if operator == "sw":
        return any(subject.startswith(v) for v in values)
    if operator == "ew":
        return any(subject.endswith(v) for v in values)
    if operator == "c":
        return any(v in subject for v in values)
    return any(re.search(v, subject) for v in values)  # matches


def _number_matches(operator: str, subject: int, value: int) -> bool:
    return {
        "gte": subject >= value,
        "gt": subject > value,
        "eq": subject == value,
        "neq": subject != value,
        "lte": subject <= value,
        "lt": subject < value,
    }[operator]


@dataclass(frozen=True, slots=True)
class Rule:
    field: str
    operator: str
    values: tuple[str, ...]

    @property
    def needs_scan(self) -> bool:
        return self.field in SCAN_FIELDS

    @property
    def needs_contents(self) -> bool:
        """Whether the rule reads the image's components or licenses (not only its counts)."""
        return self.field in {"component.name", "license.name"}

    def matches(self, tag: TagFacts, now: dt.datetime) -> bool:
        if self.field == "tag":
            return _string_matches(self.operator, tag.name, self.values)
        if self.field == "updated_at":
            when = parse_time(self.values[0])
            return tag.updated_at < when if self.operator == "bf" else tag.updated_at > when
        if self.field == "updated_at_duration":
            when = now - parse_duration(self.values[0])
            return tag.updated_at < when if self.operator == "bf" else tag.updated_at > when
        if tag.scan is None:
            return False  # never scanned (or not yet, or failed): no scan rule matches
        if self.field in {"component.name", "license.name"}:
            names = tag.scan.components if self.field == "component.name" else tag.scan.licenses
            if self.operator == "noo":
                return not names & set(self.values)
            return any(_string_matches(self.operator, n, self.values) for n in names)
        return _number_matches(self.operator, tag.scan.count(self.field), int(self.values[0]))

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "operator": self.operator, "values": list(self.values)}


def _check_values(rule_field: str, operator: str, values: tuple[str, ...]) -> None:
    first = values[0]
    try:
        if rule_field in VULNERABILITY_FIELDS:
            if not re.fullmatch(r"[0-9]{1,9}", first.strip()):
                raise ValueError(f"{rule_field} takes a whole number of vulnerabilities")
        elif rule_field == "updated_at":
            parse_time(first)
        elif rule_field == "updated_at_duration":
            if parse_duration(first) < dt.timedelta(0):
                raise ValueError("updated_at_duration takes a duration that is not negative")
        elif operator == "matches":
            for v in values:
                re.compile(v)
    except (ValueError, re.error) as exc:
        raise InvalidPruningPolicy(
            f"invalid value for {rule_field} {operator}: {exc}",
            detail={"field": rule_field, "operator": operator, "values": list(values)[:10]},
        ) from exc


def parse_rule(item: Any) -> Rule:
    if not isinstance(item, dict):
        raise InvalidPruningPolicy("each rule is an object {field, operator, values}")
    rule_field, operator, values = item.get("field"), item.get("operator"), item.get("values")
    if not isinstance(rule_field, str) or rule_field not in FIELDS:
        raise InvalidPruningPolicy(
            f"rules apply to the fields {', '.join(FIELDS)}", detail={"field": rule_field}
        )
    if operator not in FIELDS[rule_field]:
        raise InvalidPruningPolicy(
            f"{rule_field} takes the operators {', '.join(FIELDS[rule_field])}",
            detail={"field": rule_field, "operator": operator},
        )
    if not isinstance(values, list) or not values or len(values) > MAX_VALUES:
        raise InvalidPruningPolicy(
            "a rule needs a non-empty list of values", detail={"field": rule_field}
        )
    if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
        raise InvalidPruningPolicy("rule values are strings", detail={"field": rule_field})
    strings = tuple(str(v) for v in values)
    _check_values(rule_field, operator, strings)
    return Rule(rule_field, operator, strings)


def parse_rules(raw: Any) -> list[Rule]:
    """The rules of a policy form; 400 ``INVALID_PRUNING_POLICY`` for any bad one."""
    if not isinstance(raw, list) or not raw:
        raise InvalidPruningPolicy("a pruning policy needs a non-empty list of rules")
    if len(raw) > MAX_RULES:
        raise InvalidPruningPolicy(f"a pruning policy has at most {MAX_RULES} rules")
    return [parse_rule(item) for item in raw]
