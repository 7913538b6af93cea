"""Every /api/v0 and /enzi/v0 answer with a body is documented: the OpenAPI documents name a
schema for each 2xx response (only answers without a body go without: 204s, DTR's bodiless
202s and 200s), and the schemas use DTR's field names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import InProcessApp

DOCUMENTS = ("/api/v0/openapi.json", "/enzi/v0/openapi.json")
METHODS = {"get", "put", "post", "patch", "delete"}


def _documents(doc: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    """A schema that names the body's fields: a model, or a list of models; a free-form
    object (``dict[str, Any]``) documents nothing."""
    if not schema:
        return False
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _documents(doc, schema.get("items"))
    if "anyOf" in schema:
        return all(_documents(doc, s) for s in schema["anyOf"] if s.get("type") != "null")
    return bool(schema.get("properties"))


def _undocumented(doc: dict[str, Any]) -> list[str]:
    missing = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if method not in METHODS:
                continue
            for status, answer in op["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if not answer.get("content"):
                    continue  # an answer without a body, as DTR's (a 202, a DELETE's 200)
                if not _documents(doc, schema):
                    missing.append(f"{method.upper()} {path} {status}")
    return missing


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = doc
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


@pytest.mark.parametrize("url", DOCUMENTS)
async def test_every_answer_with_a_body_has_a_schema(inproc: InProcessApp, url: str) -> None:
    async with inproc.client(auth=None) as c:
        r = await c.get(url)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert len(doc["paths"]) > 5
    assert _undocumented(doc) == []


async def test_schemas_carry_dtr_names(inproc: InProcessApp) -> None:
    async with inproc.client(auth=None) as c:
        api = (await c.get("/api/v0/openapi.json")).json()
        enzi = (await c.get("/enzi/v0/openapi.json")).json()
    schemas = api["components"]["schemas"]
    assert {"namespaceType", "shortDescription", "enableManifestLists", "tagLimit"} <= set(
        schemas["Repository"]["properties"]
    )
    tags = api["paths"]["/repositories/{namespace}/{repo}/tags"]["get"]["responses"]["200"]
    page = _resolve(api, tags["content"]["application/json"]["schema"])
    entry = _resolve(api, page["items"])
    assert {"updatedAt", "createdAt", "hashMismatch", "inNotary", "manifest"} <= set(
        entry["properties"]
    )
    assert entry["properties"]["updatedAt"]["format"] == "date-time"
    account = _resolve(enzi, {"$ref": "#/components/schemas/Account"})
    assert {"fullName", "isOrg", "isAdmin", "isActive", "isImported"} <= set(account["properties"])
    assert "email" not in account.get("required", [])


async def test_ldap_schemas(inproc: InProcessApp) -> None:
    """The LDAP answers: enzi's names, the reader's password never among them, a sync's dates
    in the one date format, and "sync now" documented for both of its answers."""
    async with inproc.client(auth=None) as c:
        enzi = (await c.get("/enzi/v0/openapi.json")).json()
    settings = enzi["paths"]["/config/auth/ldap"]["get"]["responses"]["200"]
    props = _resolve(enzi, settings["content"]["application/json"]["schema"])["properties"]
    assert {"serverURL", "readerDN", "userSearchConfigs", "readerPasswordSet"} <= set(props)
    assert "readerPassword" not in props
    sync = _resolve(enzi, {"$ref": "#/components/schemas/LdapSync"})["properties"]
    assert sync["startedAt"]["format"] == "date-time"
    assert {"usersFound", "teamMembersAdded", "jobID", "teams"} <= set(sync)
    answers = enzi["paths"]["/config/auth/ldap/sync"]["post"]["responses"]
    for status in ("200", "202"):
        schema = answers[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/LdapSync"}, (status, schema)
    member = _resolve(enzi, {"$ref": "#/components/schemas/MemberSyncOpts"})["properties"]
    assert {"enableSync", "selectGroupMembers", "groupDN", "searchBaseDN"} <= set(member)
