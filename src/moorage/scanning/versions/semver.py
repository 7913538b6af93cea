"""Semantic Versioning 2.0.0 and the ecosystems that use it: npm, Go modules, crates.io, Hex.

Hand-written: the grammar and precedence are the specification's (https://semver.org, sections
2, 9-11) and a regular expression away; the PyPI ``semver`` package would add a dependency for
the same dozen lines, and each ecosystem bends the grammar differently:

* :class:`SemVer` (crates.io, Hex, OSV ``SEMVER`` ranges): the strict grammar, no prefix;
* :class:`NpmVersion`: node-semver's ``valid()``: a leading ``v`` and surrounding blanks are
  dropped (``=1.2.3`` is only valid in its loose mode, so not here);
* :class:`GoVersion`: Go modules write ``v1.2.3`` (OSV writes ``1.2.3``); ``v1`` and ``v1.2`` are
  ``v1.0.0`` and ``v1.2.0`` as golang.org/x/mod/semver reads them; ``+incompatible`` is build
  metadata and so ignored; pseudo-versions are ordinary pre-releases.

Precedence: major, minor, patch numerically; a pre-release sorts before its release; pre-release
identifiers compare numerically when both are numbers, numbers before alphanumerics, ASCII order
otherwise, and a shorter list of equal identifiers first; build metadata never counts.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self

from moorage.scanning.versions.base import Version, check_text, cmp_keys

_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?"
)
_GO_SHORT = re.compile(rf"(?P<major>{_NUM})(?:\.(?P<minor>{_NUM}))?")


def _pre_key(pre: str | None) -> tuple[object, ...]:
    """The pre-release part as an ordered key; a release (no pre-release) sorts after all."""
    if pre is None:
        return (1,)
    ids: list[tuple[int, int, str]] = []
    for ident in pre.split("."):
        if ident.isdigit():
            ids.append((0, int(ident), ""))
        else:
            ids.append((1, 0, ident))
    return (0, tuple(ids))


class SemVer(Version):
    """Strict SemVer 2.0.0 (crates.io, Hex, OSV ``SEMVER`` ranges)."""

    scheme = "semver"
    __slots__ = ("build", "major", "minor", "patch", "prerelease")
    prefixes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, text: str, major: int, minor: int, patch: int, pre: str | None, build: str | None
    ) -> None:
        super().__init__(text)
        self.major, self.minor, self.patch = major, minor, patch
        self.prerelease, self.build = pre, build

    @classmethod
    def _strip(cls, s: str) -> str:
        for prefix in cls.prefixes:
            if s.startswith(prefix):
                return s[len(prefix) :]
        return s

    @classmethod
    def parse(cls, text: str) -> Self:
        s = cls._strip(check_text(cls, text))
        m = _SEMVER.fullmatch(s)
        if m is None:
            return cls._parse_other(text, s)
        return cls(
            text,
            int(m["major"]),
            int(m["minor"]),
            int(m["patch"]),
            m["pre"],
            m["build"],
        )

    @classmethod
    def _parse_other(cls, text: str, s: str) -> Self:
        raise cls.unparseable(text, "not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]")

    def _key(self) -> tuple[object, ...]:
        return (self.major, self.minor, self.patch, _pre_key(self.prerelease))

    def _cmp(self, other: Self) -> int:
        return cmp_keys(self._key(), other._key())


class NpmVersion(SemVer):
    scheme = "npm"
    prefixes = ("v",)


class GoVersion(SemVer):
    scheme = "go"
    prefixes = ("v",)

    @classmethod
    def _parse_other(cls, text: str, s: str) -> Self:
        m = _GO_SHORT.fullmatch(s)
        if m is None:
            raise cls.unparseable(text, "not a Go module version (vMAJOR.MINOR.PATCH...)")
        return cls(text, int(m["major"]), int(m["minor"] or 0), 0, None, None)
