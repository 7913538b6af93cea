"""NuGet versions, ordered as NuGet.Versioning's ``VersionComparer.Default`` orders them.

Hand-written (NuGet.Versioning is .NET only; no reference runs here, so the tests use the
tables of NuGet.Client's own ``VersionComparerTests`` and ``NuGetVersionTest``):

* one to four numeric parts, ``Major[.Minor[.Patch[.Revision]]]``, missing parts 0, leading
  zeros allowed (``1.01 == 1.1``, ``1.0 == 1.0.0.0``), blanks around the text ignored;
* an optional ``-`` release label of dot-separated identifiers (``[0-9A-Za-z-]``) and an
  optional ``+`` metadata, which never counts;
* a version with a label sorts before the same version without; labels compare identifier by
  identifier: two numbers numerically, a number before text, text case-insensitively
  (``1.0.0-BETA == 1.0.0-beta``), a shorter list of equal identifiers first.
"""

from __future__ import annotations

import re
from typing import Self

from moorage.scanning.versions.base import Version, check_text, cmp_keys

_NUGET = re.compile(
    r"(?P<nums>[0-9]+(?:\.[0-9]+){0,3})"
    r"(?:-(?P<label>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<meta>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


def _label_key(label: str | None) -> tuple[object, ...]:
    if label is None:
        return (1,)
    ids: list[tuple[int, int, str]] = []
    for ident in label.split("."):
        if ident.isdigit():
            ids.append((0, int(ident), ""))
        else:
            ids.append((1, 0, ident.lower()))
    return (0, tuple(ids))


class NugetVersion(Version):
    scheme = "nuget"
    __slots__ = ("label", "numbers")

    def __init__(self, text: str, numbers: tuple[int, int, int, int], label: str | None) -> None:
        super().__init__(text)
        self.numbers, self.label = numbers, label

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        m = _NUGET.fullmatch(s)
        if m is None:
            raise cls.unparseable(text, "not a NuGet version")
        parts = [int(p) for p in m["nums"].split(".")] + [0, 0, 0]
        numbers = (parts[0], parts[1], parts[2], parts[3])
        return cls(text, numbers, m["label"])

    def _cmp(self, other: Self) -> int:
        return cmp_keys(
            (self.numbers, _label_key(self.label)), (other.numbers, _label_key(other.label))
        )
