"""Webhooks against a real HTTP receiver on loopback: signatures, scopes, permissions, a receiver
that fails and recovers, and a server killed between an event and its delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.auth.world import PASSWORD, push_image
from tests.conftest import ADMIN, RunningRegistry
from tests.events.receiver import Receiver, receiving
from tests.inprocess import ThreadedApp, threaded_app

FAST = {"MOORAGE_JOB_POLL_SECONDS": "0.2", "MOORAGE_JOB_LEASE_SECONDS": "5"}
SIGNATURE = "X-Moorage-Signature-256"
# The receiver is on loopback, which webhooks reach only when the site settings allow it.
LOOPBACK = {"createRepositoryOnPush": True, "webhookAllowedNetworks": ["127.0.0.1/32"]}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture(scope="module")
def hooks_registry(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    """The in-process app with the settings ``FAST`` gives a server; only the crash test below
    needs a real one."""
    with threaded_app(
        tmp_path_factory.mktemp("hooks"),
        database_factory(),
        job_poll_seconds=0.2,
        job_lease_seconds=5,
        site_settings=LOOPBACK,
    ) as app:
        yield app


def _org(client: httpx.Client) -> str:
    name = f"org{uuid.uuid4().hex[:8]}"
    r = client.post("/enzi/v0/accounts", json={"name": name, "isOrg": True})
    assert r.status_code < 300, r.text
    return name


def _hook(client: httpx.Client, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v0/webhooks", json=body)
    assert r.status_code == 201, r.text
    found: dict[str, Any] = r.json()
    return found


def _deliveries(client: httpx.Client, hook_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v0/webhooks/{hook_id}/deliveries")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def _wait_delivered(client: httpx.Client, hook_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _deliveries(client, hook_id)
        if found and found[0]["status"] == "delivered":
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"not delivered: {_deliveries(client, hook_id)}")


def test_signed_delivery_and_scopes(hooks_registry: ThreadedApp, receiver: Receiver) -> None:
    tag = uuid.uuid4().hex[:8]
    with hooks_registry.client() as c:
        ns, other = _org(c), _org(c)
        secret = "s3cret-" + uuid.uuid4().hex
        everything = _hook(
            c,
            type="TAG_PUSH",
            key="",
            endpoint=receiver.url(f"/all-{tag}"),
            authentication=secret,
        )
        assert everything["authenticated"] is True
        assert secret not in json.dumps(everything)
        namespace = _hook(c, type="TAG_PUSH", key=ns, endpoint=receiver.url(f"/ns-{tag}"))
        repo = _hook(c, type="TAG_PUSH", key=f"{ns}/app", endpoint=receiver.url(f"/repo-{tag}"))
        elsewhere = _hook(
            c, type="TAG_PUSH", key=f"{other}/app", endpoint=receiver.url(f"/other-{tag}")
        )
        deletes = _hook(c, type="TAG_DELETE", key=ns, endpoint=receiver.url(f"/del-{tag}"))
        manifests = _hook(c, type="MANIFEST_PUSH", key=ns, endpoint=receiver.url(f"/man-{tag}"))
        listed = c.get("/api/v0/webhooks").json()
        assert {everything["id"], namespace["id"], repo["id"], elsewhere["id"]} <= {
            h["id"] for h in listed
        }
        assert secret not in json.dumps(listed)

        status, digest = push_image(c, f"{ns}/app", tag, ADMIN)
        assert status == 201

        (got,) = receiver.wait(f"/all-{tag}")
        expected = "sha256=" + hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
        assert got.headers[SIGNATURE] == expected
        body = got.json()
        assert set(body) == {"type", "createdAt", "contents"}
        assert body["type"] == "TAG_PUSH"
        assert body["contents"]["namespace"] == ns
        assert body["contents"]["repository"] == "app"
        assert body["contents"]["tag"] == tag
        assert body["contents"]["digest"] == digest
        assert body["contents"]["imageName"] == f"{ns}/app:{tag}"

        (ns_got,) = receiver.wait(f"/ns-{tag}")
        assert SIGNATURE not in ns_got.headers  # no secret, no signature
        receiver.wait(f"/repo-{tag}")
        (man,) = receiver.wait(f"/man-{tag}")
        assert man.json()["type"] == "MANIFEST_PUSH"
        assert man.json()["contents"]["digest"] == digest
        assert c.delete(f"/api/v0/repositories/{ns}/app/tags/{tag}").status_code == 204
        (deleted,) = receiver.wait(f"/del-{tag}")
        assert deleted.json()["contents"]["tag"] == tag

        delivery = _wait_delivered(c, everything["id"])
        assert delivery["responseCode"] == 200
        assert delivery["attempts"] == 1
        assert [h["status"] for h in delivery["history"]] == ["delivered"]
        time.sleep(1.5)
        assert receiver.at(f"/other-{tag}") == []
        assert _deliveries(c, elsewhere["id"]) == []
        assert len(receiver.at(f"/all-{tag}")) == 1  # exactly once
        for hook in (everything, namespace, repo, elsewhere, deletes, manifests):
            assert c.delete(f"/api/v0/webhooks/{hook['id']}").status_code == 204
        assert c.delete(f"/api/v0/webhooks/{everything['id']}").status_code == 404


def test_update_and_test_endpoint(hooks_registry: ThreadedApp, receiver: Receiver) -> None:
    tag = uuid.uuid4().hex[:8]
    with hooks_registry.client() as c:
        ns = _org(c)
        r = c.post(
            "/api/v0/webhooks/test",
            json={"type": "TAG_PUSH", "endpoint": receiver.url(f"/t-{tag}"), "authentication": "k"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["delivered"] is True
        (got,) = receiver.wait(f"/t-{tag}")
        assert got.json()["type"] == "TAG_PUSH"
        assert got.headers[SIGNATURE] == (
            "sha256=" + hmac.new(b"k", got.body, hashlib.sha256).hexdigest()
        )
        bad = c.post("/api/v0/webhooks", json={"type": "NOPE", "endpoint": receiver.url("/x")})
        assert bad.status_code == 400
        bad = c.post("/api/v0/webhooks", json={"type": "TAG_PUSH", "endpoint": "ftp://x"})
        assert bad.status_code == 400
        bad = c.post(
            "/api/v0/webhooks",
            json={"type": "TAG_PUSH", "endpoint": receiver.url("/x"), "tlsCert": "not a cert"},
        )
        assert bad.status_code == 400

        hook = _hook(c, type="TAG_PUSH", key=ns, endpoint=receiver.url(f"/old-{tag}"))
        r = c.post(
            "/api/v0/webhooks/update",
            json={"webhookID": hook["id"], "endpoint": receiver.url(f"/new-{tag}")},
        )
        assert r.status_code == 200, r.text
        (updated,) = r.json()  # DTR answers with an array
        assert updated["endpoint"].endswith(f"/new-{tag}")
        assert push_image(c, f"{ns}/app", tag, ADMIN)[0] == 201
        receiver.wait(f"/new-{tag}")
        assert receiver.at(f"/old-{tag}") == []
        r = c.post("/api/v0/webhooks/update", json={"id": hook["id"], "inactive": True})
        assert r.json()[0]["inactive"] is True
        assert push_image(c, f"{ns}/app", tag + "b", ADMIN)[0] == 201
        time.sleep(1.5)
        assert len(receiver.at(f"/new-{tag}")) == 1
        assert c.delete(f"/api/v0/webhooks/{hook['id']}").status_code == 204


def test_failing_receiver_is_retried_until_it_recovers(
    hooks_registry: ThreadedApp, receiver: Receiver
) -> None:
    tag = uuid.uuid4().hex[:8]
    path = f"/flaky-{tag}"
    receiver.failures[path] = 2
    with hooks_registry.client() as c:
        ns = _org(c)
        hook = _hook(c, type="TAG_PUSH", key=f"{ns}/app", endpoint=receiver.url(path))
        assert push_image(c, f"{ns}/app", tag, ADMIN)[0] == 201
        receiver.wait(path, 3, timeout=60)
        delivery = _wait_delivered(c, hook["id"])
        assert delivery["attempts"] == 3
        history = delivery["history"]
        assert [h["status"] for h in history] == ["failed", "failed", "delivered"]
        assert [h["responseCode"] for h in history] == [500, 500, 200]
        assert "500" in history[0]["error"]
        bodies = {r.body for r in receiver.at(path)}
        assert len(bodies) == 1  # the same payload each time


def test_server_killed_between_event_and_delivery(
    registry_factory: Callable[..., RunningRegistry], receiver: Receiver
) -> None:
    # No job workers and a dispatcher that looks only once a minute: the event waits in the
    # outbox while the server is killed.
    reg = registry_factory(
        env={"MOORAGE_JOB_WORKERS": "0", "MOORAGE_JOB_POLL_SECONDS": "60"}, site_settings=LOOPBACK
    )
    tag = uuid.uuid4().hex[:8]
    path = f"/restart-{tag}"
    with reg.client() as c:
        ns = _org(c)
        hook = _hook(c, type="TAG_PUSH", key=ns, endpoint=receiver.url(path))
        assert push_image(c, f"{ns}/app", tag, ADMIN)[0] == 201
    time.sleep(0.5)
    assert receiver.at(path) == []
    reg.kill()
    reg.env = dict(FAST)
    reg.start()
    (got,) = receiver.wait(path, timeout=60)
    assert got.json()["contents"]["tag"] == tag
    with reg.client() as c:
        assert _wait_delivered(c, hook["id"])["responseCode"] == 200


def test_permissions(hooks_registry: ThreadedApp, receiver: Receiver) -> None:
    suffix = uuid.uuid4().hex[:6]
    alice, bob = f"alice{suffix}", f"bob{suffix}"
    with hooks_registry.client() as c:
        for user in (alice, bob):
            r = c.post("/enzi/v0/accounts", json={"name": user, "password": PASSWORD})
            assert r.status_code < 300, r.text
        r = c.post(f"/api/v0/repositories/{alice}", json={"name": "mine", "visibility": "public"})
        assert r.status_code == 201, r.text
    endpoint = receiver.url(f"/perm-{suffix}")
    with hooks_registry.client(auth=None) as anon:
        a, b = (alice, PASSWORD), (bob, PASSWORD)
        body = {"type": "TAG_PUSH", "endpoint": endpoint}
        assert anon.post("/api/v0/webhooks", json={**body, "key": ""}).status_code == 401
        assert anon.get("/api/v0/webhooks").status_code == 401
        assert anon.post("/api/v0/webhooks", json={**body, "key": ""}, auth=a).status_code == 403
        # DTR: a namespace's owner manages its hooks; nobody else but system administrators
        r = anon.post("/api/v0/webhooks", json={**body, "key": bob}, auth=a)
        assert r.status_code == 403
        r = anon.post("/api/v0/webhooks", json={**body, "key": alice}, auth=a)
        assert r.status_code == 201, r.text
        own_namespace = r.json()
        r = anon.post("/api/v0/webhooks/test", json={**body, "key": ""}, auth=a)
        assert r.status_code == 403
        r = anon.post("/api/v0/webhooks", json={**body, "key": f"{alice}/mine"}, auth=a)
        assert r.status_code == 201, r.text
        mine = r.json()
        # bob can see the public repository but does not administer it
        r = anon.post("/api/v0/webhooks", json={**body, "key": f"{alice}/mine"}, auth=b)
        assert r.status_code == 403
        listed = anon.get("/api/v0/webhooks", auth=a).json()
        assert [h["id"] for h in listed] == [own_namespace["id"], mine["id"]]
        assert anon.get("/api/v0/webhooks", auth=b).json() == []
        assert anon.delete(f"/api/v0/webhooks/{mine['id']}", auth=b).status_code == 403
        r = anon.get(f"/api/v0/webhooks/{mine['id']}/deliveries", auth=b)
        assert r.status_code == 403
        r = anon.post(
            "/api/v0/webhooks/update", json={"webhookID": mine["id"], "active": False}, auth=b
        )
        assert r.status_code == 403
        assert anon.get(f"/api/v0/webhooks/{mine['id']}/deliveries", auth=a).status_code == 200
        assert anon.delete(f"/api/v0/webhooks/{mine['id']}", auth=a).status_code == 204
        r = anon.delete(f"/api/v0/webhooks/{own_namespace['id']}", auth=b)
        assert r.status_code == 403
        assert anon.delete(f"/api/v0/webhooks/{own_namespace['id']}", auth=a).status_code == 204
