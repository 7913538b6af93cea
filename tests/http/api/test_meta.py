"""``/api/v0/meta/{features,alerts,cluster_status}``, ``/api/v0/accounts/language`` and
``/api/v0/accounts/{username}/settings`` as DTR 2.7 has them, each caller refused where DTR's
Swagger says so."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.auth.world import World
from tests.http.api.dtr_schema import assert_matches


def _code(r: httpx.Response) -> tuple[int, str]:
    errors: list[dict[str, Any]] = r.json()["errors"]
    return r.status_code, errors[0]["code"]


def _user(world: World, role: str) -> tuple[str, str]:
    creds = world.creds(role)
    assert creds is not None
    return creds


ADMIN_ONLY = ["/api/v0/meta/alerts", "/api/v0/meta/cluster_status"]
SIGNED_IN = ["/api/v0/meta/features", "/api/v0/accounts/language"]


@pytest.mark.parametrize("path", ADMIN_ONLY + SIGNED_IN)
def test_anonymous_callers_are_refused(api: httpx.Client, world: World, path: str) -> None:
    assert _code(api.get(path)) == (401, "NOT_AUTHENTICATED")


@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_only_administrators(api: httpx.Client, world: World, path: str) -> None:
    for role in ("bob", "frank"):  # frank owns an organization: still no administrator
        assert _code(api.get(path, auth=world.creds(role))) == (403, "NOT_AUTHORIZED")
    assert api.get(path, auth=world.admin).status_code == 200


def test_features(api: httpx.Client, world: World) -> None:
    r = api.get("/api/v0/meta/features", auth=world.creds("bob"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.Features")
    assert body["scanningEnabled"] is True and body["onlineGCEnabled"] is True
    assert body["promotionLicensed"] is False and body["mirroringLicensed"] is False
    assert body["db_version"] >= 19 and body["ucpHost"] == ""
    r = api.post("/api/v0/meta/settings", json={"scanningEnabled": False}, auth=world.admin)
    assert r.status_code == 202, r.text
    try:
        assert api.get("/api/v0/meta/features", auth=world.admin).json()["scanningEnabled"] is False
    finally:
        api.post("/api/v0/meta/settings", json={"scanningEnabled": True}, auth=world.admin)


def test_alerts(api: httpx.Client, world: World) -> None:
    alerts = api.get("/api/v0/meta/alerts", auth=world.admin).json()
    assert isinstance(alerts, list)
    for alert in alerts:
        assert_matches(alert, "responses.Alert")
    assert "read-only-registry" not in {a["id"] for a in alerts}
    # No vulnerability database imported in a fresh registry while scanning is on.
    assert "no-vulnerability-database" in {a["id"] for a in alerts}
    r = api.post("/api/v0/meta/settings", json={"readOnlyRegistry": True}, auth=world.admin)
    assert r.status_code == 202, r.text
    try:
        alerts = api.get("/api/v0/meta/alerts", auth=world.admin).json()
        (read_only,) = [a for a in alerts if a["id"] == "read-only-registry"]
        assert_matches(read_only, "responses.Alert")
        assert read_only["class"] == "warning" and "readOnlyRegistry" in read_only["message"]
    finally:
        r = api.post("/api/v0/meta/settings", json={"readOnlyRegistry": False}, auth=world.admin)
        assert r.status_code == 202, r.text


def test_cluster_status(api: httpx.Client, world: World) -> None:
    r = api.get("/api/v0/meta/cluster_status", auth=world.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.ClusterStatus")
    settings = api.get("/api/v0/meta/settings", auth=world.admin).json()
    replica = settings["replicaID"]
    assert body["replica_health"] == {replica: "OK"}
    assert body["replica_readonly"] == {replica: False}
    assert set(body["replica_timestamp"]) == {replica}
    assert body["rethink_system_tables"]["database"]["healthy"] is True
    assert body["rethink_system_tables"]["storage"]["healthy"] is True
    assert body["gc_lock_holder"] == ""


def test_language(api: httpx.Client, world: World) -> None:
    r = api.get("/api/v0/accounts/language", auth=world.creds("bob"))
    assert r.status_code == 200, r.text
    assert_matches(r.json(), "responses.Language")
    assert r.json() == {"language": "en"}


def test_user_settings_are_the_users_own(api: httpx.Client, world: World) -> None:
    bob, alice = _user(world, "bob"), _user(world, "alice")
    path = f"/api/v0/accounts/{world.name('bob')}/settings"
    r = api.get(path, auth=bob)
    assert r.status_code == 200, r.text
    assert_matches(r.json(), "responses.UserSettings")
    assert r.json() == {"ContentCacheUUID": ""}
    cache = str(uuid.uuid4())
    r = api.patch(path, json={"contentCacheUUID": cache.upper()}, auth=bob)
    assert r.status_code == 200, r.text
    assert r.json() == {"ContentCacheUUID": cache}
    assert api.get(path, auth=bob).json() == {"ContentCacheUUID": cache}
    # A system administrator sees and changes anyone's.
    assert api.get(path, auth=world.admin).json() == {"ContentCacheUUID": cache}
    r = api.patch(path, json={"contentCacheUUID": ""}, auth=world.admin)
    assert r.json() == {"ContentCacheUUID": ""}
    # An empty body changes nothing.
    assert api.patch(path, json={}, auth=bob).json() == {"ContentCacheUUID": ""}
    # Another user may not, nor may anyone anonymous.
    assert _code(api.get(path, auth=alice)) == (403, "NOT_AUTHORIZED")
    assert _code(api.patch(path, json={"contentCacheUUID": cache}, auth=alice)) == (
        403,
        "NOT_AUTHORIZED",
    )
    assert _code(api.get(path)) == (401, "NOT_AUTHENTICATED")
    assert _code(api.patch(path, json={"contentCacheUUID": cache})) == (401, "NOT_AUTHENTICATED")
    assert api.get(path, auth=bob).json() == {"ContentCacheUUID": ""}
    # alice's own are hers, untouched by bob's.
    mine = api.get(f"/api/v0/accounts/{world.name('alice')}/settings", auth=alice)
    assert mine.json() == {"ContentCacheUUID": ""}


def test_user_settings_bad_input(api: httpx.Client, world: World) -> None:
    bob = _user(world, "bob")
    path = f"/api/v0/accounts/{world.name('bob')}/settings"
    r = api.patch(path, json={"contentCacheUUID": "not-a-uuid"}, auth=bob)
    assert _code(r) == (400, "INVALID_USER_SETTINGS")
    assert r.json()["errors"][0]["detail"] == {"setting": "contentCacheUUID"}
    assert api.patch(path, json={"contentCacheUUID": 5}, auth=bob).status_code == 400
    assert api.patch(path, json={"noSuch": 1}, auth=bob).status_code == 400
    # A missing user: 404 to an administrator, 403 to anyone else (nothing said of who exists).
    missing = f"/api/v0/accounts/nobody{world.suffix}/settings"
    assert _code(api.get(missing, auth=world.admin)) == (404, "NO_SUCH_USER")  # DTR's code
    assert _code(api.patch(missing, json={}, auth=world.admin)) == (404, "NO_SUCH_USER")
    assert _code(api.get(missing, auth=bob)) == (403, "NOT_AUTHORIZED")
    # An organization has no user settings.
    org = f"/api/v0/accounts/{world.org}/settings"
    assert _code(api.get(org, auth=world.admin)) == (404, "NO_SUCH_USER")
    assert _code(api.get(org, auth=_user(world, "frank"))) == (403, "NOT_AUTHORIZED")  # its admin


def test_openapi_documents_the_models(api: httpx.Client, world: World) -> None:
    doc = api.get("/api/v0/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for name in ("Settings", "ReplicaSettings", "Features", "Alert", "ClusterStatus"):
        assert name in schemas, name
    assert {"Language", "UserSettings", "UserSettingsForm"} <= set(schemas)
    post = doc["paths"]["/meta/settings"]["post"]
    assert "202" in post["responses"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"jobHistoryMaxAge", "repoEventHistoryToKeep", "webTLSKey"} <= set(body["properties"])
    get = doc["paths"]["/meta/settings"]["get"]["responses"]["200"]["content"]
    assert get["application/json"]["schema"]["$ref"].endswith("/Settings")
