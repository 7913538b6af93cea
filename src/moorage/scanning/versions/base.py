"""The one interface every ecosystem's version ordering has.

A scheme is a subclass of :class:`Version`: ``Scheme.parse(text)`` gives a totally ordered value
(``<``, ``==``, ``sorted()``), ``Scheme.compare(a, b)`` gives -1, 0 or 1, and a text the
ecosystem's rules cannot read raises :class:`moorage.errors.VersionUnparseable` instead of being
guessed at. Values of two different schemes never compare (``TypeError``). Versions are not
hashable: two spellings of one version (Maven ``1`` and ``1.0``) are equal, so hash the canonical
text a scheme gives, never the raw string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

from moorage.errors import VersionUnparseable


class Version(ABC):
    """One parsed version of one scheme; subclasses implement ``parse`` and ``_cmp``."""

    __slots__ = ("text",)

    scheme: ClassVar[str]
    """The scheme's name in messages (``dpkg``, ``apk``, ``rpm``, ``pep440`` …)."""

    def __init__(self, text: str) -> None:
        self.text = text

    @classmethod
    @abstractmethod
    def parse(cls, text: str) -> Self:
        """The version ``text`` names; :class:`VersionUnparseable` when the rules cannot read it."""

    @abstractmethod
    def _cmp(self, other: Self) -> int:
        """-1, 0 or 1: ``self`` before, equal to or after ``other`` (same scheme)."""

    @classmethod
    def compare(cls, a: str, b: str) -> int:
        """-1, 0 or 1 for two version texts of this scheme."""
        return cls.parse(a)._cmp(cls.parse(b))

    @classmethod
    def unparseable(cls, text: str, reason: str) -> VersionUnparseable:
        return VersionUnparseable(text, cls.scheme, reason)

    def _other(self, other: object) -> Self | None:
        if type(other) is type(self):
            return other
        return None

    def __eq__(self, other: object) -> bool:
        same = self._other(other)
        if same is None:
            return NotImplemented
        return self._cmp(same) == 0

    def __lt__(self, other: object) -> bool:
        same = self._other(other)
        if same is None:
            return NotImplemented
        return self._cmp(same) < 0

    def __le__(self, other: object) -> bool:
        same = self._other(other)
        if same is None:
            return NotImplemented
        return self._cmp(same) <= 0

    def __gt__(self, other: object) -> bool:
        same = self._other(other)
        if same is None:
            return NotImplemented
        return self._cmp(same) > 0

    def __ge__(self, other: object) -> bool:
        same = self._other(other)
        if same is None:
            return NotImplemented
        return self._cmp(same) >= 0

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __str__(self) -> str:
        return self.text


def sign(n: int) -> int:
    """-1, 0 or 1 by the sign of ``n``."""
    return (n > 0) - (n < 0)


def cmp_keys(a: Any, b: Any) -> int:
    """-1, 0 or 1 for two values of one orderable type (tuples of ints and strings)."""
    return bool(a > b) - bool(a < b)


def check_text(cls: type[Version], text: object) -> str:
    """``text`` as a string with no surrounding blanks; refuses non-strings, empty and control
    characters (a version read from a package database or an advisory is printable ASCII)."""
    if not isinstance(text, str):
        raise VersionUnparseable(repr(text), cls.scheme, "not a string")
    stripped = text.strip()
    if not stripped:
        raise cls.unparseable(text, "empty")
    if not stripped.isascii() or not stripped.isprintable():
        raise cls.unparseable(text, "characters outside printable ASCII")
    return stripped
