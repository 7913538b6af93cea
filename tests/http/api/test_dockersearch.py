"""``GET /api/v0/index/dockersearch`` and ``GET /v1/search`` (what ``docker search
<registry>/<term>`` calls on the registry's host): DTR's ``responses.DockerSearch``, only
repositories the caller may pull."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.world import World
from tests.http.api.dtr_schema import assert_matches

PATH = "/api/v0/index/dockersearch"
PATHS = pytest.mark.parametrize("path", [PATH, "/v1/search"])


def _names(
    api: httpx.Client, world: World, who: str, path: str = PATH, **params: object
) -> set[str]:
    r = api.get(path, params={"q": world.suffix, **params}, auth=world.creds(who))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.DockerSearch")
    assert body["query"] == world.suffix
    names = {entry["name"] for entry in body["results"]}
    assert body["num_results"] >= len(names)
    return names


def test_results_are_dtrs_docker_search(api: httpx.Client, world: World) -> None:
    r = api.get(PATH, params={"q": "public-repo"}, auth=world.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert_matches(body, "responses.DockerSearch")
    assert body["results"], body
    entry = body["results"][0]
    assert entry["star_count"] == 0 and entry["is_official"] is False
    assert entry["is_trusted"] is False and "public-repo" in entry["name"]
    assert body["num_results"] >= len(body["results"])


@pytest.mark.parametrize(
    ("who", "sees_alice_private", "sees_org_private"),
    [
        ("anonymous", False, False),
        ("bob", False, False),
        ("carol", False, True),  # read-only team of the org
        ("alice", True, False),
        ("admin", True, True),
    ],
)
@PATHS
def test_only_repositories_the_caller_may_pull(
    api: httpx.Client,
    world: World,
    path: str,
    who: str,
    sees_alice_private: bool,
    sees_org_private: bool,
) -> None:
    names = _names(api, world, who, path)
    alice, org = world.name("alice"), world.org
    assert f"{alice}/public-repo" in names and f"{org}/public-repo" in names
    assert (f"{alice}/private-repo" in names) is sees_alice_private
    assert (f"{org}/private-repo" in names) is sees_org_private


def test_limit_caps_results_not_the_count(api: httpx.Client, world: World) -> None:
    r = api.get(PATH, params={"q": world.suffix, "n": 1}, auth=world.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["results"]) == 1 and body["num_results"] == 4


@pytest.mark.parametrize("params", [{}, {"q": "x", "n": 0}, {"q": "x", "n": 101}, {"q": "x" * 300}])
@PATHS
def test_bad_queries_get_dtrs_envelope(
    api: httpx.Client, path: str, params: dict[str, object]
) -> None:
    """DTR's 400 for a query it cannot parse: INVALID_PARAMETERS, in its envelope."""
    r = api.get(path, params=params)
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert error["code"] == "INVALID_PARAMETERS" and error["message"], r.text
    assert error["detail"], r.text


@PATHS
def test_bad_credentials_are_dtrs_not_authenticated(
    api: httpx.Client, world: World, path: str
) -> None:
    """Anonymous callers search the public repositories (what ``docker search`` does without
    a login); wrong credentials are refused, as DTR's 401 NOT_AUTHENTICATED."""
    r = api.get(path, params={"q": "public-repo"}, auth=(world.name("alice"), "wrong-password"))
    assert r.status_code == 401, r.text
    assert r.json()["errors"][0]["code"] == "NOT_AUTHENTICATED", r.text
