"""Debian and Ubuntu package versions: ``[epoch:]upstream[-revision]`` ordered as dpkg orders them.

The comparison is python-debian's ``NativeVersion`` (dpkg's algorithm in pure Python: ``~`` before
everything, letters before other symbols, digit runs as numbers; checked against
``dpkg --compare-versions`` in the tests). Its own syntax check is looser than dpkg's, so the
syntax rules of deb-version(7) as dpkg 1.21's ``parseversion`` applies them are written here by
hand: dpkg's errors (empty parts, a bad or oversized epoch) and its warnings (an upstream version
not starting with a digit, characters outside the allowed sets) both make a version unparseable:
a version dpkg itself only warns about is never one a Debian archive ships.
"""

from __future__ import annotations

import re
from typing import Self

from debian.debian_support import NativeVersion

from moorage.scanning.versions.base import Version, check_text

_UPSTREAM_CHARS = re.compile(r"[A-Za-z0-9.+~:-]*")
_REVISION_CHARS = re.compile(r"[A-Za-z0-9.+~]*")
_EPOCH = re.compile(r"[+-]?[0-9]+")  # what C's strtol reads (the whole text before the colon)
_INT_MAX = 2**31 - 1


class DpkgVersion(Version):
    scheme = "dpkg"
    __slots__ = ("_native", "epoch", "revision", "upstream")

    def __init__(self, text: str, epoch: int, upstream: str, revision: str) -> None:
        super().__init__(text)
        self.epoch, self.upstream, self.revision = epoch, upstream, revision
        full = f"{epoch}:{upstream}" + (f"-{revision}" if revision else "")
        self._native = NativeVersion(full)

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        if any(c.isspace() for c in s):
            raise cls.unparseable(text, "embedded spaces")
        head, colon, rest = s.partition(":")
        epoch = 0
        if colon:
            if not head:
                raise cls.unparseable(text, "epoch is empty")
            if not _EPOCH.fullmatch(head):
                raise cls.unparseable(text, "epoch is not a number")
            epoch = int(head)
            if epoch < 0:
                raise cls.unparseable(text, "epoch is negative")
            if epoch > _INT_MAX:
                raise cls.unparseable(text, "epoch is too big")
            if not rest:
                raise cls.unparseable(text, "nothing after the colon")
        else:
            rest = s
        upstream, hyphen, revision = rest.rpartition("-")
        if not hyphen:
            upstream, revision = rest, ""
        elif not revision:
            raise cls.unparseable(text, "revision is empty")
        if not upstream:
            raise cls.unparseable(text, "upstream version is empty")
        if not upstream[0].isdigit():
            raise cls.unparseable(text, "upstream version does not start with a digit")
        if not _UPSTREAM_CHARS.fullmatch(upstream):
            raise cls.unparseable(text, "invalid character in the upstream version")
        if not _REVISION_CHARS.fullmatch(revision):
            raise cls.unparseable(text, "invalid character in the revision")
        return cls(text, epoch, upstream, revision)

    def _cmp(self, other: Self) -> int:
        result: int = self._native._compare(other._native)
        return (result > 0) - (result < 0)
