"""Python package versions: PEP 440 through ``packaging``, and pre-PEP 440 ("legacy") versions.

PEP 440 versions are ``packaging.version.Version`` itself. Versions it refuses (``2.0-a1-r2``,
``1.0.0-SNAPSHOT``, ``2013b``) still occur in old ``PKG-INFO`` files and advisories; pip ordered
them with packaging's ``LegacyVersion`` (removed in packaging 22), which the current library no
longer has, so its rules (setuptools' old ``parse_version``) are written here by hand:

* every legacy version sorts before every PEP 440 version (an epoch of -1);
* the lowercased text splits into runs of digits, runs of letters, ``.`` and ``-``; digit runs
  compare as numbers (zero-padded to 8 characters), ``pre``, ``preview`` and ``rc`` become ``c``,
  ``dev`` becomes ``@`` (before every letter), ``-`` becomes ``final-``, and a final ``*final``
  closes the list so that ``a``/``b``/``c`` tags sort before the release;
* trailing zero components before a tag are dropped (``1.0a`` equals ``1a``), and a ``final-``
  before a pre-release tag is dropped.

A text with no digit at all is not a version (``unknown``, ``dev``): unparseable.
"""

from __future__ import annotations

import re
from typing import Self

from packaging.version import InvalidVersion
from packaging.version import Version as Pep440

from moorage.scanning.versions.base import Version, check_text, cmp_keys

_LEGACY_PART = re.compile(r"(\d+|[a-z]+|\.|-)")
_LEGACY_REPLACE = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}


def _legacy_parts(text: str) -> tuple[str, ...]:
    parts: list[str] = []
    pieces = [_LEGACY_REPLACE.get(p, p) for p in _LEGACY_PART.split(text.lower())]
    for piece in [*pieces, "final"]:
        if not piece or piece == ".":
            continue
        part = piece.zfill(8) if piece[0].isdigit() else "*" + piece
        if part.startswith("*"):
            if part < "*final":
                while parts and parts[-1] == "*final-":
                    parts.pop()
            while parts and parts[-1] == "00000000":
                parts.pop()
        parts.append(part)
    return tuple(parts)


class PypiVersion(Version):
    scheme = "pep440"
    __slots__ = ("_key", "legacy")

    def __init__(self, text: str, legacy: bool, key: tuple[object, ...]) -> None:
        super().__init__(text)
        self.legacy = legacy
        self._key = key

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        try:
            pep = Pep440(s)
        except InvalidVersion:
            if not any(c.isdigit() for c in s):
                raise cls.unparseable(text, "neither PEP 440 nor a legacy version") from None
            return cls(text, True, (-1, _legacy_parts(s)))
        return cls(text, False, (0, pep))

    @property
    def pep440(self) -> Pep440 | None:
        """The ``packaging`` version, or None for a legacy version."""
        return None if self.legacy else self._key[1]  # type: ignore[return-value]

    def _cmp(self, other: Self) -> int:
        if self.legacy != other.legacy:
            return -1 if self.legacy else 1
        return cmp_keys(self._key[1], other._key[1])
