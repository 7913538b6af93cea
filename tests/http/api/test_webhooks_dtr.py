"""DTR 2.7's webhooks, checked against its Swagger (``dtr_definitions/webhooks.json``) and its
documentation (``ee/dtr/admin/manage-webhooks``): all 13 types, the ``responses.Webhook``
object, the ``webhookType`` filter, ``forms.WebhookUpdate`` answered with an array, the namespace
and repository listings, who is refused at every route, and the payloads DTR documents as a real
loopback receiver gets them (``imageName`` with the configured public URL's host)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.world import PASSWORD, World, push_image
from tests.events.receiver import Receiver, receiving
from tests.http.api.dtr_schema import assert_matches
from tests.inprocess import ThreadedApp, threaded_app
from tests.services.tls import self_signed

HOST = "registry.example.com:5443"
LOOPBACK = {"createRepositoryOnPush": True, "webhookAllowedNetworks": ["127.0.0.1/32"]}
TYPES = [
    "TAG_PUSH", "TAG_PULL", "TAG_DELETE", "PROMOTION", "PUSH_MIRRORING", "POLL_MIRRORING",
    "MANIFEST_PUSH", "MANIFEST_PULL", "MANIFEST_DELETE", "REPO_EVENT", "SCAN_COMPLETED",
    "SCAN_FAILED", "SCANNER_UPDATE_COMPLETED",
]  # fmt: skip
NEVER = "0001-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def app_registry(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Any
) -> Iterator[ThreadedApp]:
    """The module's app: loopback endpoints allowed, a public URL for ``imageName``."""
    with threaded_app(
        tmp_path_factory.mktemp("hooks"),
        database_factory(),
        public_url=f"https://{HOST}",
        site_settings=LOOPBACK,
    ) as app:
        yield app


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


def _error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    (error,) = r.json()["errors"]
    # DTR's envelope; ``detail`` is left out when there is none (http/api/common.py)
    assert {"code", "message"} <= set(error) <= {"code", "message", "detail"}, error
    if code is not None:
        assert error["code"] == code, error


def _hook(api: httpx.Client, auth: Any, **body: Any) -> dict[str, Any]:
    r = api.post("/api/v0/webhooks", json=body, auth=auth)
    assert r.status_code == 201, r.text
    found: dict[str, Any] = r.json()
    return found


def _account_id(api: httpx.Client, world: World, name: str) -> str:
    r = api.get(f"/enzi/v0/accounts/{name}", auth=world.admin)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_every_dtr_type_is_accepted_and_answered_as_dtrs_webhook(
    api: httpx.Client, world: World, receiver: Receiver
) -> None:
    repo = f"{world.org}/public-repo"
    made = {}
    for kind in TYPES:
        key = "" if kind == "SCANNER_UPDATE_COMPLETED" else repo
        hook = _hook(
            api,
            world.admin,
            type=kind,
            key=key,
            endpoint=receiver.url(f"/types-{kind}"),
            tlsCert="",
            skipTLSVerification=kind == "PROMOTION",
        )
        assert_matches(hook, "responses.Webhook")
        assert (hook["type"], hook["key"], hook["inactive"]) == (kind, key, False)
        assert hook["authorID"] == _account_id(api, world, world.admin[0])
        assert hook["lastSuccessfulAt"] == NEVER  # DTR's zero time: never delivered
        assert hook["skipTLSVerification"] is (kind == "PROMOTION")
        assert hook["tlsCert"] == ""
        made[kind] = hook
    for kind in ("PROMOTION", "REPO_EVENT"):
        r = api.get("/api/v0/webhooks", params={"webhookType": kind}, auth=world.admin)
        assert r.status_code == 200, r.text
        assert [h["id"] for h in r.json()] == [made[kind]["id"]]
        for listed in r.json():
            assert_matches(listed, "responses.Webhook")
    everything = api.get("/api/v0/webhooks", params={"webhookType": "any"}, auth=world.admin)
    assert {h["id"] for h in made.values()} <= {h["id"] for h in everything.json()}
    _error(api.get("/api/v0/webhooks", params={"webhookType": "NOPE"}, auth=world.admin), 400)
    body = {"type": "NOPE", "key": repo, "endpoint": receiver.url("/x")}
    _error(api.post("/api/v0/webhooks", json=body, auth=world.admin), 400, "INVALID_INPUT")
    body = {"type": "SCANNER_UPDATE_COMPLETED", "key": repo, "endpoint": receiver.url("/x")}
    _error(api.post("/api/v0/webhooks", json=body, auth=world.admin), 400)
    body = {"type": "TAG_PUSH", "key": f"nosuch{world.suffix}", "endpoint": receiver.url("/x")}
    _error(api.post("/api/v0/webhooks", json=body, auth=world.admin), 404, "NO_SUCH_ACCOUNT")
    for hook in made.values():
        assert api.delete(f"/api/v0/webhooks/{hook['id']}", auth=world.admin).status_code == 204
    r = api.delete(f"/api/v0/webhooks/{made['TAG_PUSH']['id']}", auth=world.admin)
    _error(r, 404, "NO_SUCH_WEBHOOK")


def test_update_reads_dtrs_form_and_answers_an_array(
    api: httpx.Client, world: World, receiver: Receiver, tmp_path: Path
) -> None:
    hook = _hook(
        api,
        world.admin,
        type="TAG_PUSH",
        key=f"{world.org}/public-repo",
        endpoint=receiver.url("/update"),
    )
    cert, _ = self_signed(tmp_path)
    pem = cert.read_text()
    form = {"id": hook["id"], "inactive": True, "tlsCert": pem, "skipTLSVerification": True}
    r = api.post("/api/v0/webhooks/update", json=form, auth=world.admin)
    assert r.status_code == 200, r.text
    (updated,) = r.json()
    assert_matches(updated, "responses.Webhook")
    assert (updated["inactive"], updated["tlsCert"], updated["skipTLSVerification"]) == (
        True,
        pem,
        True,
    )
    assert updated["inactiveReason"] == ""  # made inactive by request
    again = api.get(f"/api/v0/webhooks/{hook['id']}", auth=world.admin).json()
    assert again == updated
    form = {"id": hook["id"], "inactive": False, "tlsCert": "", "skipTLSVerification": False}
    (back,) = api.post("/api/v0/webhooks/update", json=form, auth=world.admin).json()
    assert (back["inactive"], back["tlsCert"], back["skipTLSVerification"]) == (False, "", False)
    bad = {"id": hook["id"], "inactive": False, "tlsCert": "not a certificate"}
    _error(api.post("/api/v0/webhooks/update", json=bad, auth=world.admin), 400)
    gone = {"id": str(uuid.uuid4()), "inactive": True, "tlsCert": "", "skipTLSVerification": False}
    _error(api.post("/api/v0/webhooks/update", json=gone, auth=world.admin), 404, "NO_SUCH_WEBHOOK")
    _error(api.post("/api/v0/webhooks/update", json={"inactive": True}, auth=world.admin), 400)
    assert api.delete(f"/api/v0/webhooks/{hook['id']}", auth=world.admin).status_code == 204


def test_namespace_and_repository_listings(
    api: httpx.Client, world: World, receiver: Receiver
) -> None:
    org, alice = world.org, world.name("alice")
    frank, erin = world.creds("frank"), world.creds("erin")
    endpoint = receiver.url("/listings")
    on_org = _hook(api, frank, type="REPO_EVENT", key=org, endpoint=endpoint)  # the org's owner
    by_admin = _hook(api, world.admin, type="TAG_PUSH", key=f"{org}/public-repo", endpoint=endpoint)
    by_erin = _hook(api, erin, type="TAG_PULL", key=f"{org}/public-repo", endpoint=endpoint)
    on_alice = _hook(api, world.creds("alice"), type="REPO_EVENT", key=alice, endpoint=endpoint)

    r = api.get(f"/api/v0/accounts/{org}/webhooks", auth=frank)
    assert r.status_code == 200, r.text
    assert [h["id"] for h in r.json()] == [on_org["id"]]  # the namespace's own hooks
    assert_matches(r.json()[0], "responses.Webhook")
    assert r.json()[0]["authorID"] == _account_id(api, world, world.name("frank"))
    r = api.get(f"/api/v0/repositories/{org}/public-repo/webhooks", auth=erin)
    assert r.status_code == 200, r.text
    assert [h["id"] for h in r.json()] == [by_admin["id"], by_erin["id"]]  # whoever made them
    r = api.get(f"/api/v0/accounts/{alice}/webhooks", auth=world.creds("alice"))
    assert [h["id"] for h in r.json()] == [on_alice["id"]]
    # GET /webhooks: a user's own hooks (DTR), every hook to a system administrator
    r = api.get("/api/v0/webhooks", auth=erin)
    assert [h["id"] for h in r.json()] == [by_erin["id"]]
    everything = {h["id"] for h in api.get("/api/v0/webhooks", auth=world.admin).json()}
    assert {on_org["id"], by_admin["id"], by_erin["id"], on_alice["id"]} <= everything

    _error(api.get(f"/api/v0/accounts/nosuch{world.suffix}/webhooks", auth=frank), 404)
    r = api.get(f"/api/v0/repositories/{org}/nosuch/webhooks", auth=world.admin)
    _error(r, 404, "NO_SUCH_REPOSITORY")
    for hook in (on_org, by_admin, by_erin, on_alice):
        assert api.delete(f"/api/v0/webhooks/{hook['id']}", auth=world.admin).status_code == 204


def test_every_route_refuses_those_dtr_refuses(
    api: httpx.Client, world: World, receiver: Receiver
) -> None:
    org, alice = world.org, world.name("alice")
    public, private = f"{org}/public-repo", f"{org}/private-repo"
    endpoint = receiver.url("/refused")
    hook = _hook(api, world.admin, type="TAG_PUSH", key=public, endpoint=endpoint)
    on_org = _hook(api, world.admin, type="TAG_PUSH", key=org, endpoint=endpoint)
    form = {"id": hook["id"], "inactive": True, "tlsCert": "", "skipTLSVerification": False}
    test = {"type": "TAG_PUSH", "endpoint": endpoint, "tlsCert": "", "skipTLSVerification": False}

    def create(auth: Any, key: str, kind: str = "TAG_PUSH") -> httpx.Response:
        return api.post(
            "/api/v0/webhooks", json={"type": kind, "key": key, "endpoint": endpoint}, auth=auth
        )

    # Anonymous: every route asks for a signed-in caller.
    for method, path, body in (
        ("GET", "/api/v0/webhooks", None),
        ("POST", "/api/v0/webhooks", {"type": "TAG_PUSH", "key": public, "endpoint": endpoint}),
        ("POST", "/api/v0/webhooks/test", test),
        ("POST", "/api/v0/webhooks/update", form),
        ("DELETE", f"/api/v0/webhooks/{hook['id']}", None),
        ("GET", f"/api/v0/webhooks/{hook['id']}", None),
        ("GET", f"/api/v0/webhooks/{hook['id']}/deliveries", None),
        ("GET", f"/api/v0/accounts/{org}/webhooks", None),
        ("GET", f"/api/v0/repositories/{public}/webhooks", None),
    ):
        _error(api.request(method, path, json=body, auth=None), 401)

    # Not an administrator of the repository: refused (a hidden repository is missing).
    for role in ("bob", "carol", "dave"):
        auth = world.creds(role)
        _error(create(auth, public), 403)
        _error(api.get(f"/api/v0/repositories/{public}/webhooks", auth=auth), 403)
        _error(api.post("/api/v0/webhooks/update", json=form, auth=auth), 403)
        _error(api.delete(f"/api/v0/webhooks/{hook['id']}", auth=auth), 403)
        _error(api.get(f"/api/v0/webhooks/{hook['id']}", auth=auth), 403)
        _error(api.get(f"/api/v0/webhooks/{hook['id']}/deliveries", auth=auth), 403)
    bob = world.creds("bob")
    _error(create(bob, private), 404, "NO_SUCH_REPOSITORY")
    # A system administrator may register a hook before its repository exists (it fires on
    # the first push); a namespace that does not exist is 404 to them too.
    assert create(world.admin, f"{org}/no-such-repo-yet").status_code == 201
    _error(create(world.admin, f"nobody{world.suffix}/repo"), 404)
    _error(create(world.admin, f"nobody{world.suffix}"), 404, "NO_SUCH_ACCOUNT")
    _error(api.get(f"/api/v0/accounts/nobody{world.suffix}/webhooks", auth=bob), 404)
    _error(api.get(f"/api/v0/repositories/{private}/webhooks", auth=bob), 404)
    # Not an administrator of the namespace: erin administers the repositories, not the org.
    for role in ("bob", "carol", "dave", "erin", "alice"):
        auth = world.creds(role)
        _error(create(auth, org), 403)
        _error(api.get(f"/api/v0/accounts/{org}/webhooks", auth=auth), 403)
        _error(api.delete(f"/api/v0/webhooks/{on_org['id']}", auth=auth), 403)
    _error(create(bob, alice), 403)
    _error(api.get(f"/api/v0/accounts/{alice}/webhooks", auth=bob), 403)
    # Global hooks and the scanner's global event: system administrators only.
    for role in ("alice", "frank", "erin"):
        _error(create(world.creds(role), ""), 403)
        _error(create(world.creds(role), "", "SCANNER_UPDATE_COMPLETED"), 403)
    _error(create(world.creds("frank"), org, "SCANNER_UPDATE_COMPLETED"), 400)
    # A test names no scope in DTR's form: any signed-in user may test an allowed endpoint;
    # naming a key (Moorage's) asks for the right to manage hooks on it.
    r = api.post("/api/v0/webhooks/test", json=test, auth=bob)
    assert r.status_code == 200 and r.json()["delivered"] is True, r.text
    _error(api.post("/api/v0/webhooks/test", json={**test, "key": public}, auth=bob), 403)
    # ... and the ones DTR lets in.
    erins = create(world.creds("erin"), public)
    assert erins.status_code == 201, erins.text
    franks = create(world.creds("frank"), org)
    assert franks.status_code == 201, franks.text
    r = api.post("/api/v0/webhooks/update", json=form, auth=world.creds("erin"))
    assert r.status_code == 200 and r.json()[0]["inactive"] is True, r.text
    for made in (erins.json(), franks.json(), hook, on_org):
        assert api.delete(f"/api/v0/webhooks/{made['id']}", auth=world.admin).status_code == 204


def test_the_test_payload_is_dtrs_sample(
    api: httpx.Client, world: World, receiver: Receiver
) -> None:
    tag_path, manifest_path = f"/sample-tag-{world.suffix}", f"/sample-manifest-{world.suffix}"
    for kind, path in (("TAG_PUSH", tag_path), ("MANIFEST_DELETE", manifest_path)):
        body = {"type": kind, "endpoint": receiver.url(path), "tlsCert": ""}
        r = api.post("/api/v0/webhooks/test", json=body, auth=world.admin)
        assert r.status_code == 200, r.text
        assert r.json() == {"responseCode": 200, "error": "", "delivered": True}
    (tag,) = receiver.wait(tag_path)
    sent = tag.json()
    assert set(sent) == {"type", "createdAt", "contents"} and sent["type"] == "TAG_PUSH"
    assert {
        "namespace", "repository", "tag", "digest", "imageName", "os", "architecture",
        "author", "pushedAt",
    } <= set(sent["contents"])  # fmt: skip
    assert sent["contents"]["imageName"] == f"{HOST}/foo/bar:latest"
    (manifest,) = receiver.wait(manifest_path)
    contents = manifest.json()["contents"]
    assert "deletedAt" in contents and "tag" not in contents
    assert contents["imageName"] == f"{HOST}/foo/bar@{contents['digest']}"


def _one(receiver: Receiver, path: str, event: str | None = None) -> dict[str, Any]:
    """The one payload of ``path`` (of REPO_EVENT ``event``), checked for DTR's wrapper."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [r.json() for r in receiver.at(path)]
        if event is not None:
            found = [b for b in found if b["contents"]["event"] == event]
        if found:
            (body,) = found
            assert set(body) == {"type", "createdAt", "contents"}, body
            assert dt.datetime.fromisoformat(body["createdAt"].replace("Z", "+00:00"))
            return body
        time.sleep(0.1)
    raise AssertionError(f"nothing arrived at {path} ({event})")


def test_payloads_are_dtrs(api: httpx.Client, world: World, receiver: Receiver) -> None:
    ns = world.name("alice")
    alice = world.creds("alice")
    repo = f"{ns}/payloads"
    tag = "v1"
    secret = "s3cret-" + uuid.uuid4().hex
    kinds = [
        "TAG_PUSH", "MANIFEST_PUSH", "TAG_PULL", "MANIFEST_PULL", "TAG_DELETE", "MANIFEST_DELETE",
    ]  # fmt: skip
    made = {
        "REPO_EVENT": _hook(
            api, alice, type="REPO_EVENT", key=ns, endpoint=receiver.url(f"/p-repo-{ns}")
        )
    }
    r = api.post(f"/api/v0/repositories/{ns}", json={"name": "payloads"}, auth=alice)
    assert r.status_code == 201, r.text
    for kind in kinds:
        made[kind] = _hook(
            api,
            alice,
            type=kind,
            key=repo,
            endpoint=receiver.url(f"/p-{kind}-{ns}"),
            authentication=secret,
        )

    status, digest = push_image(api, repo, tag, alice)
    assert status == 201
    pushed = _one(receiver, f"/p-TAG_PUSH-{ns}")
    assert pushed["type"] == "TAG_PUSH"
    contents = pushed["contents"]
    assert {
        k: contents[k]
        for k in ("namespace", "repository", "tag", "digest", "imageName", "os", "architecture")
    } == {
        "namespace": ns,
        "repository": "payloads",
        "tag": tag,
        "digest": digest,
        "imageName": f"{HOST}/{repo}:{tag}",  # fully qualified, DTR's
        "os": "linux",
        "architecture": "amd64",
    }
    assert contents["author"] == ns
    assert dt.datetime.fromisoformat(contents["pushedAt"].replace("Z", "+00:00"))
    (raw,) = receiver.at(f"/p-TAG_PUSH-{ns}")
    signature = "sha256=" + hmac.new(secret.encode(), raw.body, hashlib.sha256).hexdigest()
    assert raw.headers["X-Moorage-Signature-256"] == signature  # the HMAC header stays
    manifest = _one(receiver, f"/p-MANIFEST_PUSH-{ns}")["contents"]
    assert (manifest["digest"], manifest["imageName"]) == (digest, f"{HOST}/{repo}@{digest}")
    assert (manifest["os"], manifest["architecture"], manifest["author"]) == ("linux", "amd64", ns)
    assert "tag" not in manifest and "pushedAt" in manifest

    r = api.get(f"/v2/{repo}/manifests/{tag}", auth=alice)
    assert r.status_code == 200, r.text
    r = api.get(f"/v2/{repo}/manifests/{digest}", auth=alice)
    assert r.status_code == 200, r.text
    pulled = _one(receiver, f"/p-TAG_PULL-{ns}")["contents"]
    assert (pulled["tag"], pulled["digest"], pulled["author"]) == (tag, digest, ns)
    assert pulled["imageName"] == f"{HOST}/{repo}:{tag}" and "pulledAt" in pulled
    by_digest = _one(receiver, f"/p-MANIFEST_PULL-{ns}")["contents"]
    assert (by_digest["digest"], by_digest["imageName"]) == (digest, f"{HOST}/{repo}@{digest}")

    assert api.delete(f"/api/v0/repositories/{repo}/tags/{tag}", auth=alice).status_code == 204
    deleted = _one(receiver, f"/p-TAG_DELETE-{ns}")["contents"]
    assert (deleted["tag"], deleted["digest"], deleted["author"]) == (tag, digest, ns)
    assert (deleted["os"], deleted["architecture"]) == ("linux", "amd64")
    assert dt.datetime.fromisoformat(deleted["deletedAt"].replace("Z", "+00:00"))
    r = api.delete(f"/v2/{repo}/manifests/{digest}", auth=alice)
    assert r.status_code == 202, r.text
    gone = _one(receiver, f"/p-MANIFEST_DELETE-{ns}")["contents"]
    assert (gone["digest"], gone["author"], gone["imageName"]) == (
        digest,
        ns,
        f"{HOST}/{repo}@{digest}",
    )
    assert "deletedAt" in gone

    path = f"/p-repo-{ns}"
    r = api.patch(f"/api/v0/repositories/{repo}", json={"shortDescription": "hooked"}, auth=alice)
    assert r.status_code == 200, r.text
    _one(receiver, path, "REPO_UPDATED")  # read while the repository is there
    assert api.delete(f"/api/v0/repositories/{repo}", auth=alice).status_code == 204
    created = _one(receiver, path, "REPO_CREATED")
    assert created["type"] == "REPO_EVENT"
    assert {k: created["contents"][k] for k in ("namespace", "repository", "author")} == {
        "namespace": ns,
        "repository": "payloads",
        "author": ns,
    }
    assert_matches(created["contents"]["data"], "responses.Repository")
    updated = _one(receiver, path, "REPO_UPDATED")["contents"]
    assert_matches(updated["data"], "responses.Repository")
    assert updated["data"]["name"] == "payloads" and updated["author"] == ns
    assert updated["data"]["shortDescription"] == "hooked"
    removed = _one(receiver, path, "REPO_DELETED")["contents"]
    assert (removed["repository"], removed["author"]) == ("payloads", ns)

    listed = api.get(f"/api/v0/accounts/{ns}/webhooks", auth=alice).json()
    (repo_hook,) = listed
    assert repo_hook["lastSuccessfulAt"] != NEVER  # set by the deliveries
    for hook in made.values():
        api.delete(f"/api/v0/webhooks/{hook['id']}", auth=alice)


def _tls_server(directory: Path) -> tuple[str, ssl.SSLContext]:
    cert, key = self_signed(directory)  # for 127.0.0.1
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return cert.read_text(), server


def test_tls_is_verified_and_tls_cert_is_the_ca_to_trust(
    api: httpx.Client, world: World, tmp_path: Path
) -> None:
    pem, server = _tls_server(tmp_path)
    with receiving(tls=server) as rec:
        url = f"https://127.0.0.1:{rec.port}"
        trusted = {"type": "TAG_PUSH", "endpoint": f"{url}/trusted", "tlsCert": pem}
        r = api.post("/api/v0/webhooks/test", json=trusted, auth=world.admin)
        assert r.status_code == 200 and r.json()["delivered"] is True, r.text
        unknown = {"type": "TAG_PUSH", "endpoint": f"{url}/unknown", "tlsCert": ""}
        r = api.post("/api/v0/webhooks/test", json=unknown, auth=world.admin)
        assert r.status_code == 200, r.text
        assert r.json()["delivered"] is False and "certif" in r.json()["error"].lower()
        assert rec.at("/unknown") == []


def test_skip_tls_verification_is_honoured(api: httpx.Client, world: World, tmp_path: Path) -> None:
    _, server = _tls_server(tmp_path)
    with receiving(tls=server) as rec:
        body = {
            "type": "TAG_PUSH",
            "endpoint": f"https://127.0.0.1:{rec.port}/skipped",
            "tlsCert": "",
            "skipTLSVerification": True,
        }
        r = api.post("/api/v0/webhooks/test", json=body, auth=world.admin)
        assert r.status_code == 200 and r.json()["delivered"] is True, r.text


def test_a_user_made_hook_keeps_its_author(api: httpx.Client, world: World) -> None:
    """``authorID`` is the creator's account id; ``createdBy`` (Moorage's) their name."""
    name = world.name("alice")
    hook = _hook(
        api,
        (name, PASSWORD),
        type="TAG_PUSH",
        key=f"{name}/public-repo",
        endpoint="http://127.0.0.1:9/never",
    )
    assert hook["authorID"] == _account_id(api, world, name)
    assert hook["createdBy"] == name
    assert api.delete(f"/api/v0/webhooks/{hook['id']}", auth=world.admin).status_code == 204


def test_deliveries_go_through_the_sites_proxy(
    api: httpx.Client, world: World, receiver: Receiver
) -> None:
    """With ``httpProxy`` set the POST goes to the proxy (here the receiver, which answers any
    request), asking for the checked address; the endpoint is a port nothing listens on, so
    only the proxy can have answered. ``noProxy`` naming the endpoint sends it straight there."""

    def settings(**values: str) -> None:
        r = api.post("/api/v0/meta/settings", json=values, auth=world.admin)
        assert r.status_code == 202, r.text

    path = f"/through-proxy-{uuid.uuid4().hex}"
    endpoint = f"http://127.0.0.1:9{path}"
    settings(httpProxy=receiver.url(""))
    try:
        body = {"type": "TAG_PUSH", "endpoint": endpoint}
        r = api.post("/api/v0/webhooks/test", json=body, auth=world.admin)
        assert r.status_code == 200 and r.json()["delivered"] is True, r.text
        (seen,) = receiver.at(endpoint)  # the proxy was asked for the absolute URL
        assert seen.json()["type"] == "TAG_PUSH"
        settings(noProxy="127.0.0.1")
        r = api.post("/api/v0/webhooks/test", json=body, auth=world.admin)
        assert r.status_code == 200 and r.json()["delivered"] is False, r.text
        assert len(receiver.at(endpoint)) == 1
    finally:
        settings(httpProxy="", noProxy="")


def test_dtr_host_names_the_registry_in_image_names(
    api: httpx.Client, world: World, receiver: Receiver
) -> None:
    """DTR's ``dtrHost`` setting, when set, is the host of ``imageName`` (before the public
    URL's)."""
    path = f"/dtr-host-{uuid.uuid4().hex}"
    r = api.post("/api/v0/meta/settings", json={"dtrHost": "dtr.example.com"}, auth=world.admin)
    assert r.status_code == 202, r.text
    try:
        body = {"type": "TAG_PUSH", "endpoint": receiver.url(path)}
        r = api.post("/api/v0/webhooks/test", json=body, auth=world.admin)
        assert r.status_code == 200 and r.json()["delivered"] is True, r.text
        (seen,) = receiver.at(path)
        assert seen.json()["contents"]["imageName"].startswith("dtr.example.com/")
    finally:
        api.post("/api/v0/meta/settings", json={"dtrHost": ""}, auth=world.admin)
