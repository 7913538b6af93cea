"""Every endpoint of DTR 2.7's ``/api/v0`` and of eNZi's ``/enzi/v0/accounts`` (the lists in
``dtr_definitions/*.tsv``) is in the OpenAPI document Moorage serves, method and path (path
parameter names aside: DTR's ``{reponame}`` is Moorage's ``{repo}``), with a schema for its
answer (only an answer declared without a body, a 204 or DTR's bodiless 200s and 202s, goes
without one; FastAPI's default free-form ``{}`` does not count).

Every one is served: a gap is a failure, named in the message of the whole-list test.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import ThreadedApp

HERE = Path(__file__).with_name("dtr_definitions")
LISTS = {"dtr-2.7-api-v0.tsv": "/api/v0", "enzi-v0-accounts.tsv": "/enzi/v0"}
METHODS = {"get", "put", "post", "patch", "delete"}


def _endpoints() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name in LISTS:
        with (HERE / name).open(newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                found.append((row["method"].upper(), row["path"]))
    return found


ENDPOINTS = _endpoints()


def normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture(scope="module")
def documents(app_registry: ThreadedApp) -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    with app_registry.client(auth=None) as c:
        for prefix in LISTS.values():
            r = c.get(f"{prefix}/openapi.json")
            assert r.status_code == 200, r.text
            docs[prefix] = r.json()
    return docs


def _operations(docs: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for prefix, doc in docs.items():
        for path, operations in doc["paths"].items():
            for method, op in operations.items():
                if method in METHODS:
                    yield method.upper(), normalised(prefix + path), op


def _documented(op: dict[str, Any]) -> bool:
    """A 2xx answer with a schema that names fields, or one declared without a body."""
    for status, answer in op.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        if status == "204" or not answer.get("content"):
            return True  # declared without a body (as DTR declares some 200s and 202s)
        schema = answer.get("content", {}).get("application/json", {}).get("schema") or {}
        if "$ref" in schema or schema.get("properties"):
            return True
        items = schema.get("items") or {}
        if schema.get("type") == "array" and ("$ref" in items or items.get("properties")):
            return True
        if any("$ref" in s for s in schema.get("anyOf", [])):
            return True
    return False


def problem(docs: dict[str, dict[str, Any]], method: str, path: str) -> str | None:
    """Why the endpoint is not (fully) there, or None."""
    wanted = normalised(path)
    ops = [op for m, p, op in _operations(docs) if m == method and p == wanted]
    if not ops:
        return "not served"
    if not _documented(ops[0]):
        return "no response schema"
    return None


def missing(docs: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    found = {}
    for method, path in ENDPOINTS:
        why = problem(docs, method, path)
        if why is not None:
            found[(method, path)] = why
    return found


def test_the_lists_are_dtrs_whole_lists() -> None:
    assert len(ENDPOINTS) == len(set(ENDPOINTS)) == 141
    assert all(p.startswith(("/api/v0/", "/enzi/v0/")) for _, p in ENDPOINTS)


def test_no_endpoint_is_missing(documents: dict[str, dict[str, Any]]) -> None:
    """The full list of what is missing, in the failure message."""
    gaps = missing(documents)
    listing = "\n  ".join(f"{m} {p}: {why}" for (m, p), why in sorted(gaps.items()))
    assert not gaps, f"{len(gaps)} of {len(ENDPOINTS)} DTR endpoints missing:\n  {listing}"


@pytest.mark.parametrize(
    ("method", "path"),
    [pytest.param(m, p, id=f"{m} {p}") for m, p in ENDPOINTS],
)
def test_endpoint_is_served_and_documented(
    documents: dict[str, dict[str, Any]], method: str, path: str
) -> None:
    assert problem(documents, method, path) is None
