"""RPM versions: ``[epoch:]version[-release]`` ordered as rpm 4.18 orders them.

Hand-written, because no maintained Python package carries rpm's comparison without the rpm
bindings (the ``rpm`` module needs librpm and is not on PyPI). The rules, from rpm's
``rpmvercmp`` and ``rpmverCmp`` (lib/rpmvercmp.c, lib/rpmver.c), checked against
``rpm.vercmp()`` in the tests:

* the text splits at the first ``:`` after a run of digits (the epoch; empty or missing is 0)
  and at the last ``-`` (the release); a version without a release sorts before the same
  version with one (rpm.vercmp's answer; ``rpm -q`` style matching is not ordering);
* each part is compared segment by segment: runs of ASCII digits (numerically, leading zeros
  dropped) or ASCII letters (bytewise), everything else only separates segments;
* ``~`` sorts before everything, even the end of the text (``1.0~rc1 < 1.0``);
* ``^`` sorts after the end of the text but before any other segment (``1.0 < 1.0^git1 < 1.0.1``);
* a digit segment is newer than a letter segment; when all segments agree, the text with
  segments left over is newer.
"""

from __future__ import annotations

from typing import Self

from moorage.scanning.versions.base import Version, check_text


def _isalpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _isdigit(c: str) -> bool:
    return "0" <= c <= "9"


def _skip_separators(s: str, i: int) -> int:
    while i < len(s) and not (_isalpha(s[i]) or _isdigit(s[i]) or s[i] in "~^"):
        i += 1
    return i


def _run(s: str, i: int, digits: bool) -> int:
    test = _isdigit if digits else _isalpha
    while i < len(s) and test(s[i]):
        i += 1
    return i


def vercmp(a: str, b: str) -> int:
    """rpm's segment comparison of two version (or release) texts: -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        i, j = _skip_separators(a, i), _skip_separators(b, j)
        ca, cb = a[i : i + 1], b[j : j + 1]  # "" at the end
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        digits = _isdigit(ca)
        ei, ej = _run(a, i, digits), _run(b, j, digits)
        if ej == j:  # the segments are of different kinds: a number is newer than letters
            return 1 if digits else -1
        sa, sb = a[i:ei], b[j:ej]
        if digits:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
        i, j = ei, ej
    if i >= len(a) and j >= len(b):
        return 0
    return 1 if i < len(a) else -1


class RpmVersion(Version):
    scheme = "rpm"
    __slots__ = ("epoch", "release", "version")

    def __init__(self, text: str, epoch: str, version: str, release: str | None) -> None:
        super().__init__(text)
        self.epoch, self.version, self.release = epoch, version, release

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        if any(c.isspace() for c in s):
            raise cls.unparseable(text, "embedded spaces")
        k = 0
        while k < len(s) and _isdigit(s[k]):
            k += 1
        if k < len(s) and s[k] == ":":
            epoch, rest = s[:k] or "0", s[k + 1 :]
        else:
            epoch, rest = "0", s
        version, hyphen, release = rest.rpartition("-")
        if not hyphen:
            version, release_or_none = rest, None
        else:
            release_or_none = release
        if not version:
            raise cls.unparseable(text, "version is empty")
        return cls(text, epoch, version, release_or_none)

    def _cmp(self, other: Self) -> int:
        result = vercmp(self.epoch, other.epoch) or vercmp(self.version, other.version)
        if result or (self.release is None and other.release is None):
            return result
        if self.release is None or other.release is None:
            return -1 if self.release is None else 1
        return vercmp(self.release, other.release)
