"""Checks an API answer against DTR's own definition of it: the Swagger 2.0 ``definitions`` of
DTR 2.7 and eNZi (UCP 3.1), copied verbatim, one JSON file per endpoint family, into
``tests/http/api/dtr_definitions/`` (provenance in its README).

Every property DTR defines must be in the answer (a test names the ones Moorage leaves out on
purpose, each with its reason), with DTR's JSON type; objects and arrays are checked down to
their leaves through ``$ref``. Properties Moorage adds are allowed (DTR's definitions do not
forbid them). A ``null`` stands for an object or array only where DTR's Go code sends one for
a nil value (a property that is not required). Written by hand: jsonschema alone would accept
an answer missing every optional property, which is the drift these tests are for.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

DEFINITIONS = Path(__file__).with_name("dtr_definitions")

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


ENZI = "enzi:"


@cache
def definitions() -> dict[str, Any]:
    """Every definition of every family file, by its Swagger name (``responses.Tag`` …).

    eNZi's (``enzi*.json``, from UCP's Swagger) are under ``enzi:`` (``enzi:responses.Team``):
    the two Swagger files use the same names for different objects, and a ``$ref`` inside an
    eNZi definition means eNZi's."""
    merged: dict[str, Any] = {}
    for path in sorted(DEFINITIONS.glob("*.json")):
        scope = ENZI if path.name.startswith("enzi") else ""
        for bare, definition in json.loads(path.read_text()).items():
            name = scope + bare
            if name in merged and merged[name] != definition:
                raise AssertionError(f"{path.name}: {name} differs from another family's copy")
            merged[name] = definition
    return merged


def problems(
    body: object, definition: str, *, leave_out: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """What is wrong with ``body`` as DTR's ``definition``: one line per problem, each with
    its path (``Tag.manifest.os``). ``leave_out``: dotted paths (from the definition's own
    name, without it: ``manifest.osVersion``) that may be absent."""
    found: list[str] = []
    scope = ENZI if definition.startswith(ENZI) else ""
    ref = {"$ref": f"#/definitions/{definition.removeprefix(ENZI)}"}
    _check(body, ref, "", found, frozenset(leave_out), True, scope)
    return found


def assert_matches(
    body: object, definition: str, *, leave_out: frozenset[str] | set[str] = frozenset()
) -> None:
    found = problems(body, definition, leave_out=leave_out)
    assert not found, f"not DTR's {definition}:\n  " + "\n  ".join(found)


def _resolve(schema: dict[str, Any], scope: str) -> dict[str, Any]:
    while "$ref" in schema:
        name = scope + schema["$ref"].removeprefix("#/definitions/")
        if name not in definitions():
            raise AssertionError(f"{name} is not in tests/http/api/dtr_definitions/")
        schema = definitions()[name]
    return schema


def _check(
    value: object,
    schema: dict[str, Any],
    path: str,
    found: list[str],
    leave_out: frozenset[str],
    required: bool,
    scope: str,
) -> None:
    schema = _resolve(schema, scope)
    kind = schema.get("type", "object" if "properties" in schema else None)
    where = path or "(top)"
    if value is None:
        if kind in {"object", "array"} and not required:
            return  # Go's nil map, slice or pointer
        found.append(f"{where}: null where DTR sends {kind}")
        return
    if kind is None:
        return  # DTR leaves it open (an interface{})
    if kind in {"number", "integer"} and isinstance(value, bool):
        found.append(f"{where}: boolean where DTR sends {kind}")
        return
    if not isinstance(value, _TYPES[kind]):
        found.append(f"{where}: {type(value).__name__} where DTR sends {kind}")
        return
    if kind == "string" and schema.get("format") == "date-time":
        assert isinstance(value, str)
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            found.append(f"{where}: {value!r} is not an RFC 3339 date-time")
    if kind == "string" and "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of DTR's {schema['enum']}")
    if kind == "array":
        assert isinstance(value, list)
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{path}[{i}]", found, leave_out, True, scope)
    if kind == "object":
        assert isinstance(value, dict)
        needed = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            dotted = f"{path}.{name}" if path else name
            plain = _plain(dotted)
            if name not in value:
                if plain not in leave_out:
                    found.append(f"{dotted}: missing")
                continue
            _check(value[name], sub, dotted, found, leave_out, name in needed, scope)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            known = set(schema.get("properties", {}))
            for name, item in value.items():
                if name not in known:
                    _check(item, extra, f"{path}[{name!r}]", found, leave_out, True, scope)


def _plain(dotted: str) -> str:
    """``manifest.dockerfile[3].isEmpty`` → ``manifest.dockerfile.isEmpty``."""
    out, depth = [], 0
    for ch in dotted:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)
