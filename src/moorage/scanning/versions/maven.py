"""Maven versions, ordered as maven-artifact's ``ComparableVersion`` orders them.

Hand-written (no Python package implements it); the rules are those of ``ComparableVersion`` in
maven-artifact 3.8 (the release Debian ships, ``/usr/share/java/maven3-artifact.jar``, which the
tests run as the reference) and of the POM reference's "Version Order Specification":

* the lowercased text splits at ``.`` and ``-`` and at every change between digits and letters;
  a ``-`` or a digit/letter change opens a nested list (``1-alpha-1`` is ``[1, [alpha, [1]]]``),
  and so does a qualifier after a ``.`` that ends the text or is followed by digits (``1.a`` is
  ``1-a``: MNG-5568's "treat .X as -X");
* trailing "null" items (``0``, ``""``, ``ga``, ``final``, ``release``, an empty list) are
  dropped from each list (``1.0.0 == 1``, ``1-ga == 1``);
* numbers compare numerically; qualifiers rank ``alpha (a) < beta (b) < milestone (m) <
  rc = cr < snapshot < "" = ga = final = release < sp``, unknown qualifiers after ``sp`` in
  lexical order (``a``, ``b``, ``m`` are short forms only when a digit follows);
* a number is newer than a list, which is newer than a qualifier (``1.1 > 1-1 > 1-sp``); a
  missing item compares as "null" (``1-rc < 1 < 1-sp``, ``1 == 1.0``).

Every text is a Maven version (Maven never refuses one), so only empty texts are unparseable.
"""

from __future__ import annotations

from typing import Self

from moorage.scanning.versions.base import Version, check_text

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE = str(_QUALIFIERS.index(""))


def _qualifier_order(q: str) -> str:
    """A string that sorts qualifiers in Maven's order (known ones by rank, then lexically)."""
    return str(_QUALIFIERS.index(q)) if q in _QUALIFIERS else f"{len(_QUALIFIERS)}-{q}"


class _Str:
    __slots__ = ("value",)

    def __init__(self, value: str, followed_by_digit: bool) -> None:
        if followed_by_digit and len(value) == 1:
            value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
        self.value = _ALIASES.get(value, value)

    def is_null(self) -> bool:
        return _qualifier_order(self.value) == _RELEASE


class _List(list["_Item"]):
    def is_null(self) -> bool:
        return not self

    def normalize(self) -> None:
        for i in range(len(self) - 1, -1, -1):
            item = self[i]
            if item.is_null():
                del self[i]
            elif not isinstance(item, _List):
                break


class _Int(int):
    def is_null(self) -> bool:
        return self == 0


_Item = _Int | _Str | _List


def _cmp_null(item: _Item) -> int:
    """``item`` against a missing item."""
    if isinstance(item, _Int):
        return 0 if item == 0 else 1
    if isinstance(item, _Str):
        a, b = _qualifier_order(item.value), _RELEASE
        return (a > b) - (a < b)
    return _cmp_null(item[0]) if item else 0


def _cmp(a: _Item | None, b: _Item | None) -> int:
    if a is None:
        return 0 if b is None else -_cmp_null(b)
    if b is None:
        return _cmp_null(a)
    if isinstance(a, _Int):
        if isinstance(b, _Int):
            return (a > b) - (a < b)
        return 1
    if isinstance(a, _Str):
        if isinstance(b, _Str):
            x, y = _qualifier_order(a.value), _qualifier_order(b.value)
            return (x > y) - (x < y)
        return -1
    if isinstance(b, _Int):
        return -1
    if isinstance(b, _Str):
        return 1
    for i in range(max(len(a), len(b))):
        result = _cmp(a[i] if i < len(a) else None, b[i] if i < len(b) else None)
        if result:
            return result
    return 0


def _item(is_digit: bool, text: str) -> _Item:
    return _Int(int(text)) if is_digit else _Str(text, False)


def parse_items(version: str) -> _List:
    """``ComparableVersion.parseVersion``: the nested item lists of ``version``."""
    version = version.lower()
    items = _List()
    current = items
    stack = [items]
    is_digit = False
    start = 0
    for i, c in enumerate(version):
        if c in ".-":
            current.append(_Int(0) if i == start else _item(is_digit, version[start:i]))
            start = i + 1
            if c == "-":
                current.append(nested := _List())
                current = nested
                stack.append(nested)
        elif c.isdigit():
            if not is_digit and i > start:
                if current:  # treat ".X1" as "-X1" (1.0.0.X1 < 1.0.0-X2)
                    current.append(nested := _List())
                    current = nested
                    stack.append(nested)
                current.append(_Str(version[start:i], True))
                start = i
                current.append(nested := _List())
                current = nested
                stack.append(nested)
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(_item(True, version[start:i]))
                start = i
                current.append(nested := _List())
                current = nested
                stack.append(nested)
            is_digit = False
    if len(version) > start:
        if not is_digit and current:  # treat ".X" as "-X" for a final qualifier X
            current.append(nested := _List())
            current = nested
            stack.append(nested)
        current.append(_item(is_digit, version[start:]))
    while stack:
        stack.pop().normalize()
    return items


def canonical(items: _Item) -> str:
    """Maven's canonical text of parsed items (``1-alpha-1``), equal for equal versions."""
    if isinstance(items, _Int):
        return str(int(items))
    if isinstance(items, _Str):
        return items.value
    out = ""
    for item in items:
        if out:
            out += "-" if isinstance(item, _List) else "."
        out += canonical(item)
    return out


class MavenVersion(Version):
    scheme = "maven"
    __slots__ = ("items",)

    def __init__(self, text: str, items: _List) -> None:
        super().__init__(text)
        self.items = items

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        return cls(text, parse_items(s))

    @property
    def canonical(self) -> str:
        return canonical(self.items)

    def _cmp(self, other: Self) -> int:
        return _cmp(self.items, other.items)
