"""Mirroring, promotion and content caches: 501 in DTR's envelope, but only after the caller
passed the check DTR's description of the endpoint asks for (anonymous → 401, a repository
they may not see → 404, too low a level → 403). Never a bare 404 or 405."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.world import World

REPO = "/api/v0/repositories/{repo}"
# (method, path under the repository or absolute, level DTR asks for: read | admin | write-target)
REPOSITORY_ROUTES = [
    ("GET", "/mirroringPolicies", "read"),
    ("DELETE", "/mirroringPolicies", "admin"),
    ("GET", "/pollMirroringPolicies", "read"),
    ("POST", "/pollMirroringPolicies", "admin"),
    ("GET", "/pollMirroringPolicies/p1", "read"),
    ("PUT", "/pollMirroringPolicies/p1", "admin"),
    ("DELETE", "/pollMirroringPolicies/p1", "admin"),
    ("GET", "/pushMirroringPolicies", "read"),
    ("POST", "/pushMirroringPolicies", "admin"),
    ("GET", "/pushMirroringPolicies/p1", "read"),
    ("PUT", "/pushMirroringPolicies/p1", "admin"),
    ("DELETE", "/pushMirroringPolicies/p1", "admin"),
    ("POST", "/tags/latest/pushMirroring", "read"),
    ("GET", "/promotionPolicies", "read"),
    ("POST", "/promotionPolicies", "admin"),
    ("GET", "/promotionPolicies/p1", "read"),
    ("PUT", "/promotionPolicies/p1", "admin"),
    ("DELETE", "/promotionPolicies/p1", "admin"),
    ("POST", "/tags/latest/promotion", "read"),
]
CACHE_ROUTES = [
    ("GET", "/api/v0/content_caches", "signed-in"),
    ("POST", "/api/v0/content_caches", "admin"),
    ("GET", "/api/v0/content_caches/c1", "signed-in"),
    ("DELETE", "/api/v0/content_caches/c1", "admin"),
]


def _call(api: httpx.Client, method: str, url: str, auth: tuple[str, str] | None) -> httpx.Response:
    return api.request(method, url, auth=auth)  # type: ignore[arg-type]


def _code(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    entry = body["errors"][0]
    assert {"code", "message"} <= set(entry), entry
    return str(entry["code"])


def _not_implemented(r: httpx.Response) -> None:
    assert r.status_code == 501, (r.request.method, r.request.url, r.status_code, r.text)
    assert _code(r) == "NOT_IMPLEMENTED"
    entry = r.json()["errors"][0]
    assert "not implemented" in entry["message"] and entry["detail"]["operation"]


@pytest.mark.parametrize(("method", "path", "level"), REPOSITORY_ROUTES)
def test_repository_routes_check_the_caller_then_answer_501(
    api: httpx.Client, world: World, method: str, path: str, level: str
) -> None:
    private = f"{world.org}/private-repo"
    url = REPO.format(repo=private) + path
    # Anonymous: 401, whatever the repository (a public one too): nothing revealed.
    for repo in (private, f"{world.org}/public-repo", f"{world.org}/no-such-repo"):
        r = _call(api, method, REPO.format(repo=repo) + path, None)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert _code(r) == "NOT_AUTHENTICATED"
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    # Signed in but no access to the private repository: it does not exist for them.
    r = _call(api, method, url, world.creds("bob"))
    assert r.status_code == 404 and _code(r) == "NO_SUCH_REPOSITORY", r.text
    # A repository that does not exist: the same 404.
    r = _call(api, method, REPO.format(repo=f"{world.org}/no-such-repo") + path, world.admin)
    assert r.status_code == 404 and _code(r) == "NO_SUCH_REPOSITORY", r.text
    # A read-only member: enough to read, refused where DTR asks for admin.
    r = _call(api, method, url, world.creds("carol"))
    if level == "admin":
        assert r.status_code == 403 and _code(r) == "NOT_AUTHORIZED", r.text
        _not_implemented(_call(api, method, url, world.creds("erin")))  # the admin team
    else:
        _not_implemented(r)
    _not_implemented(_call(api, method, url, world.admin))


def test_promotion_to_a_target_needs_write_there(api: httpx.Client, world: World) -> None:
    url = REPO.format(repo=f"{world.org}/public-repo") + "/tags/latest/promotion"
    body = {"targetRepository": f"{world.org}/private-repo", "targetTag": "v1"}
    r = api.post(url, json=body, auth=world.creds("carol"))  # read-only on the target
    assert r.status_code == 403 and _code(r) == "NOT_AUTHORIZED", r.text
    _not_implemented(api.post(url, json=body, auth=world.creds("dave")))  # read-write


def test_a_bad_body_is_refused_in_the_envelope(api: httpx.Client, world: World) -> None:
    url = REPO.format(repo=f"{world.org}/private-repo") + "/pollMirroringPolicies"
    r = api.post(url, json={"remoteHost": 5}, auth=world.admin)
    assert r.status_code == 400 and _code(r) == "INVALID_JSON", r.text
    r = api.post(url, json={"remoteHost": 5})  # anonymous: still 401 first
    assert r.status_code == 401, r.text


@pytest.mark.parametrize(("method", "url", "level"), CACHE_ROUTES)
def test_content_caches_check_the_caller_then_answer_501(
    api: httpx.Client, world: World, method: str, url: str, level: str
) -> None:
    r = _call(api, method, url, None)
    assert r.status_code == 401 and _code(r) == "NOT_AUTHENTICATED", r.text
    r = _call(api, method, url, world.creds("bob"))
    if level == "admin":
        assert r.status_code == 403 and _code(r) == "NOT_AUTHORIZED", r.text
    else:
        _not_implemented(r)
    _not_implemented(_call(api, method, url, world.admin))


def test_the_openapi_document_describes_dtr_bodies_and_the_501(api: httpx.Client) -> None:
    doc = api.get("/api/v0/openapi.json").json()
    op = doc["paths"]["/repositories/{namespace}/{repo}/pushMirroringPolicies"]["post"]
    created = op["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/PushMirroringPolicy")
    refused = op["responses"]["501"]["content"]["application/json"]["schema"]
    assert refused["$ref"].endswith("/ErrorEnvelope")
    schemas = doc["components"]["schemas"]
    assert {"rules", "tagTemplate", "remoteHost", "lastStatus"} <= set(
        schemas["PushMirroringPolicy"]["properties"]
    )
    assert "requestBody" in op
