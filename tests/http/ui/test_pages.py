"""The web UI over plain HTTP: sign in, sessions, CSRF, who sees which repository, the forms."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.auth.world import OCI_MANIFEST, PASSWORD, World, digest_of, push_image
from tests.conftest import ADMIN, RunningRegistry
from tests.http.ui.conftest import browser, csrf_of, sign_in
from tests.inprocess import ThreadedApp
from tests.services.tls import self_signed

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


@pytest.fixture(scope="module")
def registry(app_registry: ThreadedApp) -> ThreadedApp:
    """No server is under test here: the in-process app stands in for one."""
    return app_registry


def test_pages_need_a_session(registry: ThreadedApp) -> None:
    with browser(registry) as c:
        r = c.get("/tokens?q=x")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Ftokens%3Fq%3Dx"
        # The repository list is the public one without a session (tests/http/ui/test_browsing.py).
        assert 'id="sign-in-link"' in c.get("/repositories").text
        assert c.get("/static/ui.css").headers["content-type"].startswith("text/css")
        # A POST without a session is refused, never redirected into an action.
        assert c.post("/repositories/new", data={"name": "x"}).status_code == 403
        # The UI adds paths, nothing else: other routes keep their answers.
        assert c.request("PATCH", "/_ping").status_code == 405
        assert c.get("/no/such/page").status_code == 404
        assert c.get("/api/v0/repositories").headers["content-type"] == "application/json"


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(registry: ThreadedApp) -> None:
    with browser(registry) as c:
        form = c.get("/login")
        bad = c.post(
            "/login",
            data={"csrf": csrf_of(form), "username": ADMIN[0], "password": "wrong-password"},
        )
        assert bad.status_code == 401
        assert "Invalid username or password" in bad.text
        ok = c.post(
            "/login",
            data={
                "csrf": csrf_of(bad),
                "username": ADMIN[0],
                "password": ADMIN[1],
                "next": "/admin/users",
            },
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == "/admin/users"
        cookie = next(
            v for v in ok.headers.get_list("set-cookie") if v.startswith("moorage_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain HTTP here; set when served over TLS
        session = c.cookies.get("moorage_session")
        page = c.get("/repositories")
        assert page.status_code == 200
        assert 'id="signed-in-as">admin' in page.text
        out = c.post("/logout", data={"csrf": csrf_of(page)})
        assert out.status_code == 303
        assert out.headers["location"] == "/login"
    # The old cookie is worth nothing now: the session row is gone.
    with browser(registry) as other:
        assert session
        other.cookies.set("moorage_session", session)
        assert other.get("/tokens").status_code == 303
        assert 'id="signed-in-as"' not in other.get("/repositories").text


def test_open_redirects_are_refused(registry: ThreadedApp) -> None:
    with browser(registry) as c:
        form = c.get("/login")
        r = c.post(
            "/login",
            data={
                "csrf": csrf_of(form),
                "username": ADMIN[0],
                "password": ADMIN[1],
                "next": "//evil.example/",
            },
        )
        assert r.headers["location"] == "/repositories"


def test_csrf_token_is_required_on_every_form(
    registry: ThreadedApp, world: World, client: httpx.Client
) -> None:
    with browser(registry) as c:
        # The login form needs its own token (cookie + field).
        assert (
            c.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]}).status_code == 403
        )
    with sign_in(registry, *ADMIN) as c:
        name = world.name("csrfrepo")
        for data in (
            {"namespace": "admin", "name": name},
            {"namespace": "admin", "name": name, "csrf": "not-the-token"},
        ):
            r = c.post("/repositories/new", data=data)
            assert r.status_code == 403
            assert "CSRF" in r.text
        assert client.get(f"/api/v0/repositories/admin/{name}").status_code == 404
        r = c.post("/admin/settings", data={"read_only_registry": "on"})
        assert r.status_code == 403
        assert client.get("/api/v0/meta/settings").json()["readOnlyRegistry"] is False
        # Another session's token does not do either.
        with sign_in(registry, *ADMIN) as other:
            foreign = csrf_of(other.get("/tokens"))
        r = c.post("/repositories/new", data={"namespace": "admin", "name": name, "csrf": foreign})
        assert r.status_code == 403


def test_users_never_see_repositories_they_may_not_pull(
    registry: ThreadedApp, world: World
) -> None:
    private = f"{world.org}/private-repo"
    public = f"{world.org}/public-repo"
    alice_private = f"{world.name('alice')}/private-repo"
    with sign_in(registry, world.name("bob"), PASSWORD) as bob:
        listing = bob.get("/repositories")
        assert public in listing.text
        assert private not in listing.text
        assert alice_private not in listing.text
        assert private not in bob.get("/repositories", params={"q": "private"}).text
        for path in ("", "/activity", "/settings", "/permissions", "/tags/latest"):
            r = bob.get(f"/repositories/{private}{path}")
            assert r.status_code == 404, path
            assert private not in r.text or "no such repository" in r.text.lower()
        r = bob.post(
            f"/repositories/{private}/delete",
            data={"csrf": csrf_of(listing), "confirm": private},
        )
        assert r.status_code == 404
        # Public, but not his: readable, not administrable.
        assert bob.get(f"/repositories/{public}").status_code == 200
        assert bob.get(f"/repositories/{public}/settings").status_code == 403
        assert bob.get("/admin/users").status_code == 403
        # The session cookie is for the UI only: /v2 and /api/v0 ignore it.
        assert bob.get("/v2/").status_code == 401
    with sign_in(registry, world.name("carol"), PASSWORD) as carol:
        assert private in carol.get("/repositories").text
        page = carol.get(f"/repositories/{private}")
        assert page.status_code == 200
        assert "your access: read-only" in page.text
        assert 'id="tab-settings"' not in page.text
    with sign_in(registry, world.name("erin"), PASSWORD) as erin:
        page = erin.get(f"/repositories/{private}")
        assert 'id="tab-settings"' in page.text
        assert erin.get(f"/repositories/{private}/permissions").status_code == 200


def test_repository_forms(registry: ThreadedApp, world: World, client: httpx.Client) -> None:
    alice = world.name("alice")
    repo = f"{alice}/webapp"
    with sign_in(registry, alice, PASSWORD) as c:
        token = csrf_of(c.get("/repositories/new"))
        # Not her namespace: refused with the reason, nothing created.
        r = c.post(
            "/repositories/new",
            data={"csrf": token, "namespace": world.org, "name": "nope", "visibility": "public"},
        )
        assert r.status_code == 403
        r = c.post(
            "/repositories/new",
            data={
                "csrf": token,
                "namespace": alice,
                "name": "webapp",
                "visibility": "private",
                "description": "the web app",
            },
        )
        assert r.status_code == 303
        assert r.headers["location"] == f"/repositories/{repo}"
        status, digest = push_image(client, repo, "v1", (alice, PASSWORD))
        assert status == 201
        page = c.get(f"/repositories/{repo}")
        assert "the web app" in page.text
        assert f"docker pull {registry.host}/{repo}:v1" in page.text
        assert digest[:19] in page.text
        assert "linux/amd64" in page.text
        assert 'pushes <span id="pushes">1</span>' in page.text
        image = c.get(f"/repositories/{repo}/tags/v1")
        assert image.status_code == 200
        assert digest in image.text
        assert 'id="layers"' in image.text
        assert c.get(f"/repositories/{repo}/tags/{digest}").status_code == 200
        assert c.get(f"/repositories/{repo}/tags/nosuchtag").status_code == 404
        activity = c.get(f"/repositories/{repo}/activity")
        assert "TAG_PUSH" in activity.text
        assert "CREATE_REPO" in activity.text
        assert "TAG_PUSH" in c.get(f"/repositories/{repo}/activity?type=pushes").text
        assert "CREATE_REPO" not in c.get(f"/repositories/{repo}/activity?type=pushes").text
        r = c.post(
            f"/repositories/{repo}/settings",
            data={
                "csrf": token,
                "visibility": "public",
                "description": "changed",
                "immutable_tags": "on",
            },
        )
        assert r.status_code == 303
        wire = client.get(f"/api/v0/repositories/{repo}").json()
        assert (wire["visibility"], wire["shortDescription"], wire["immutableTags"]) == (
            "public",
            "changed",
            True,
        )
        assert wire["scanOnPush"] is False
        # A user namespace has no teams to grant.
        assert "belongs to a user" in c.get(f"/repositories/{repo}/permissions").text
        r = c.post(f"/repositories/{repo}/delete", data={"csrf": token, "confirm": "wrong"})
        assert r.status_code == 400
        r = c.post(f"/repositories/{repo}/delete", data={"csrf": token, "confirm": repo})
        assert r.status_code == 303
        assert client.get(f"/api/v0/repositories/{repo}").status_code == 404


def test_team_permissions_form(registry: ThreadedApp, world: World) -> None:
    repo = f"{world.org}/granted"
    bob = world.name("bob")
    with sign_in(registry, *ADMIN) as admin:
        token = csrf_of(admin.get("/repositories/new"))
        r = admin.post(
            "/repositories/new",
            data={"csrf": token, "namespace": world.org, "name": "granted"},
        )
        assert r.status_code == 303, r.text
        org_page = f"/admin/orgs/{world.org}"
        r = admin.post(org_page, data={"csrf": token, "action": "create_team", "team": "viewers"})
        assert r.status_code == 303
        r = admin.post(
            org_page,
            data={"csrf": token, "action": "add_team_member", "team": "viewers", "user": bob},
        )
        assert r.status_code == 303
        assert bob in admin.get(org_page).text
        with sign_in(registry, bob, PASSWORD) as bob_view:
            assert bob_view.get(f"/repositories/{repo}").status_code == 404
            r = admin.post(
                f"/repositories/{repo}/permissions",
                data={"csrf": token, "action": "grant", "team": "viewers", "level": "read-only"},
            )
            assert r.status_code == 303
            perms = admin.get(f"/repositories/{repo}/permissions").text
            assert f"{world.org}/viewers" in perms
            assert bob_view.get(f"/repositories/{repo}").status_code == 200
            assert repo in bob_view.get("/repositories").text
            r = admin.post(
                f"/repositories/{repo}/permissions",
                data={"csrf": token, "action": "revoke", "team": "viewers"},
            )
            assert r.status_code == 303
            assert bob_view.get(f"/repositories/{repo}").status_code == 404


def test_administration_forms(registry: ThreadedApp, world: World, client: httpx.Client) -> None:
    newcomer = world.name("newcomer")
    org = world.name("neworg")
    with sign_in(registry, *ADMIN) as admin:
        token = csrf_of(admin.get("/admin/users"))
        r = admin.post(
            "/admin/users",
            data={"csrf": token, "name": newcomer, "password": "long-enough-pw"},
        )
        assert r.status_code == 303
        assert newcomer in admin.get("/admin/users").text
        r = admin.post("/admin/users", data={"csrf": token, "name": "Bad Name", "password": "x"})
        assert r.status_code == 400
        assert admin.post("/admin/orgs", data={"csrf": token, "name": org}).status_code == 303
        r = admin.post(
            f"/admin/orgs/{org}",
            data={"csrf": token, "action": "add_member", "user": newcomer, "owner": "on"},
        )
        assert r.status_code == 303
        assert client.get(f"/enzi/v0/accounts/{org}/members").json()["members"][0]["isAdmin"]
        r = admin.post(
            "/admin/settings",
            data={"csrf": token, "create_repository_on_push": "on"},
        )
        assert r.status_code == 303
        settings = client.get("/api/v0/meta/settings").json()
        assert settings["createRepositoryOnPush"] is True
        assert settings["readOnlyRegistry"] is False
        assert "coming" in admin.get("/signing").text
        assert 'id="scan-search"' in admin.get("/scanning").text  # no longer a placeholder


def test_access_tokens_page(registry: ThreadedApp, world: World) -> None:
    dave = world.name("dave")
    with sign_in(registry, dave, PASSWORD) as c:
        token = csrf_of(c.get("/tokens"))
        r = c.post("/tokens", data={"csrf": token, "action": "create", "label": "ci"})
        assert r.status_code == 200
        secret = r.text.split('id="token-value">', 1)[1].split("<", 1)[0]
        assert len(secret) > 20
        # Shown once: the list holds the label, never the token.
        listing = c.get("/tokens")
        assert "ci" in listing.text
        assert secret not in listing.text
        with registry.client(auth=None, timeout=30.0) as api:
            me = api.get(f"/enzi/v0/accounts/{dave}", auth=(dave, secret))
            assert me.status_code == 200
            # The token signs in to the UI too (as LDAP and local passwords do), but such a
            # session cannot manage the account's tokens (auth.credentials.require_own_credentials).
            with sign_in(registry, dave, secret) as by_token:
                assert by_token.get("/repositories").status_code == 200
                assert 'id="signed-in-as">' + dave in by_token.get("/repositories").text
                assert by_token.get("/tokens").status_code == 403
            hashed = listing.text.split('name="token" value="', 1)[1].split('"', 1)[0]
            r = c.post("/tokens", data={"csrf": token, "action": "revoke", "token": hashed})
            assert r.status_code == 303
            assert api.get(f"/enzi/v0/accounts/{dave}", auth=(dave, secret)).status_code == 401
    # Someone else's token cannot be revoked from another account.
    with sign_in(registry, world.name("erin"), PASSWORD) as erin:
        token = csrf_of(erin.get("/tokens"))
        r = erin.post("/tokens", data={"csrf": token, "action": "create", "label": "mine"})
        assert r.status_code == 200
        hashed = erin.get("/tokens").text.split('name="token" value="', 1)[1].split('"', 1)[0]
    with sign_in(registry, world.name("frank"), PASSWORD) as frank:
        token = csrf_of(frank.get("/tokens"))
        r = frank.post("/tokens", data={"csrf": token, "action": "revoke", "token": hashed})
        assert r.status_code == 403


def test_cookies_are_secure_over_tls(
    registry_factory: Callable[..., RunningRegistry], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, "tls.crt", "tls.key")
    reg = registry_factory(
        extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https"
    )
    tls = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=reg.url, verify=tls, timeout=30.0) as c:
        form = c.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        r = c.post(
            "/login", data={"csrf": csrf_of(form), "username": ADMIN[0], "password": ADMIN[1]}
        )
        assert r.status_code == 303
        cookie = next(
            v for v in r.headers.get_list("set-cookie") if v.startswith("moorage_session=")
        )
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert c.get("/repositories").status_code == 200


def test_image_page_shows_platforms_and_referrers(
    registry: ThreadedApp, world: World, client: httpx.Client
) -> None:
    repo = f"admin/multi{world.suffix}"
    children = []
    for tag, platform in (
        ("amd", {"os": "linux", "architecture": "amd64"}),
        ("arm", {"os": "linux", "architecture": "arm64", "variant": "v8"}),
    ):
        status, digest = push_image(client, repo, tag, ADMIN)
        assert status == 201
        raw = client.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(raw.content),
                "platform": platform,
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    r = client.put(
        f"/v2/{repo}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX}
    )
    assert r.status_code == 201
    empty = b"{}"
    r = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(empty)}, content=empty
    )
    assert r.status_code == 201
    empty_desc = {"mediaType": EMPTY, "digest": digest_of(empty), "size": 2}
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": empty_desc,
            "layers": [empty_desc],
            "subject": {k: children[0][k] for k in ("mediaType", "digest", "size")},
        }
    ).encode()
    r = client.put(
        f"/v2/{repo}/manifests/{digest_of(artifact)}",
        content=artifact,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201
    with sign_in(registry, *ADMIN) as c:
        tags = c.get(f"/repositories/{repo}").text
        assert "multi-platform" in tags
        page = c.get(f"/repositories/{repo}/tags/multi")
        assert 'id="platforms"' in page.text
        assert "linux/amd64" in page.text
        assert "linux/arm64/v8" in page.text
        assert f"/repositories/{repo}/tags/{children[1]['digest']}" in page.text
        child = c.get(f"/repositories/{repo}/tags/amd")
        assert "application/vnd.example.sbom" in child.text
        assert digest_of(artifact)[:19] in child.text
