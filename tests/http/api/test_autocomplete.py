"""/api/v0/index/autocomplete: repositories the caller may pull, and accounts."""

from __future__ import annotations

import httpx

from tests.auth.world import World


def test_autocomplete_respects_visibility(api: httpx.Client, world: World) -> None:
    def search(
        auth: tuple[str, str] | None, **params: object
    ) -> dict[str, list[dict[str, object]]]:
        r = api.get("/api/v0/index/autocomplete", params=params, auth=auth)
        assert r.status_code == 200, r.text
        body: dict[str, list[dict[str, object]]] = r.json()
        return body

    alice_ns = world.name("alice")

    def repos(body: dict[str, list[dict[str, object]]]) -> set[str]:
        return {f"{r['namespace']}/{r['name']}" for r in body["repositoryResults"]}

    everything = {f"{alice_ns}/private-repo", f"{alice_ns}/public-repo"}
    assert repos(search(world.admin, query=alice_ns)) == everything
    assert repos(search(world.creds("alice"), query=alice_ns)) == everything
    assert repos(search(world.creds("bob"), query=alice_ns)) == {f"{alice_ns}/public-repo"}
    anonymous = search(None, query=alice_ns)
    assert repos(anonymous) == {f"{alice_ns}/public-repo"}
    assert anonymous["accountResults"] == []

    by_bob = search(world.creds("bob"), query=world.suffix)
    names = {a["name"] for a in by_bob["accountResults"]}
    assert {world.name("alice"), world.name("bob"), world.org} <= names
    org_repos = repos(search(world.creds("carol"), query="repo", namespace=world.org, limit=50))
    assert org_repos == {f"{world.org}/private-repo", f"{world.org}/public-repo"}
    only_repos = search(world.creds("bob"), query=world.suffix, includeAccounts="false")
    assert only_repos["accountResults"] == []
    # LIKE wildcards in the query are literal.
    assert search(world.admin, query="%")["repositoryResults"] == []
    assert api.get("/api/v0/index/autocomplete", auth=world.admin).status_code == 400
