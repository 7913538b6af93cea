"""RubyGems versions, ordered as ``Gem::Version#<=>`` orders them.

Hand-written (Ruby's own class has no Python port); the rules of rubygems' ``version.rb``,
checked in the tests against ``ruby -e 'Gem::Version.new(a) <=> Gem::Version.new(b)'``:

* the text must match ``[0-9]+(\\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?`` (blanks
  around it allowed); a ``-`` means ``.pre.`` (``1.0-rc1`` is ``1.0.pre.rc1``);
* its segments are the runs of digits (numbers) and of letters (strings); a version with a
  letter segment is a pre-release (``1.0.a < 1.0``);
* trailing zeros are dropped from the numeric part and from the part after the first letter
  (``1.0 == 1``, ``1.0.a.0 == 1.a``);
* segments compare pairwise, a missing one as ``0``: a string sorts before a number, strings
  compare bytewise (case matters: ``B < a``), numbers numerically.

An empty text is ``0`` to rubygems; here it is unparseable like every other empty version.
"""

from __future__ import annotations

import re
from typing import Self

from moorage.scanning.versions.base import Version, check_text

_PATTERN = re.compile(r"[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_SEGMENT = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)

Segment = int | str


def _drop_trailing_zeros(segments: list[Segment]) -> list[Segment]:
    while segments and segments[-1] == 0:
        segments.pop()
    return segments


def canonical_segments(version: str) -> list[Segment]:
    segments: list[Segment] = [
        int(s) if s.isdigit() else s for s in _SEGMENT.findall(version.replace("-", ".pre."))
    ]
    first_string = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    numeric, rest = segments[:first_string], segments[first_string:]
    return _drop_trailing_zeros(numeric) + _drop_trailing_zeros(rest)


class GemVersion(Version):
    scheme = "rubygems"
    __slots__ = ("segments",)

    def __init__(self, text: str, segments: list[Segment]) -> None:
        super().__init__(text)
        self.segments = segments

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        if not _PATTERN.fullmatch(s):
            raise cls.unparseable(text, "not a RubyGems version")
        return cls(text, canonical_segments(s))

    @property
    def prerelease(self) -> bool:
        return any(isinstance(s, str) for s in self.segments)

    def _cmp(self, other: Self) -> int:
        a, b = self.segments, other.segments
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else 0
            y = b[i] if i < len(b) else 0
            if x == y:
                continue
            if isinstance(x, str) and isinstance(y, int):
                return -1
            if isinstance(x, int) and isinstance(y, str):
                return 1
            return (x > y) - (x < y)  # type: ignore[operator]
        return 0
