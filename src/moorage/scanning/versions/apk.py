"""Alpine (and Wolfi, Chainguard) package versions, ordered as apk-tools orders them.

Hand-written: no Python package implements apk's rules, and no ``apk`` binary exists on Debian.
The rules are those of apk-tools' ``src/version.c`` (the lexer rewritten in March 2024, carried by
apk-tools 3; the tests run apk-tools' own ``test/unit/version.data`` table):

``digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r number}``

* tokens in that order only; anything else (``1.0bc``, ``0.1_foo``, ``1.0-r``, ``1.0-r1-r2``)
  makes the version invalid, which here is :class:`VersionUnparseable` rather than apk's
  fallback of comparing invalid versions by their first tokens;
* digit components compare as numbers, except that a component with a leading zero (after a
  dot) compares as a string against the other (``1.01 < 1.1``, ``1.001 < 1.01``);
* one lowercase letter may follow the digits (``1.2a < 1.2b``);
* suffixes ``_alpha < _beta < _pre < _rc`` sort before the bare version, ``_cvs < _svn < _git
  < _hg < _p`` after it, each with an optional number;
* ``~hash`` (hex digits, compared as a string) and ``-rN`` (the package release, a number);
* when every shared token agrees, the version whose next token is a pre-release suffix is older,
  otherwise the one with more components is newer (``1.0 < 1.0.1``, ``1.0 < 1.0-r1``).
"""

from __future__ import annotations

from typing import NamedTuple, Self

from moorage.scanning.versions.base import Version, check_text

# Token kinds, in the order they may appear (apk-tools' enum PARTS).
INITIAL_DIGIT, DIGIT, LETTER, SUFFIX, SUFFIX_NO, COMMIT_HASH, REVISION_NO, END = range(8)

# Suffix ranks: pre-release suffixes before _NONE (the bare version), post-release ones after.
_SUFFIXES = {
    "alpha": 1,
    "beta": 2,
    "pre": 3,
    "rc": 4,
    "cvs": 6,
    "svn": 7,
    "git": 8,
    "hg": 9,
    "p": 10,
}
_NONE = 5
_HEX = frozenset("0123456789abcdef")


class Token(NamedTuple):
    kind: int
    value: str  # the token's text (digits, the letter, the suffix name, the hash)
    number: int  # digits as a number; the suffix's rank for SUFFIX


class _Invalid(Exception):
    pass


def _digits(s: str, i: int) -> int:
    j = i
    while j < len(s) and "0" <= s[j] <= "9":
        j += 1
    if j == i:
        raise _Invalid("a number is missing")
    return j


def tokens(s: str) -> list[Token]:
    """The version's tokens, ending with an END token; raises ``_Invalid`` with the reason."""
    j = _digits(s, 0)
    out = [Token(INITIAL_DIGIT, s[:j], int(s[:j]))]
    i = j
    while i < len(s):
        prev, c = out[-1].kind, s[i]
        if "a" <= c <= "z":
            if prev > DIGIT:
                raise _Invalid(f"letter {c!r} out of place")
            out.append(Token(LETTER, c, ord(c)))
            i += 1
        elif c == ".":
            if prev > DIGIT:
                raise _Invalid("'.' out of place")
            j = _digits(s, i + 1)
            out.append(Token(DIGIT, s[i + 1 : j], int(s[i + 1 : j])))
            i = j
        elif "0" <= c <= "9":
            if prev != SUFFIX:  # digit runs are read whole, so only a suffix's number is left
                raise _Invalid("digits out of place")
            j = _digits(s, i)
            out.append(Token(SUFFIX_NO, s[i:j], int(s[i:j])))
            i = j
        elif c == "_":
            if prev > SUFFIX_NO:
                raise _Invalid("'_' out of place")
            j = i + 1
            while j < len(s) and "a" <= s[j] <= "z":
                j += 1
            name = s[i + 1 : j]
            if name not in _SUFFIXES:
                raise _Invalid(f"unknown suffix {name!r}")
            out.append(Token(SUFFIX, name, _SUFFIXES[name]))
            i = j
        elif c == "~":
            if prev >= COMMIT_HASH:
                raise _Invalid("'~' out of place")
            j = i + 1
            while j < len(s) and s[j] in _HEX:
                j += 1
            if j == i + 1:
                raise _Invalid("empty commit hash")
            out.append(Token(COMMIT_HASH, s[i + 1 : j], 0))
            i = j
        elif c == "-":
            if prev >= REVISION_NO or s[i + 1 : i + 2] != "r":
                raise _Invalid("'-' not starting the one -rN release")
            j = _digits(s, i + 2)
            out.append(Token(REVISION_NO, s[i + 2 : j], int(s[i + 2 : j])))
            i = j
        else:
            raise _Invalid(f"character {c!r} not allowed")
    out.append(Token(END, "", 0))
    return out


def _string_order(a: str, b: str) -> int:
    return (a > b) - (a < b)  # memcmp of the common length, then the shorter first


def _token_cmp(a: Token, b: Token) -> int:
    kind = a.kind
    if kind == COMMIT_HASH or (kind == DIGIT and (a.value[0] == "0" or b.value[0] == "0")):
        return _string_order(a.value, b.value)
    return (a.number > b.number) - (a.number < b.number)


class ApkVersion(Version):
    scheme = "apk"
    __slots__ = ("tokens",)

    def __init__(self, text: str, parsed: list[Token]) -> None:
        super().__init__(text)
        self.tokens = parsed

    @classmethod
    def parse(cls, text: str) -> Self:
        s = check_text(cls, text)
        try:
            return cls(text, tokens(s))
        except _Invalid as e:
            raise cls.unparseable(text, str(e)) from None

    def _cmp(self, other: Self) -> int:
        for ta, tb in zip(self.tokens, other.tokens, strict=False):
            if ta.kind != tb.kind:
                if ta.kind == SUFFIX and ta.number < _NONE:
                    return -1
                if tb.kind == SUFFIX and tb.number < _NONE:
                    return 1
                return -1 if ta.kind > tb.kind else 1
            if ta.kind == END:
                return 0
            result = _token_cmp(ta, tb)
            if result:
                return result
        return 0
