"""The Notary server API in process: reads, publishes, keys, delete and the changefeed, who may
do which (anonymous, a reader, a writer, the administrator, a bearer token asked for the GUN as
the notary CLI asks), and the ugly cases (bad bodies, bad metadata, replays): each refused in
Notary's error format with the stored metadata unchanged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moorage.trust.keys import PublicKey, parse_key
from moorage.trust.metadata import parse
from moorage.trust.validation import check_signatures
from tests.inprocess import ThreadedApp
from tests.trust.craft import Signer, envelope, root, snapshot, targets
from tests.trust.world import TrustWorld, make_world


@pytest.fixture(scope="module")
def world(app_registry: ThreadedApp) -> TrustWorld:
    with app_registry.client() as admin:
        return make_world(admin)


@pytest.fixture()
def admin(app_registry: ThreadedApp) -> Iterator[httpx.Client]:
    with app_registry.client() as c:
        yield c


def _tuf(gun: str) -> str:
    return f"/v2/{gun}/_trust/tuf/"


def _files(uploads: dict[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{r}.json", b, "application/octet-stream")) for r, b in uploads.items()]


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    entry: dict[str, Any] = r.json()["errors"][0]
    assert entry["code"] == code, entry
    return entry


class Client:
    """A notary client's keys for one GUN, publishing through ``http``."""

    def __init__(self, http: httpx.Client, gun: str) -> None:
        self.http, self.gun = http, gun
        self.root_key = Signer("ecdsa-x509", cn=gun)
        self.targets_key = Signer("ecdsa")
        self.snapshot_key = Signer("ecdsa")
        self.ts: PublicKey | None = None
        self.version = 0

    def timestamp_key(self) -> PublicKey:
        r = self.http.get(_tuf(self.gun) + "timestamp.key")
        assert r.status_code == 200, r.text
        return parse_key(r.json())

    def initial(self) -> dict[str, bytes]:
        self.ts = self.timestamp_key()
        doc = root(1, [self.root_key], [self.targets_key], [self.snapshot_key.public], [self.ts])
        r = envelope(doc, self.root_key)
        return self.with_targets({"latest": b"one"}, r, version=1)

    def with_targets(
        self,
        files: dict[str, bytes],
        root_bytes: bytes,
        *,
        version: int,
        signer: Signer | None = None,
    ) -> dict[str, bytes]:
        t = envelope(targets(version, files), signer or self.targets_key)
        s = envelope(snapshot(version, {"root": root_bytes, "targets": t}), self.snapshot_key)
        return {"root": root_bytes, "targets": t, "snapshot": s}

    def publish(self, uploads: dict[str, bytes]) -> httpx.Response:
        return self.http.post(_tuf(self.gun), files=_files(uploads))


def _current(http: httpx.Client, gun: str, role: str) -> bytes:
    r = http.get(_tuf(gun) + f"{role}.json")
    assert r.status_code == 200, r.text
    return r.content


def test_anonymous_gets_the_challenge_for_the_repository(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=None) as anon:
        r = anon.get(_tuf(repo) + "root.json")
        _error(r, 401, "UNAUTHORIZED")
        challenge = r.headers["www-authenticate"]
        assert (
            challenge.startswith("Bearer realm=") and f'scope="repository:{repo}:pull"' in challenge
        )
        r = anon.post(_tuf(repo), files=_files({"root": b"{}"}))
        assert r.status_code == 401
        assert f'scope="repository:{repo}:pull,push"' in r.headers["www-authenticate"]


def test_writer_publishes_reader_reads(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        client = Client(dave, repo)
        uploads = client.initial()
        r = client.publish(uploads)
        assert r.status_code == 200, r.text
    with app_registry.client(auth=world.creds(world.reader)) as carol:
        stored_root = _current(carol, repo, "root")
        assert stored_root == uploads["root"]  # the very bytes uploaded
        r = carol.get(_tuf(repo) + "1.root.json")
        assert r.content == uploads["root"] and "max-age=2592000" in r.headers["cache-control"]
        sha = hashlib.sha256(uploads["targets"]).hexdigest()
        r = carol.get(_tuf(repo) + f"targets.{sha}.json")
        assert r.status_code == 200 and r.content == uploads["targets"]
        r = carol.get(_tuf(repo) + "timestamp.json")
        assert r.headers["content-type"] == "application/json"
        assert "max-age=300" in r.headers["cache-control"] and r.headers["last-modified"]
        ts = parse("timestamp", r.content)
        assert client.ts is not None
        assert check_signatures(ts, {client.ts.key_id: client.ts}, 1) is None
        snap = uploads["snapshot"]
        assert ts.meta["snapshot"].hashes["sha256"] == hashlib.sha256(snap).digest()
        _error(carol.get(_tuf(repo) + "2.root.json"), 404, "METADATA_NOT_FOUND")
        _error(carol.get(_tuf(repo) + "targets/releases.json"), 404, "METADATA_NOT_FOUND")
        # a reader may not publish, nor have the server make keys
        _error(Client(carol, repo).publish(uploads), 403, "DENIED")
        _error(carol.get(_tuf(repo) + "timestamp.key"), 403, "DENIED")
        _error(carol.post(_tuf(repo) + "snapshot.key"), 403, "DENIED")
        feed = carol.get(f"/v2/{repo}/_trust/changefeed", params={"change_id": 0, "records": 10})
        records = feed.json()["records"]
        assert feed.json()["count"] == 1 and records[0]["Category"] == "update"
        assert records[0]["GUN"] == repo and records[0]["Version"] == 1
        assert records[0]["SHA256"] == hashlib.sha256(r.content).hexdigest()


def test_bad_updates_change_nothing(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        client = Client(dave, repo)
        first = client.initial()
        assert client.publish(first).status_code == 200
        before = {
            role: _current(dave, repo, role)
            for role in ("root", "targets", "snapshot", "timestamp")
        }

        # a targets role signed by a key the root does not list
        bad = client.with_targets({"evil": b"x"}, first["root"], version=2, signer=Signer("ecdsa"))
        del bad["root"]
        entry = _error(client.publish(bad), 400, "INVALID_UPDATE")
        assert entry["detail"] == {
            "Name": "ErrBadTargets",
            "Error": {"Msg": entry["detail"]["Error"]["Msg"]},
        }
        # a changed target hash after signing
        good = client.with_targets({"v2": b"y"}, first["root"], version=2)
        del good["root"]  # unchanged: a client sends only what changed
        doc = json.loads(good["targets"])
        doc["signed"]["targets"]["v2"]["hashes"]["sha256"] = "A" * 43 + "="
        tampered = {"targets": json.dumps(doc).encode(), "snapshot": good["snapshot"]}
        _error(client.publish(tampered), 400, "INVALID_UPDATE")
        # a replay of version 1
        replay = {"targets": first["targets"], "snapshot": first["snapshot"]}
        _error(client.publish(replay), 400, "VERSION")
        # not JSON, an unknown role, no file name, not multipart, a timestamp from the client
        _error(client.publish({"targets": b"{nope"}), 400, "MALFORMED_JSON")
        _error(client.publish({"bogus": b"{}"}), 400, "INVALID_ROLE")
        _error(client.publish({"timestamp": before["timestamp"]}), 400, "INVALID_ROLE")
        _error(client.publish({"../root": b"{}"}), 400, "INVALID_ROLE")
        r = dave.post(_tuf(repo), data={"files": "root.json"}, files={"x": ("", b"", "text/plain")})
        assert r.status_code == 400, r.text
        r = dave.post(_tuf(repo), content=b"{}", headers={"content-type": "application/json"})
        _error(r, 400, "MALFORMED_UPLOAD")
        r = dave.post(
            _tuf(repo),
            content=b'--x\r\nContent-Disposition: form-data; name="f"; filename="root.json"'
            b"\r\n\r\n{}",
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        _error(r, 400, "MALFORMED_UPLOAD")
        after = {role: _current(dave, repo, role) for role in before}
        assert after == before
        # and the good one still goes through
        assert client.publish(good).status_code == 200
        assert parse("targets", _current(dave, repo, "targets")).version == 2


def test_body_over_the_limit(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        huge = b'{"signed":"' + b"a" * (2 * 1024 * 1024) + b'"}'
        r = dave.post(_tuf(repo), files=_files({"targets": huge}))
        assert r.status_code == 413, r.text
        _error(dave.get(_tuf(repo) + "targets.json"), 404, "METADATA_NOT_FOUND")


def test_only_the_administrator_deletes(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        client = Client(dave, repo)
        assert client.publish(client.initial()).status_code == 200
        _error(dave.delete(_tuf(repo)), 403, "DENIED")
    assert admin.delete(_tuf(repo)).status_code == 200
    _error(admin.get(_tuf(repo) + "root.json"), 404, "METADATA_NOT_FOUND")
    feed = admin.get(f"/v2/{repo}/_trust/changefeed").json()["records"]
    assert [r["Category"] for r in feed] == ["update", "deletion"]


def test_bearer_token_for_the_gun_as_notary_asks(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    gun = f"{app_registry.host}/{repo}"
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        r = dave.get(
            "/auth/token", params={"service": "moorage", "scope": f"repository:{gun}:push,pull"}
        )
        assert r.status_code == 200, r.text
        token = r.json()["token"]
    with app_registry.client(auth=None, headers={"authorization": f"Bearer {token}"}) as bearer:
        client = Client(bearer, gun)
        assert client.publish(client.initial()).status_code == 200
        assert parse("root", _current(bearer, gun, "root")).version == 1
        # the token carries no right on other repositories
        other = world.repository(admin)
        r = bearer.get(_tuf(f"{app_registry.host}/{other}") + "root.json")
        assert r.status_code == 401 and "insufficient_scope" in r.headers["www-authenticate"]
    with app_registry.client(auth=world.creds(world.reader)) as carol:
        r = carol.get(
            "/auth/token", params={"service": "moorage", "scope": f"repository:{gun}:push,pull"}
        )
        access = r.json()
        assert r.status_code == 200
    with app_registry.client(
        auth=None, headers={"authorization": f"Bearer {access['token']}"}
    ) as weak:
        assert weak.get(_tuf(gun) + "root.json").status_code == 200
        assert weak.post(_tuf(gun), files=_files({"root": b"{}"})).status_code == 401


def test_foreign_hosts_and_bad_guns(app_registry: ThreadedApp, admin: httpx.Client) -> None:
    _error(admin.get("/v2/elsewhere.example:5000/a/b/_trust/tuf/root.json"), 400, "INVALID_GUN")
    _error(admin.get("/v2/UPPER/case/_trust/tuf/root.json"), 400, "INVALID_GUN")
    r = admin.get("/v2/a/b/_trust/tuf/root.json")
    assert r.status_code in (401, 403, 404)


def test_publish_to_a_repository_that_does_not_exist(admin: httpx.Client) -> None:
    r = admin.get(_tuf("admin/never-made") + "timestamp.key")
    _error(r, 404, "NAME_UNKNOWN")


def test_global_changefeed_lists_only_visible_repositories(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    mine = world.repository(admin)
    hidden = "admin/hidden-" + mine.rsplit("/", 1)[1]
    r = admin.post(
        "/api/v0/repositories/admin", json={"name": hidden.split("/")[1], "visibility": "private"}
    )
    assert r.status_code == 201, r.text
    for gun in (mine, hidden):
        client = Client(admin, gun)
        assert client.publish(client.initial()).status_code == 200
    with app_registry.client(auth=None) as anon:
        assert anon.get("/v2/_trust/changefeed").status_code == 401
    with app_registry.client(auth=world.creds(world.reader)) as carol:
        guns = {
            c["GUN"]
            for c in carol.get("/v2/_trust/changefeed", params={"records": 1000}).json()["records"]
        }
        assert mine in guns and hidden not in guns
        _error(
            carol.get("/v2/_trust/changefeed", params={"change_id": "x"}), 400, "INVALID_PARAMETERS"
        )
        newest = carol.get("/v2/_trust/changefeed", params={"change_id": -1, "records": 1}).json()
        assert newest["count"] == 1
    everything = admin.get("/v2/_trust/changefeed", params={"records": 1000}).json()["records"]
    assert {mine, hidden} <= {c["GUN"] for c in everything}


def test_deleting_the_repository_deletes_its_trust_data(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    client = Client(admin, repo)
    assert client.publish(client.initial()).status_code == 200
    old_key = client.timestamp_key()
    assert admin.delete(f"/api/v0/repositories/{repo}").status_code == 204
    org, name = repo.split("/")
    r = admin.post(f"/api/v0/repositories/{org}", json={"name": name, "visibility": "private"})
    assert r.status_code == 201
    _error(admin.get(_tuf(repo) + "root.json"), 404, "METADATA_NOT_FOUND")
    assert client.timestamp_key() != old_key  # the server's keys went too


def test_server_managed_snapshot_after_rotation(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        client = Client(dave, repo)
        first = client.initial()
        assert client.publish(first).status_code == 200
        _error(dave.post(_tuf(repo) + "snapshot.key"), 403, "DENIED")  # rotating: admin
        r = admin.post(_tuf(repo) + "snapshot.key")
        assert r.status_code == 200, r.text
        snap_key = parse_key(r.json())
        assert client.ts is not None
        doc = root(2, [client.root_key], [client.targets_key], [snap_key], [client.ts])
        new_root = envelope(doc, client.root_key)
        t = envelope(targets(2, {"two": b"2"}), client.targets_key)
        assert client.publish({"root": new_root, "targets": t}).status_code == 200, (
            "server snapshot"
        )
        snap = parse("snapshot", _current(dave, repo, "snapshot"))
        assert snap.version == 2
        assert check_signatures(snap, {snap_key.key_id: snap_key}, 1) is None
        assert snap.meta["targets"].hashes["sha256"] == hashlib.sha256(t).digest()
        # GET snapshot.key now answers the key the root lists
        assert parse_key(dave.get(_tuf(repo) + "snapshot.key").json()) == snap_key


def test_deeply_nested_json_is_malformed(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        for body in (b"[" * 100_000, b'{"signed":' * 200 + b"1" + b"}" * 200):
            r = dave.post(_tuf(repo), files=_files({"targets": body}))
            _error(r, 400, "MALFORMED_JSON")


def test_repeated_signatures_count_once(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        client = Client(dave, repo)
        assert client.ts is None
        client.ts = client.timestamp_key()
        second = Signer("ecdsa-x509", cn=repo)
        doc = root(
            1,
            [client.root_key, second],
            [client.targets_key],
            [client.snapshot_key.public],
            [client.ts],
            threshold=2,
        )
        one = json.loads(envelope(doc, client.root_key))
        one["signatures"] = one["signatures"] * 500  # the same signature, 500 times
        uploads = client.with_targets({}, json.dumps(one).encode(), version=1)
        entry = _error(client.publish(uploads), 400, "INVALID_UPDATE")
        assert entry["detail"]["Name"] == "ErrBadRoot"


def test_delegation_by_checksum_and_version(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    with app_registry.client(auth=world.creds(world.writer)) as dave:
        client = Client(dave, repo)
        first = client.initial()
        assert client.publish(first).status_code == 200
        releaser = Signer("ecdsa")
        t = envelope(
            targets(2, {}, [("targets/releases", [releaser], 1, [""])]), client.targets_key
        )
        d = envelope(targets(1, {"v1": b"image"}), releaser)
        roles = {"root": first["root"], "targets": t, "targets/releases": d}
        s = envelope(snapshot(2, roles), client.snapshot_key)
        r = client.publish({"targets": t, "targets/releases": d, "snapshot": s})
        assert r.status_code == 200, r.text
        sha = hashlib.sha256(d).hexdigest()
        for path in (f"targets/releases.{sha}.json", "1.targets/releases.json"):
            got = dave.get(_tuf(repo) + path)
            assert got.status_code == 200 and got.content == d, path
        assert dave.get(_tuf(repo) + "targets/releases.json").content == d
        _error(
            dave.get(_tuf(repo) + f"targets/releases.{'0' * 64}.json"), 404, "METADATA_NOT_FOUND"
        )
        _error(dave.get(_tuf(repo) + "targets/Bad.Name.json"), 404, "METADATA_NOT_FOUND")


def test_read_only_mode_refuses_every_trust_write(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    client = Client(admin, repo)
    first = client.initial()
    assert client.publish(first).status_code == 200
    r = admin.get("/auth/token", params={"service": "moorage", "scope": f"repository:{repo}:*"})
    token = r.json()["token"]
    assert admin.post("/api/v0/meta/settings", json={"readOnlyRegistry": True}).status_code < 300
    try:
        _error(
            client.publish(client.with_targets({}, first["root"], version=2)), 405, "UNSUPPORTED"
        )
        _error(admin.delete(_tuf(repo)), 405, "UNSUPPORTED")
        with app_registry.client(auth=None, headers={"authorization": f"Bearer {token}"}) as t:
            _error(t.delete(_tuf(repo)), 405, "UNSUPPORTED")
            _error(t.post(_tuf(repo) + "timestamp.key"), 405, "UNSUPPORTED")
        assert _current(admin, repo, "targets") == first["targets"]  # reads go on
    finally:
        admin.post("/api/v0/meta/settings", json={"readOnlyRegistry": False})


def test_json_canonical_form_cannot_hold(
    app_registry: ThreadedApp, world: TrustWorld, admin: httpx.Client
) -> None:
    repo = world.repository(admin)
    client = Client(admin, repo)
    first = client.initial()
    assert client.publish(first).status_code == 200
    doc = json.loads(first["targets"])
    doc["signed"]["extra"] = 1.5  # canonical JSON has no fractions
    fraction = {"targets": json.dumps(doc).encode(), "snapshot": first["snapshot"]}
    _error(client.publish(fraction), 400, "INVALID_UPDATE")
    nan = first["targets"].replace(b'"version": 1', b'"version": NaN')
    _error(client.publish({"targets": nan}), 400, "MALFORMED_JSON")
    assert _current(admin, repo, "targets") == first["targets"]
