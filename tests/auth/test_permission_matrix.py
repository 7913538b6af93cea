"""DTR's permission matrix, checked through the real /v2 and /api/v0 routes.

Every role x action x visibility cell is exercised; the expected set is DTR's:
read-only = pull; read-write = pull, push, delete; admin (team, namespace owner,
org owner, system admin) = also settings and team access; anonymous and other
users may only pull public repositories.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.auth.world import World, push_image
from tests.inprocess import ThreadedApp

ROLES = ["anonymous", "bob", "carol", "dave", "erin", "alice", "frank", "admin"]
ACTIONS = ["pull", "push", "delete_tag", "delete_manifest", "catalog", "settings", "team_access"]
ADMIN_ROLES = {"erin", "alice", "frank", "admin"}


def expected(role: str, action: str, visibility: str) -> bool | None:
    """DTR's answer; None where the cell does not apply (user namespaces have no teams)."""
    if role == "alice" and action == "team_access":
        return None
    if role in ADMIN_ROLES:
        return True
    if role == "dave":  # read-write team
        return action in {"pull", "push", "delete_tag", "delete_manifest", "catalog"}
    if role == "carol":  # read-only team
        return action in {"pull", "catalog"}
    # anonymous and bob: public pull only (bob also sees public repos in the catalog)
    if action == "pull":
        return visibility == "public"
    if action == "catalog":
        return role == "bob" and visibility == "public"
    return False


@pytest.fixture(scope="module")
def world(app_registry: ThreadedApp) -> Iterator[World]:
    with app_registry.client(auth=None) as c:
        yield World(c, app_registry.admin).build()


def _auth(creds: tuple[str, str] | None) -> httpx.Auth | None:
    return httpx.BasicAuth(*creds) if creds else None


def _repo(world: World, role: str, visibility: str) -> str:
    namespace = world.name("alice") if role == "alice" else world.org
    return f"{namespace}/{visibility}-repo"


def attempt(world: World, role: str, action: str, visibility: str) -> bool:
    """Try the action as the role; True when the registry allowed it."""
    client = world.client
    repo = _repo(world, role, visibility)
    auth = _auth(world.creds(role))
    # A fresh image to act on, pushed by the administrator.
    status, digest = push_image(client, repo, f"t-{role}-{action}", _auth(world.admin))
    assert status == 201, status
    if action == "pull":
        r = client.get(f"/v2/{repo}/manifests/{digest}", auth=auth)
        return _allowed(r, 200)
    if action == "push":
        status, _ = push_image(client, repo, f"p-{role}", auth)
        return status == 201
    if action == "delete_tag":
        r = client.delete(f"/v2/{repo}/manifests/t-{role}-{action}", auth=auth)
        return _allowed(r, 202)
    if action == "delete_manifest":
        r = client.delete(f"/v2/{repo}/manifests/{digest}", auth=auth)
        return _allowed(r, 202)
    if action == "catalog":
        r = client.get("/v2/_catalog", params={"n": 10000}, auth=auth)
        if r.status_code == 401:
            return False
        assert r.status_code == 200, r.text
        return repo in r.json()["repositories"]
    if action == "settings":
        r = client.patch(
            f"/api/v0/repositories/{repo}", json={"shortDescription": f"by {role}"}, auth=auth
        )
        return _allowed(r, 200)
    if action == "team_access":
        r = client.put(
            f"/api/v0/repositories/{repo}/teamAccess/ro",
            json={"accessLevel": "read-only"},
            auth=auth,
        )
        return _allowed(r, 200)
    raise AssertionError(action)


def _allowed(r: httpx.Response, success: int) -> bool:
    if r.status_code == success:
        return True
    assert r.status_code in (401, 403, 404), (r.status_code, r.text)
    assert r.json()["errors"][0]["code"]
    return False


@pytest.mark.parametrize("visibility", ["private", "public"])
@pytest.mark.parametrize("role", ROLES)
def test_matrix(world: World, role: str, visibility: str) -> None:
    want = {action: expected(role, action, visibility) for action in ACTIONS}
    got = {
        action: attempt(world, role, action, visibility)
        for action, answer in want.items()
        if answer is not None
    }
    assert got == {action: answer for action, answer in want.items() if answer is not None}
