"""The Docker token service and the /v2 challenge: a token never carries more than allowed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text

from moorage.auth import throttle
from moorage.auth.secretbox import SecretBox
from moorage.db.engine import sync_url
from tests.auth.world import PASSWORD, World, push_image
from tests.conftest import RunningRegistry
from tests.inprocess import ThreadedApp


@pytest.fixture(scope="module")
def world(app_registry: ThreadedApp) -> Iterator[World]:
    with app_registry.client(auth=None) as c:
        yield World(c, app_registry.admin).build()


@pytest.fixture(scope="module")
def served_world(registry: RunningRegistry) -> Iterator[World]:
    """The same world on a real ``moorage serve``, for what its log must not hold."""
    with registry.client(auth=None) as c:
        yield World(c, registry.admin).build()


def token(
    world: World, creds: tuple[str, str] | None, *scopes: str, **params: str
) -> dict[str, object]:
    r = world.client.get(
        "/auth/token",
        params=[("service", "moorage"), *(("scope", s) for s in scopes), *params.items()],
        auth=httpx.BasicAuth(*creds) if creds else None,
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def claims(tok: str) -> dict[str, object]:
    return jwt.decode(tok, options={"verify_signature": False})


def bearer(tok: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def test_challenge(world: World, app_registry: ThreadedApp) -> None:
    registry = app_registry
    r = world.client.get("/v2/")
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="http://{registry.host}/auth/token"' in challenge
    assert 'service="moorage"' in challenge
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    repo = f"{world.org}/private-repo"
    r = world.client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 401
    assert f'scope="repository:{repo}:pull"' in r.headers["WWW-Authenticate"]


def test_token_is_the_intersection(world: World) -> None:
    private = f"{world.org}/private-repo"
    public = f"{world.org}/public-repo"
    body = token(
        world,
        world.creds("bob"),
        f"repository:{private}:pull,push",
        f"repository:{public}:pull,push,delete",
    )
    assert body["token"] == body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    access = {a["name"]: sorted(a["actions"]) for a in claims(str(body["token"]))["access"]}  # type: ignore[index, union-attr]
    assert access == {private: [], public: ["pull"]}
    body = token(world, world.creds("dave"), f"repository:{private}:pull,push,delete")
    access = {a["name"]: sorted(a["actions"]) for a in claims(str(body["token"]))["access"]}  # type: ignore[index, union-attr]
    assert access == {private: ["delete", "pull", "push"]}


def test_bearer_use_and_insufficient_scope(world: World) -> None:
    repo = f"{world.org}/private-repo"
    status, digest = push_image(world.client, repo, "bearer", httpx.BasicAuth(*world.admin))
    assert status == 201
    tok = token(world, world.creds("carol"), f"repository:{repo}:pull,push")["token"]
    r = world.client.get(f"/v2/{repo}/manifests/bearer", headers=bearer(tok))
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == digest
    r = world.client.post(f"/v2/{repo}/blobs/uploads/", headers=bearer(tok))
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert f'scope="repository:{repo}:pull,push"' in r.headers["WWW-Authenticate"]


def test_anonymous_token_pulls_public_only(world: World) -> None:
    public = f"{world.org}/public-repo"
    private = f"{world.org}/private-repo"
    for repo in (public, private):
        assert push_image(world.client, repo, "anon", httpx.BasicAuth(*world.admin))[0] == 201
    tok = token(world, None, f"repository:{public}:pull", f"repository:{private}:pull")["token"]
    assert world.client.get(f"/v2/{public}/manifests/anon", headers=bearer(tok)).status_code == 200
    assert world.client.get(f"/v2/{private}/manifests/anon", headers=bearer(tok)).status_code == 401


def test_tampered_expired_and_foreign_tokens(world: World, app_registry: ThreadedApp) -> None:
    registry = app_registry
    repo = f"{world.org}/public-repo"
    tok = str(token(world, world.admin, f"repository:{repo}:pull,push")["token"])
    head, payload, sig = tok.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["access"] = [
        {"type": "repository", "name": f"{world.org}/private-repo", "actions": ["*"]}
    ]
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    r = world.client.get("/v2/", headers=bearer(f"{head}.{forged_payload}.{sig}"))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    # An expired token, signed with the registry's own key.
    engine = create_engine(sync_url(registry.database_url))
    with engine.connect() as conn:
        sealed, kid = conn.execute(text("SELECT private_pem, kid FROM signing_keys")).one()
    engine.dispose()
    pem = SecretBox.in_data_folder(registry.data).open(sealed)  # stored sealed, never in clear
    now = int(time.time())
    expired = jwt.encode(
        {
            "iss": "moorage",
            "sub": "admin",
            "aud": "moorage",
            "iat": now - 600,
            "nbf": now - 600,
            "exp": now - 300,
            "access": [],
        },
        pem,
        algorithm="RS256",
        headers={"kid": kid},
    )
    r = world.client.get("/v2/", headers=bearer(expired))
    assert r.status_code == 401
    assert r.json()["errors"][0]["message"] == "token expired"
    # A token from another signer.
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(
        {
            "iss": "moorage",
            "sub": "admin",
            "aud": "moorage",
            "iat": now,
            "exp": now + 60,
            "access": [],
        },
        other,
        algorithm="RS256",
    )
    assert world.client.get("/v2/", headers=bearer(foreign)).status_code == 401


def test_oauth2_password_and_refresh_grants(world: World) -> None:
    repo = f"{world.org}/private-repo"
    user, pw = world.creds("dave")  # type: ignore[misc]
    first = token(
        world, (user, pw), f"repository:{repo}:pull", offline_token="true", client_id="docker"
    )
    refresh = first["refresh_token"]
    r = world.client.post(
        "/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "service": "moorage",
            "client_id": "containers/image",
            "scope": f"repository:{repo}:pull,push",
        },
    )
    assert r.status_code == 200, r.text
    access = claims(r.json()["access_token"])["access"]
    assert access == [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]
    r = world.client.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": user,
            "password": pw,
            "service": "moorage",
            "scope": f"repository:{repo}:pull",
            "client_id": "x",
            "access_type": "offline",
        },
    )
    assert r.status_code == 200 and r.json()["refresh_token"]
    r = world.client.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": "nope", "service": "moorage"},
    )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_grant"


def test_bad_credentials(world: World) -> None:
    r = world.client.get("/auth/token", auth=(world.name("bob"), "wrong-password"))
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    r = world.client.get("/v2/", auth=(world.name("bob"), "wrong-password"))
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    r = world.client.get("/v2/", headers={"Authorization": "Basic !!!notbase64"})
    assert r.status_code == 401
    r = world.client.get("/api/v0/repositories", auth=(world.name("bob"), "wrong-password"))
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "NOT_AUTHENTICATED"


def test_failed_logins_are_throttled(world: World) -> None:
    """Over the (source, account) budget a sign-in is refused at once (429, Retry-After),
    the right password included; see tests/auth/test_login_throttling.py for the rest."""
    victim = world.name("erin")
    for _ in range(3):
        assert world.client.get("/v2/", auth=(victim, "bad-guess")).status_code == 401
    # a success forgets the account's failures from this source (typos)
    assert world.client.get("/v2/", auth=(victim, PASSWORD)).status_code == 200
    for _ in range(throttle.PAIR_LIMIT):
        assert world.client.get("/v2/", auth=(victim, "bad-guess")).status_code == 401
    start = time.monotonic()
    r = world.client.get("/v2/", auth=(victim, PASSWORD))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert time.monotonic() - start < 1.0  # refused, not slowed down


def test_access_tokens(world: World) -> None:
    user = world.creds("carol")
    assert user is not None
    r = world.client.post("/api/v0/api_tokens", json={"tokenLabel": "ci"}, auth=user)
    assert r.status_code == 200, r.text
    created = r.json()
    secret, hashed = created["token"], created["hashedToken"]
    assert created["tokenLabel"] == "ci" and created["isActive"] is True
    listed = world.client.get("/api/v0/api_tokens", auth=user).json()
    assert [t["hashedToken"] for t in listed] == [hashed]
    assert "token" not in listed[0]  # shown once
    # usable as the password, on /v2 and on the token service
    assert world.client.get("/v2/", auth=(user[0], secret)).status_code == 200
    assert token(world, (user[0], secret), f"repository:{world.org}/private-repo:pull")["token"]
    listed = world.client.get("/api/v0/api_tokens", auth=user).json()
    assert listed[0]["lastUsed"] is not None
    # another user cannot touch it
    assert (
        world.client.delete(f"/api/v0/api_tokens/{hashed}", auth=world.creds("bob")).status_code
        == 403
    )
    # deactivate, then revoke
    r = world.client.patch(f"/api/v0/api_tokens/{hashed}", json={"isActive": False}, auth=user)
    assert r.status_code == 200 and r.json()["isActive"] is False
    assert world.client.get("/v2/", auth=(user[0], secret)).status_code == 401
    assert world.client.delete(f"/api/v0/api_tokens/{hashed}", auth=user).status_code == 200
    assert world.client.get("/v2/", auth=(user[0], secret)).status_code == 401
    assert world.client.delete(f"/api/v0/api_tokens/{hashed}", auth=user).status_code == 404


def test_jwks(world: World) -> None:
    keys = world.client.get("/auth/jwks").json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["kid"]
    tok = str(token(world, world.admin)["token"])
    assert jwt.get_unverified_header(tok)["kid"] == keys[0]["kid"]


def test_no_secret_in_logs(served_world: World, registry: RunningRegistry) -> None:
    world = served_world
    user = world.creds("carol")
    assert user is not None
    r = world.client.post("/api/v0/api_tokens", json={"tokenLabel": "log-check"}, auth=user)
    secret = r.json()["token"]
    world.client.get("/v2/", auth=(user[0], secret))
    tok = str(
        token(world, user, f"repository:{world.org}/private-repo:pull", offline_token="true")[
            "token"
        ]
    )
    world.client.get("/v2/", headers=bearer(tok))
    log = registry.log_path.read_text()
    for needle in (PASSWORD, secret, tok, registry.admin[1]):
        assert needle not in log


def test_no_refresh_token_for_an_access_token_login(world: World) -> None:
    """A refresh token minted for an access-token login would outlive the token's revocation."""
    user = world.creds("dave")
    assert user is not None
    created = world.client.post("/api/v0/api_tokens", json={"tokenLabel": "no-refresh"}, auth=user)
    secret, hashed = created.json()["token"], created.json()["hashedToken"]
    body = token(world, (user[0], secret), offline_token="true", client_id="docker")
    assert body["token"] and "refresh_token" not in body
    r = world.client.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": user[0],
            "password": secret,
            "service": "moorage",
            "access_type": "offline",
        },
    )
    assert r.status_code == 200 and "refresh_token" not in r.json()
    assert "refresh_token" in token(world, user, offline_token="true")  # a password login gets one
    assert world.client.delete(f"/api/v0/api_tokens/{hashed}", auth=user).status_code == 200


def test_deactivation_and_password_change_end_refresh_tokens(world: World) -> None:
    name = world.name("hank")
    r = world.api("POST", "/enzi/v0/accounts", json={"name": name, "password": PASSWORD})
    assert r.status_code == 201

    def refresh_works(refresh: object) -> bool:
        r = world.client.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "moorage"},
        )
        return r.status_code == 200

    first = token(world, (name, PASSWORD), offline_token="true")["refresh_token"]
    assert refresh_works(first)
    assert (
        world.api("PATCH", f"/enzi/v0/accounts/{name}", json={"isActive": False}).status_code == 200
    )
    assert (
        world.api("PATCH", f"/enzi/v0/accounts/{name}", json={"isActive": True}).status_code == 200
    )
    assert not refresh_works(first)  # reactivation does not bring old logins back
    second = token(world, (name, PASSWORD), offline_token="true")["refresh_token"]
    assert refresh_works(second)
    new_password = "another-long-password"
    r = world.api(
        "PATCH",
        f"/enzi/v0/accounts/{name}",
        auth=(name, PASSWORD),
        json={"password": new_password, "oldPassword": PASSWORD},
    )
    assert r.status_code == 200
    assert not refresh_works(second)
    assert world.client.get("/v2/", auth=(name, PASSWORD)).status_code == 401
    assert world.client.get("/v2/", auth=(name, new_password)).status_code == 200
