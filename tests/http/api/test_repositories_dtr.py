"""``/api/v0/repositories`` answering as DTR 2.7's Swagger says: creating a repository that
exists is a 400 ``REPOSITORY_EXISTS``; a visibility other than public/private is a 400
``INVALID_REPOSITORY_VISIBILITY``, and nothing is stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.auth.world import PASSWORD, World
from tests.http.api.dtr_schema import assert_matches
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
    r = api.delete(f"/api/v0/accounts/{world.admin[0]}", auth=world.admin)
    assert r.status_code == 400, r.text  # not one's own account
    assert api.delete(f"/api/v0/accounts/{zed}", auth=(zed, PASSWORD)).status_code == 403
    assert api.delete(f"/api/v0/accounts/{zed}", auth=world.admin).status_code == 204
    assert not exists("three")
    assert api.get(f"/enzi/v0/accounts/{zed}", auth=world.admin).status_code == 404
    assert api.delete(f"/api/v0/accounts/{zed}", auth=world.admin).status_code == 204
    r = api.delete(path, auth=world.admin)
    assert r.status_code == 404 and _error(r.json())["code"] == "NO_SUCH_ACCOUNT", r.text


# ---- DTR's definitions, paging, and who sees what ------------------------------------------------


def _walk(api: httpx.Client, path: str, auth: Any, size: int = 2) -> list[str]:
    """Every repository a listing shows, page by page (``X-Next-Page-Start``)."""
    seen: list[str] = []
    params: dict[str, Any] = {"pageSize": size}
    for _ in range(100):
        r = api.get(path, params=params, auth=auth)
        assert r.status_code == 200, r.text
        assert_matches(r.json(), "responses.Repositories")
        page = r.json()["repositories"]
        assert len(page) <= size
        seen += [f"{x['namespace']}/{x['name']}" for x in page]
        if "X-Next-Page-Start" not in r.headers:
            return seen
        params["pageStart"] = r.headers["X-Next-Page-Start"]
    raise AssertionError("paging never ended")


def test_listings_page_and_never_leak_private_repositories(api: httpx.Client, world: World) -> None:
    org, alice = world.org, world.name("alice")
    everything = {f"{ns}/{v}-repo" for ns in (org, alice) for v in ("private", "public")}
    public = {f"{ns}/public-repo" for ns in (org, alice)}
    want = {
        "anonymous": public,
        "bob": public,
        "carol": public | {f"{org}/private-repo"},  # her team's grant
        "erin": public | {f"{org}/private-repo"},
        "frank": public | {f"{org}/private-repo"},  # the org's owner
        "alice": public | {f"{alice}/private-repo"},
        "admin": everything,
    }
    for who, expected in want.items():
        seen = _walk(api, "/api/v0/repositories", world.creds(who))
        assert len(seen) == len(set(seen)), (who, seen)  # no repository twice across pages
        assert set(seen) & everything == expected, who
        assert seen == sorted(seen), who
        for ns in (org, alice):
            in_ns = _walk(api, f"/api/v0/repositories/{ns}", world.creds(who), size=1)
            assert set(in_ns) == {n for n in expected if n.startswith(f"{ns}/")}, (who, ns)
        r = api.get("/api/v0/repositories", params={"count": "true"}, auth=world.creds(who))
        assert int(r.headers["X-Resource-Count"]) == len(seen), who


def test_a_namespace_that_does_not_exist_is_404(api: httpx.Client, world: World) -> None:
    r = api.get("/api/v0/repositories/nosuchnamespaceatall", auth=world.admin)
    assert r.status_code == 404 and _error(r.json())["code"] == "NO_SUCH_ACCOUNT", r.text
    r = api.post("/api/v0/repositories/nosuchnamespaceatall", json={"name": "x"}, auth=world.admin)
    assert r.status_code == 404 and _error(r.json())["code"] == "NO_SUCH_ACCOUNT", r.text


def test_who_may_create_a_repository(api: httpx.Client, world: World) -> None:
    """DTR: admin access to the namespace (the user, the org's owners, admin-level teams of
    the namespace, system admins)."""
    org, alice = world.org, world.name("alice")
    form = {
        "name": "",
        "shortDescription": "s",
        "longDescription": "l",
        "scanOnPush": False,
        "immutableTags": True,
        "enableManifestLists": False,
        "tagLimit": 5,
        "visibility": "private",
    }  # DTR's forms.CreateRepo, every field
    for who, ns in (("bob", org), ("carol", org), ("dave", org), ("erin", org), ("bob", alice)):
        r = api.post(
            f"/api/v0/repositories/{ns}", json={**form, "name": f"by-{who}"}, auth=world.creds(who)
        )
        assert r.status_code == 403, (who, ns, r.text)
        assert _error(r.json())["code"] == "NOT_AUTHORIZED"
    r = api.post(f"/api/v0/repositories/{org}", json={**form, "name": "anon"})
    assert r.status_code == 401 and _error(r.json())["code"] == "NOT_AUTHENTICATED"
    for who, ns in (("frank", org), ("alice", alice), ("admin", org)):
        r = api.post(
            f"/api/v0/repositories/{ns}", json={**form, "name": f"by-{who}"}, auth=world.creds(who)
        )
        assert r.status_code == 201, (who, r.text)
        assert_matches(r.json(), "responses.Repository")
        got = r.json()
        assert (got["namespace"], got["name"], got["visibility"]) == (ns, f"by-{who}", "private")
        assert (got["immutableTags"], got["tagLimit"], got["shortDescription"]) == (True, 5, "s")
        assert got["namespaceType"] == ("user" if ns == alice else "organization")
    # a team with admin access to the namespace may create there
    r = api.put(
        f"/api/v0/repositoryNamespaces/{org}/teamAccess/rw",
        json={"accessLevel": "admin"},
        auth=world.admin,
    )
    assert r.status_code == 200, r.text
    try:
        r = api.post(
            f"/api/v0/repositories/{org}",
            json={**form, "name": "by-dave"},
            auth=world.creds("dave"),
        )
        assert r.status_code == 201, r.text
    finally:
        api.delete(f"/api/v0/repositoryNamespaces/{org}/teamAccess/rw", auth=world.admin)
    for bad, code in (
        ({"name": "a/b"}, "INVALID_INPUT"),
        ({"name": "UPPER"}, "NAME_INVALID"),
        ({}, "INVALID_JSON"),
        ({"name": "ok", "tagLimit": -1}, "INVALID_INPUT"),
        ({"name": "ok", "visibility": "internal"}, "INVALID_REPOSITORY_VISIBILITY"),
    ):
        r = api.post(f"/api/v0/repositories/{org}", json=bad, auth=world.admin)
        assert r.status_code == 400 and _error(r.json())["code"] == code, (bad, r.text)
    assert api.get(f"/api/v0/repositories/{org}/ok", auth=world.admin).status_code == 404


def test_get_and_patch_as_dtr_says(api: httpx.Client, world: World) -> None:
    org = world.org
    for vis in ("private", "public"):
        path = f"/api/v0/repositories/{org}/{vis}-repo"
        r = api.get(path, auth=world.creds("carol"))
        assert r.status_code == 200, r.text
        assert_matches(r.json(), "responses.Repository")
        for who in ("bob", "anonymous", "alice"):
            r = api.get(path, auth=world.creds(who))
            if vis == "public":
                assert r.status_code == 200, (who, r.text)
            else:
                assert r.status_code == 404 and _error(r.json())["code"] == "NO_SUCH_REPOSITORY"
        patch = {"immutableTags": False, "shortDescription": f"by erin {vis}"}
        for who in ("carol", "dave") + (("bob",) if vis == "public" else ()):
            r = api.patch(path, json=patch, auth=world.creds(who))
            assert r.status_code == 403 and _error(r.json())["code"] == "NOT_AUTHORIZED", who
        r = api.patch(path, json=patch)
        assert r.status_code == 401, r.text
        r = api.patch(path, json=patch, auth=world.creds("erin"))
        assert r.status_code == 200, r.text
        assert_matches(r.json(), "responses.Repository")
        assert r.json()["shortDescription"] == f"by erin {vis}"
    r = api.patch(
        f"/api/v0/repositories/{org}/nothing", json={"immutableTags": False}, auth=world.admin
    )
    assert r.status_code == 404 and _error(r.json())["code"] == "NO_SUCH_REPOSITORY"
    r = api.patch(
        f"/api/v0/repositories/{org}/public-repo", json={"name": "renamed"}, auth=world.admin
    )
    assert r.status_code == 400, r.text  # DTR: a repository cannot be renamed this way


def test_delete_is_204_also_for_what_does_not_exist(api: httpx.Client, world: World) -> None:
    org = world.org
    for name in ("gone-a", "gone-b"):
        r = api.post(
            f"/api/v0/repositories/{org}",
            json={"name": name, "visibility": "private"},
            auth=world.admin,
        )
        assert r.status_code == 201, r.text
    path = f"/api/v0/repositories/{org}/gone-a"
    assert api.delete(path).status_code == 401
    # bob may not see it: answered as if it did not exist (204), and it is left alone
    assert api.delete(path, auth=world.creds("bob")).status_code == 204
    assert api.get(path, auth=world.admin).status_code == 200
    # visible to the team members but only admins may delete it
    r = api.put(f"{path}/teamAccess/rw", json={"accessLevel": "read-write"}, auth=world.admin)
    assert r.status_code == 200
    r = api.delete(path, auth=world.creds("dave"))
    assert r.status_code == 403 and _error(r.json())["code"] == "NOT_AUTHORIZED", r.text
    assert (
        api.delete(
            path, params={"domain": "dtr.example.com"}, auth=world.creds("frank")
        ).status_code
        == 204
    )
    assert api.get(path, auth=world.admin).status_code == 404
    assert api.delete(path, auth=world.admin).status_code == 204  # again: nothing there
    r = api.delete(f"/api/v0/repositories/{org}/gone-b", auth=world.admin)
    assert r.status_code == 204
    assert api.get(f"/api/v0/repositories/{org}/gone-b", auth=world.admin).status_code == 404


def test_scan_on_push_is_toggled_for_every_repository(api: httpx.Client, world: World) -> None:
    """``POST /repositories/scan/toggle`` with ``forms.ToggleScanOnPush``: system admins only
    (every repository is theirs to administer); 200 without a body."""
    path = "/api/v0/repositories/scan/toggle"
    assert api.post(path, json={"scanOnPush": True}).status_code == 401
    for who in ("bob", "frank", "erin", "alice"):
        r = api.post(path, json={"scanOnPush": True}, auth=world.creds(who))
        assert r.status_code == 403 and _error(r.json())["code"] == "NOT_AUTHORIZED", who
    assert not any(r["scanOnPush"] for r in _all(api, world))
    for bad in ({}, {"scanOnPush": "yes"}, {"scanOnPush": 1}, {"scanOnPush": True, "x": 1}):
        r = api.post(path, json=bad, auth=world.admin)
        assert r.status_code == 400 and _error(r.json())["code"] == "INVALID_JSON", (bad, r.text)
    r = api.post(
        path, content=b"{not json", headers={"Content-Type": "application/json"}, auth=world.admin
    )
    assert r.status_code == 400, r.text
    try:
        r = api.post(path, json={"scanOnPush": True}, auth=world.admin)
        assert r.status_code == 200 and r.content == b"", r.text
        assert all(r["scanOnPush"] for r in _all(api, world))
        repo = f"{world.org}/public-repo"
        r = api.get(
            f"/api/v0/repositories/{repo}/events",
            params={"eventType": "REPO_SETTINGS_CHANGE", "pageSize": 100},
            auth=world.admin,
        )
        assert r.status_code == 200, r.text
        toggled = [e for e in r.json()["events"] if e["actor"] == world.admin[0]]
        assert toggled and toggled[0]["type"] == "REPO_SETTINGS_CHANGE", r.text
        assert toggled[0]["details"] == {"scanOnPush": True}
    finally:
        r = api.post(path, json={"scanOnPush": False}, auth=world.admin)
        assert r.status_code == 200, r.text
    assert not any(r["scanOnPush"] for r in _all(api, world))


def _all(api: httpx.Client, world: World) -> list[dict[str, Any]]:
    r = api.get("/api/v0/repositories", params={"pageSize": 1000}, auth=world.admin)
    assert r.status_code == 200 and r.json()["repositories"], r.text
    return list(r.json()["repositories"])


def test_the_listing_is_served_with_a_trailing_slash(api: httpx.Client, world: World) -> None:
    """Go's DTR clients ask ``/api/v0/repositories/``: the same listing, not a redirect."""
    r = api.get("/api/v0/repositories/", params={"pageSize": 1}, auth=world.creds("bob"))
    assert r.status_code == 200, r.text
    assert_matches(r.json(), "responses.Repositories")
    assert "X-Next-Page-Start" in r.headers
    plain = api.get("/api/v0/repositories", params={"pageSize": 1}, auth=world.creds("bob"))
    assert r.json() == plain.json()
