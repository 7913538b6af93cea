"""Packagist (Composer) versions: composer/semver's normalisation, then PHP's ``version_compare``.

Hand-written (both are PHP); the tests run the real ones (``php`` with Debian's
``php-composer-semver``) over the same table. The rules:

* ``VersionParser::normalize``: blanks, a leading ``v``, build metadata (``+...``) and an
  ``@stability`` flag are dropped; classic versions are padded to four numbers
  (``1.2`` → ``1.2.0.0``), date versions (``20240101``) keep their digits; a stability suffix
  ``-alpha|a``, ``-beta|b``, ``-RC|rc``, ``-patch|pl|p`` with an optional number becomes
  ``-alpha2``, ``-beta``, ``-RC1``, ``-patch3``; ``-stable`` is the release; ``-dev`` is appended
  last; ``1.x-dev`` style branches become ``1.9999999.9999999.9999999-dev``. Branch names
  (``dev-main``) have no order and are unparseable, as is anything else composer refuses;
* ``version_compare``: the text splits into parts at ``.``, ``-``, ``_``, ``+`` and at every
  change between digits and other characters; numbers compare numerically; words rank
  ``dev < alpha = a < beta = b < RC = rc < (a number) < pl = p`` (matched by prefix, so
  ``patch`` is ``p``), any other word before ``dev``; when one side runs out, its next part
  decides against a number (``1.0 < 1.0.1``, ``1.0-beta < 1.0 < 1.0-patch1``).
"""

from __future__ import annotations

import re
from typing import Self

from moorage.scanning.versions.base import Version, check_text

_MODIFIER = r"[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*+)?)?([.-]?dev)?"
_CLASSIC = re.compile(rf"v?(\d{{1,5}}+)(\.\d++)?(\.\d++)?(\.\d++)?{_MODIFIER}", re.IGNORECASE)
_DATE = re.compile(
    rf"v?(\d{{4}}(?:[.:-]?\d{{2}}){{1,6}}(?:[.:-]?\d{{1,3}}){{0,2}}){_MODIFIER}", re.I
)
_STABILITY_FLAG = re.compile(r"@(?:stable|RC|beta|alpha|dev)$", re.IGNORECASE)
_BRANCH = re.compile(r"(.*?)[.-]?dev", re.IGNORECASE)
_NUMERIC_BRANCH = re.compile(r"v?(\d++)(\.(?:\d++|[xX*]))?(\.(?:\d++|[xX*]))?(\.(?:\d++|[xX*]))?")
_EXPAND = {"a": "alpha", "b": "beta", "p": "patch", "pl": "patch", "rc": "RC"}
# version_compare's special forms, matched by prefix in this order.
_FORMS = (("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2), ("RC", 3), ("rc", 3))
_FORMS_AFTER = (("#", 4), ("pl", 5), ("p", 5))


class _Refused(Exception):
    pass


def normalize(version: str) -> str:
    """composer/semver's ``VersionParser::normalize`` for versions (not constraints)."""
    version = version.strip()
    if m := re.fullmatch(r"([^,\s]++) ++as ++([^,\s]++)", version):
        version = m[1]
    if m := _STABILITY_FLAG.search(version):
        version = version[: m.start()]
    if version in ("master", "trunk", "default") or version[:4].lower() == "dev-":
        raise _Refused("a branch name, not a version")
    if m := re.fullmatch(r"([^,\s+]++)\+[^\s]++", version):
        version = m[1]
    index = None
    if m := _CLASSIC.fullmatch(version):
        version = m[1] + "".join(m[k] or ".0" for k in (2, 3, 4))
        index = 5
    elif m := _DATE.fullmatch(version):
        version = re.sub(r"\D", ".", m[1])
        index = 2
    if m is not None and index is not None:
        stability, number, dev = m[index], m[index + 1], m[index + 2]
        if stability:
            if stability == "stable":  # composer compares case-sensitively here
                return version
            expanded = _EXPAND.get(stability.lower(), stability.lower())
            version += "-" + expanded + (number.lstrip(".-") if number else "")
        if dev:
            version += "-dev"
        return version
    if (m := _BRANCH.fullmatch(version)) and (b := _NUMERIC_BRANCH.fullmatch(m[1])):
        parts = [(b[k] or ".x")[1:] if k > 1 else b[1] for k in (1, 2, 3, 4)]
        return ".".join("9999999" if p in ("x", "X", "*") else p for p in parts) + "-dev"
    raise _Refused("not a Composer version")


def _canonical_parts(version: str) -> list[str]:
    """PHP's ``php_canonicalize_version`` then the split at ``.``: the parts to compare."""
    parts: list[str] = []
    current = ""
    for c in version:
        if c in ".-_+":
            if current:
                parts.append(current)
            current = ""
            continue
        if current and (c.isdigit() != current[-1].isdigit()):
            parts.append(current)
            current = ""
        current += c
    if current:
        parts.append(current)
    return parts


def _form(part: str) -> int:
    for name, order in _FORMS:
        if part.startswith(name):
            return order
    for name, order in _FORMS_AFTER:
        if part.startswith(name):
            return order
    return -6


def version_compare(a: str, b: str) -> int:
    """PHP's ``version_compare($a, $b)``: -1, 0 or 1."""
    pa, pb = _canonical_parts(a), _canonical_parts(b)
    for x, y in zip(pa, pb, strict=False):
        if x.isdigit() and y.isdigit():
            result = (int(x) > int(y)) - (int(x) < int(y))
        else:
            fx = 4 if x.isdigit() else _form(x)
            fy = 4 if y.isdigit() else _form(y)
            result = (fx > fy) - (fx < fy)
        if result:
            return result
    if len(pa) > len(pb):
        rest = pa[len(pb)]
        return 1 if rest.isdigit() else version_compare(rest, "#N#")
    if len(pb) > len(pa):
        rest = pb[len(pa)]
        return -1 if rest.isdigit() else version_compare("#N#", rest)
    return 0


class PackagistVersion(Version):
    scheme = "packagist"
    __slots__ = ("normalized",)

    def __init__(self, text: str, normalized: str) -> None:
        super().__init__(text)
        self.normalized = normalized

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        try:
            return cls(text, normalize(s))
        except _Refused as e:
            raise cls.unparseable(text, str(e)) from None

    def _cmp(self, other: Self) -> int:
        return version_compare(self.normalized, other.normalized)
