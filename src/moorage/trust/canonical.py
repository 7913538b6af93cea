"""Canonical JSON as Notary (docker/go's ``canonical/json``) produces it: the bytes TUF signs.

Hand-written because no library emits exactly these bytes: keys sorted bytewise, no whitespace,
only ``"`` and ``\\`` escaped (every other character, control characters and non-ASCII included,
written as its raw UTF-8), numbers written as integers (a fraction is an error). Notary decodes
the ``signed`` object into Go values before it re-encodes it, so a number goes through a float64
first; ``encode`` does the same.
"""

from __future__ import annotations

import json
from typing import Any

# Go's int64(float64) is only defined up to 2**63.
_INT_LIMIT = 2**63


class CanonicalError(ValueError):
    """A value canonical JSON cannot hold (a fraction, an infinity, a lone surrogate)."""


def _string(value: str) -> bytes:
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError("a string is not valid UTF-8") from exc
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _number(value: int | float) -> bytes:
    as_float = float(value)
    if as_float != as_float or as_float in (float("inf"), float("-inf")):
        raise CanonicalError("a number is not finite")
    if not as_float.is_integer():
        raise CanonicalError("canonical JSON holds no fractions")
    if abs(as_float) >= _INT_LIMIT:
        raise CanonicalError("a number is too large")
    return str(int(as_float)).encode()


def _encode(value: Any, out: list[bytes]) -> None:
    if value is None:
        out.append(b"null")
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int | float):
        out.append(_number(value))
    elif isinstance(value, list | tuple):
        out.append(b"[")
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            _encode(item, out)
        out.append(b"]")
    elif isinstance(value, dict):
        try:
            items = sorted((k.encode("utf-8"), k, v) for k, v in value.items())
        except UnicodeEncodeError as exc:
            raise CanonicalError("a key is not valid UTF-8") from exc
        out.append(b"{")
        for i, (_, key, item) in enumerate(items):
            if i:
                out.append(b",")
            out.append(_string(key))
            out.append(b":")
            _encode(item, out)
        out.append(b"}")
    else:
        raise CanonicalError(f"cannot encode {type(value).__name__}")


def encode(value: Any) -> bytes:
    """``value`` (JSON types) as canonical JSON bytes."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


MAX_DEPTH = 64  # TUF metadata nests six deep; anything deeper is refused before recursion


def _depth(value: Any, limit: int) -> None:
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            raise CanonicalError(f"JSON nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)


def _no_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not JSON")


def parse(raw: bytes) -> Any:
    """JSON bytes into Python values; ``ValueError`` when they are not JSON (or not UTF-8),
    or nest deeper than ``MAX_DEPTH``."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError as exc:
        raise CanonicalError("JSON nested too deep") from exc
    _depth(value, MAX_DEPTH)
    return value
