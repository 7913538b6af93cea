"""Who may call each endpoint of DTR's ``api_tokens``, ``action_configs``, ``crons``, ``jobs``,
``workers``, ``meta``, ``events``, ``webhooks`` and ``remote`` families, and the accounts'
``language`` and ``{username}/settings``, in one table: anonymous, a plain user, an
organization's owner (no system administrator), an administrator team's member, a
repository's user, and a system administrator, each with the status and error code DTR's
Swagger names (its ``Authorization`` notes; the jobrunner's routes, which state none, are
system administrators' as in DTR). The success of each route is checked with DTR's shapes in
the family's own test module; here every refusal is."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.world import World

ANON, BOB, FRANK, ERIN, ALICE, ADMIN = "anonymous", "bob", "frank", "erin", "alice", "admin"
EVERYONE = (BOB, FRANK, ERIN, ALICE, ADMIN)
NOBODY_SPECIAL = (BOB, FRANK, ERIN, ALICE)  # frank owns the org, erin's team administers repos

# (method, path template, body): system administrators only, 401 then 403 for all others.
ADMIN_ONLY: list[tuple[str, str, Any]] = [
    ("GET", "/api/v0/meta/settings", None),
    ("POST", "/api/v0/meta/settings", {}),
    ("GET", "/api/v0/meta/alerts", None),
    ("GET", "/api/v0/meta/cluster_status", None),
    ("GET", "/api/v0/jobs", None),
    ("POST", "/api/v0/jobs", {"action": "sleep"}),
    ("GET", "/api/v0/jobs/nope", None),
    ("DELETE", "/api/v0/jobs/nope", None),
    ("POST", "/api/v0/jobs/nope/cancel", None),
    ("GET", "/api/v0/jobs/nope/logs", None),
    ("GET", "/api/v0/crons", None),
    ("POST", "/api/v0/crons", {"action": "sleep", "schedule": "0 3 * * *"}),
    ("GET", "/api/v0/crons/gc", None),
    ("DELETE", "/api/v0/crons/gc", None),
    ("GET", "/api/v0/workers", None),
    ("POST", "/api/v0/workers/nope/capacity", {"capacityMap": {"sleep": 1}}),
    ("GET", "/api/v0/action_configs", None),
    ("POST", "/api/v0/action_configs", {"action": "sleep", "parameters": {}}),
    ("GET", "/api/v0/action_configs/gc", None),
    ("DELETE", "/api/v0/action_configs/gc", None),
]

# Any signed-in user: 401 to anonymous callers only.
SIGNED_IN: list[tuple[str, str, Any]] = [
    ("GET", "/api/v0/accounts/language", None),
    ("GET", "/api/v0/meta/features", None),
    ("GET", "/api/v0/api_tokens", None),
    ("GET", "/api/v0/webhooks", None),
]


def _send(world: World, api: httpx.Client, who: str, method: str, path: str, body: Any) -> Any:
    auth = None if who == ANON else world.admin if who == ADMIN else world.creds(who)
    path = path.format(org=world.org, alice=world.name("alice"), bob=world.name("bob"))
    return api.request(method, path, json=body, auth=auth)


def _code(r: httpx.Response) -> tuple[int, str]:
    if r.status_code < 300:
        return r.status_code, ""
    return r.status_code, r.json()["errors"][0]["code"]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_system_administrators_only(
    world: World, api: httpx.Client, method: str, path: str, body: Any
) -> None:
    assert _code(_send(world, api, ANON, method, path, body)) == (401, "NOT_AUTHENTICATED")
    for who in NOBODY_SPECIAL:
        assert _code(_send(world, api, who, method, path, body)) == (403, "NOT_AUTHORIZED"), who
    # The administrator gets past authorization: an answer, or the route's own 4xx.
    status, code = _code(_send(world, api, ADMIN, method, path, body))
    assert status < 300 or code not in ("NOT_AUTHENTICATED", "NOT_AUTHORIZED"), (status, code)


@pytest.mark.parametrize(("method", "path", "body"), SIGNED_IN)
def test_any_signed_in_user(
    world: World, api: httpx.Client, method: str, path: str, body: Any
) -> None:
    assert _code(_send(world, api, ANON, method, path, body)) == (401, "NOT_AUTHENTICATED")
    for who in EVERYONE:
        assert _send(world, api, who, method, path, body).status_code == 200, who


def test_a_users_settings_are_the_user_s_and_the_administrators(
    world: World, api: httpx.Client
) -> None:
    mine = "/api/v0/accounts/{alice}/settings"
    for method, body in (("GET", None), ("PATCH", {})):
        assert _code(_send(world, api, ANON, method, mine, body)) == (401, "NOT_AUTHENTICATED")
        for who in (BOB, FRANK, ERIN):
            assert _code(_send(world, api, who, method, mine, body)) == (403, "NOT_AUTHORIZED")
        for who in (ALICE, ADMIN):
            assert _send(world, api, who, method, mine, body).status_code == 200
        # No such user: 404 NO_SUCH_USER to an administrator, 403 to anyone else (the same
        # answer as for a user who exists: nobody learns who does).
        missing = f"/api/v0/accounts/nobody{world.suffix}/settings"
        assert _code(_send(world, api, ADMIN, method, missing, body)) == (404, "NO_SUCH_USER")
        assert _code(_send(world, api, ALICE, method, missing, body)) == (403, "NOT_AUTHORIZED")


def test_tokens_of_others_are_a_system_administrators(world: World, api: httpx.Client) -> None:
    theirs = "/api/v0/api_tokens?username={bob}"
    for who in (FRANK, ERIN, ALICE):
        for method in ("GET", "POST", "DELETE"):
            body = {"tokenLabel": "x"} if method == "POST" else None
            r = _send(world, api, who, method, theirs, body)
            assert _code(r) == (403, "NOT_AUTHORIZED"), (who, method)
    assert _send(world, api, ADMIN, "GET", theirs, None).status_code == 200
    # Not even whether a user exists is said to someone who may not ask.
    nobody = f"/api/v0/api_tokens?username=nobody{world.suffix}"
    assert _code(_send(world, api, ALICE, "GET", nobody, None)) == (403, "NOT_AUTHORIZED")
    assert _code(_send(world, api, ADMIN, "GET", nobody, None)) == (404, "NO_SUCH_USER")
    for method in ("GET", "PATCH", "DELETE"):
        body = {"tokenLabel": "x"} if method == "PATCH" else None
        r = _send(world, api, ANON, method, "/api/v0/api_tokens/nope", body)
        assert _code(r) == (401, "NOT_AUTHENTICATED")
        r = _send(world, api, ALICE, method, "/api/v0/api_tokens/nope", body)
        assert _code(r) == (404, "NO_SUCH_API_TOKEN")


def test_webhook_listings_of_a_namespace_and_a_repository(world: World, api: httpx.Client) -> None:
    org_hooks = "/api/v0/accounts/{org}/webhooks"
    repo_hooks = "/api/v0/repositories/{org}/private-repo/webhooks"
    for path in (org_hooks, repo_hooks):
        assert _code(_send(world, api, ANON, "GET", path, None)) == (401, "NOT_AUTHENTICATED")
    for who in (FRANK, ADMIN):
        assert _send(world, api, who, "GET", org_hooks, None).status_code == 200
    for who in (BOB, ERIN, ALICE):  # erin administers the org's repositories, not the org
        assert _code(_send(world, api, who, "GET", org_hooks, None)) == (403, "NOT_AUTHORIZED")
    for who in (FRANK, ERIN, ADMIN):
        assert _send(world, api, who, "GET", repo_hooks, None).status_code == 200
    for who in ("carol", "dave"):  # read-only, read-write: they see it, may not list its hooks
        assert _code(_send(world, api, who, "GET", repo_hooks, None)) == (403, "NOT_AUTHORIZED")
    for who in (BOB, ALICE):  # the private repository is not theirs to see
        r = _send(world, api, who, "GET", repo_hooks, None)
        assert _code(r) == (404, "NO_SUCH_REPOSITORY")
    r = _send(world, api, BOB, "GET", f"/api/v0/accounts/nobody{world.suffix}/webhooks", None)
    assert _code(r) == (404, "NO_SUCH_ACCOUNT")
    for who in (BOB, ADMIN):
        r = _send(world, api, who, "GET", "/api/v0/repositories/{org}/nope/webhooks", None)
        assert _code(r) == (404, "NO_SUCH_REPOSITORY")


def test_events_of_a_repository_only_to_those_who_see_it(world: World, api: httpx.Client) -> None:
    private = "/api/v0/repositories/{org}/private-repo/events"
    for who in (FRANK, ERIN, "carol", "dave", ADMIN):
        assert _send(world, api, who, "GET", private, None).status_code == 200, who
    for who in (ANON, BOB, ALICE):  # as if it did not exist
        assert _code(_send(world, api, who, "GET", private, None)) == (404, "NO_SUCH_REPOSITORY")
    for who in (ANON, BOB, ADMIN):
        r = _send(world, api, who, "GET", "/api/v0/events?publishedBefore=yesterday", None)
        assert _code(r) == (400, "INVALID_PARAMETERS")


def test_the_remote_check_is_for_signed_in_users(world: World, api: httpx.Client) -> None:
    form = {"remoteHost": "127.0.0.1:1", "remoteRepository": "a/b"}
    path = "/api/v0/remote/registry"
    assert _code(_send(world, api, ANON, "POST", path, form)) == (401, "NOT_AUTHENTICATED")
    for who in EVERYONE:  # past authorization; loopback is not an allowed network here
        assert _code(_send(world, api, who, "POST", path, form)) == (400, "TARGET_NOT_ALLOWED")
