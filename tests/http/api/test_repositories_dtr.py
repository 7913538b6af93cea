"""``/api/v0/repositories`` answering as DTR 2.7's Swagger says: creating a repository that
exists is a 400 ``REPOSITORY_EXISTS``; a visibility other than public/private is a 400
``INVALID_REPOSITORY_VISIBILITY``, and nothing is stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.auth.world import PASSWORD, World
from tests.inprocess import ThreadedApp


def _error(body: Any) -> dict[str, Any]:
    (entry,) = body["errors"]
    assert set(entry) >= {"code", "message"}
    return dict(entry)


def test_existing_repository_is_400_repository_exists(app_registry: ThreadedApp) -> None:
    name = f"r{uuid.uuid4().hex[:8]}"
    with app_registry.client() as c:
        assert c.post("/api/v0/repositories/admin", json={"name": name}).status_code == 201
        r = c.post("/api/v0/repositories/admin", json={"name": name})
        assert r.status_code == 400, r.text
        assert _error(r.json())["code"] == "REPOSITORY_EXISTS"


def test_bad_visibility_is_refused_and_nothing_stored(app_registry: ThreadedApp) -> None:
    name = f"r{uuid.uuid4().hex[:8]}"
    with app_registry.client() as c:
        r = c.post("/api/v0/repositories/admin", json={"name": name, "visibility": "secret"})
        assert r.status_code == 400, r.text
        assert _error(r.json())["code"] == "INVALID_REPOSITORY_VISIBILITY"
        assert c.get(f"/api/v0/repositories/admin/{name}").status_code == 404
        assert c.post("/api/v0/repositories/admin", json={"name": name}).status_code == 201
        r = c.patch(f"/api/v0/repositories/admin/{name}", json={"visibility": "hidden"})
        assert r.status_code == 400, r.text
        assert _error(r.json())["code"] == "INVALID_REPOSITORY_VISIBILITY"
        assert c.get(f"/api/v0/repositories/admin/{name}").json()["visibility"] == "public"


def test_creating_needs_a_caller_who_may(app_registry: ThreadedApp) -> None:
    with app_registry.client(auth=None) as anon:
        r = anon.post("/api/v0/repositories/admin", json={"name": "nobody"})
        assert r.status_code == 401, r.text


def test_count_true_sends_x_resource_count(app_registry: ThreadedApp) -> None:
    ns = f"o{uuid.uuid4().hex[:8]}"
    with app_registry.client() as c:
        assert c.post("/enzi/v0/accounts", json={"name": ns, "isOrg": True}).status_code < 300
        for i in range(3):
            seen = "private" if i == 0 else "public"
            r = c.post(f"/api/v0/repositories/{ns}", json={"name": f"r{i}", "visibility": seen})
            assert r.status_code == 201, r.text
        r = c.get(f"/api/v0/repositories/{ns}", params={"count": "true", "pageSize": 2})
        assert r.status_code == 200, r.text
        assert r.headers["X-Resource-Count"] == "3"
        assert len(r.json()["repositories"]) == 2
        assert "X-Resource-Count" not in c.get(f"/api/v0/repositories/{ns}").headers
        everything = c.get("/api/v0/repositories", params={"count": "true"})
        assert int(everything.headers["X-Resource-Count"]) >= 3
    with app_registry.client(auth=None) as anon:
        # a caller counts only what it may see: the private repository is not counted
        r = anon.get(f"/api/v0/repositories/{ns}", params={"count": "true"})
        assert r.status_code == 200, r.text
        assert r.headers["X-Resource-Count"] == "2"


def test_one_teams_namespace_access_is_shown_to_whom_dtr_shows_it(
    api: httpx.Client, world: World
) -> None:
    """``GET /repositoryNamespaces/{ns}/teamAccess/{team}``: namespace administrators (the
    admin, the org's owner) and the team's members see it; other members of the org and
    outsiders get 403, anonymous callers 401; a team without a grant is a 404."""
    org = world.org
    path = f"/api/v0/repositoryNamespaces/{org}/teamAccess"
    r = api.put(f"{path}/rw", json={"accessLevel": "read-write"}, auth=world.admin)
    assert r.status_code == 200, r.text
    for who in ("admin", "frank", "dave"):
        r = api.get(f"{path}/rw", auth=world.creds(who))
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert body["accessLevel"] == "read-write" and body["team"]["name"] == "rw"
    for who, status in (("carol", 403), ("bob", 403), ("anonymous", 401)):
        r = api.get(f"{path}/rw", auth=world.creds(who))
        assert r.status_code == status, (who, r.text)
        assert _error(r.json())["code"]
    r = api.get(f"{path}/adm", auth=world.admin)
    assert r.status_code == 404, r.text
    r = api.get(f"{path}/nosuchteam", auth=world.admin)
    assert r.status_code == 404 and _error(r.json())["code"] == "NO_SUCH_TEAM", r.text
    r = api.get(f"{path}/nosuchteam", auth=world.creds("bob"))  # nothing learnt from outside
    assert r.status_code == 403, r.text


def test_a_whole_namespace_is_removed_as_dtr_says(api: httpx.Client, world: World) -> None:
    """``DELETE /accounts/{ns}/repositories``: the user, the org's owners or an admin remove
    every repository and keep the account; ``DELETE /accounts/{ns}``: an admin removes the
    account with its repositories, 204 again when it is gone."""
    zed = world.name("zed")
    r = api.post("/enzi/v0/accounts", json={"name": zed, "password": PASSWORD}, auth=world.admin)
    assert r.status_code == 201, r.text

    def make(*names: str) -> None:
        for name in names:
            r = api.post(f"/api/v0/repositories/{zed}", json={"name": name}, auth=world.admin)
            assert r.status_code == 201, r.text

    def exists(name: str) -> bool:
        return api.get(f"/api/v0/repositories/{zed}/{name}", auth=world.admin).status_code == 200

    make("one", "two")
    path = f"/api/v0/accounts/{zed}/repositories"
    assert api.delete(path).status_code == 401
    assert api.delete(path, auth=world.creds("bob")).status_code == 403
    assert exists("one") and exists("two")
    assert api.delete(path, auth=(zed, PASSWORD)).status_code == 204
    assert not exists("one") and not exists("two")
    assert api.get(f"/enzi/v0/accounts/{zed}", auth=world.admin).status_code == 200
    r = api.delete(f"/api/v0/accounts/{world.org}/repositories", auth=world.creds("carol"))
    assert r.status_code == 403, r.text  # a team member, not an owner of the org
    assert api.get(f"/api/v0/repositories/{world.org}/public-repo").status_code == 200

    make("three")
    assert api.delete(f"/api/v0/accounts/{zed}", auth=(zed, PASSWORD)).status_code == 403
    assert api.delete(f"/api/v0/accounts/{zed}", auth=world.admin).status_code == 204
    assert not exists("three")
    assert api.get(f"/enzi/v0/accounts/{zed}", auth=world.admin).status_code == 404
    assert api.delete(f"/api/v0/accounts/{zed}", auth=world.admin).status_code == 204
    r = api.delete(path, auth=world.admin)
    assert r.status_code == 404 and _error(r.json())["code"] == "NO_SUCH_ACCOUNT", r.text
