"""Replica rows: registered once per id (a restart refreshes, never duplicates), kept alive by
beats, down when not seen for a few intervals, removed by id."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from sqlalchemy import update

from moorage.config import Settings
from moorage.db import replica_heartbeats as rh
from moorage.db.engine import utcnow
from moorage.db.tables import replicas
from tests.auth.creds_helpers import app_services
from tests.http.api.dtr_schema import assert_matches
from tests.inprocess import InProcessApp


def test_a_worker_beside_a_serve_of_one_folder_has_its_own_id(tmp_path: Path) -> None:
    serve = rh.replica_id_for("host-a", tmp_path)
    assert rh.replica_id_for("host-a", tmp_path, "serve") == serve
    assert rh.replica_id_for("host-a", tmp_path, "worker") == f"{serve}-worker"
    assert rh.replica_id_for("host-b", tmp_path) != serve
    # Two serves of one folder on two addresses are two replicas.
    on_5000 = rh.replica_id_for("host-a", tmp_path, listen="0.0.0.0:5000")
    assert on_5000 != rh.replica_id_for("host-a", tmp_path, listen="0.0.0.0:5001")
    settings = Settings(data=tmp_path, listen="0.0.0.0:5000")
    assert rh.own_replica_id(settings) == rh.replica_id_for(
        socket.gethostname(), tmp_path, "serve", "0.0.0.0:5000"
    )
    assert rh.own_replica_id(settings, "worker") == rh.replica_id_for(
        socket.gethostname(), tmp_path, "worker"
    )
    named = Settings(data=tmp_path, replica_id="dtr-a1")
    assert (rh.own_replica_id(named), rh.own_replica_id(named, "worker")) == (
        "dtr-a1",
        "dtr-a1-worker",
    )


async def test_register_beat_health_and_remove(inproc: InProcessApp) -> None:
    db = app_services(inproc).db
    await rh.register(db, "r1", kind="serve", host="h1", address="10.0.0.1:5000", version="1")
    await rh.register(db, "r2", kind="worker", host="h2", address="", version="1")
    await rh.register(db, "r1", kind="serve", host="h1", address="10.0.0.1:5001", version="2")
    own = rh.own_replica_id(inproc.settings)
    listed = [r for r in await rh.list_all(db) if r.id != own]  # the app's own heartbeat
    assert [(r.id, r.kind, r.address, r.version) for r in listed] == [
        ("r1", "serve", "10.0.0.1:5001", "2"),
        ("r2", "worker", "", "1"),
    ]
    now = utcnow()
    assert all(r.healthy(now) for r in listed)
    later = now + dt.timedelta(seconds=rh.HEARTBEAT_SECONDS * (rh.DOWN_AFTER_BEATS + 1))
    assert not any(r.healthy(later) for r in listed)

    before = listed[0].last_seen
    assert await rh.beat(db, "r1")
    (r1,) = [r for r in await rh.list_all(db) if r.id == "r1"]
    assert r1.last_seen >= before

    assert await rh.remove(db, "r2")
    assert not await rh.remove(db, "r2")
    assert not await rh.beat(db, "r2")
    assert [r.id for r in await rh.list_all(db)] == sorted(["r1", own])


async def test_cluster_status_lists_registered_replicas_with_health(inproc: InProcessApp) -> None:
    db = app_services(inproc).db
    await rh.register(db, "other-1", kind="serve", host="h1", address="", version="1")
    await rh.register(db, "gone-2", kind="serve", host="h2", address="", version="1")
    async with db.write() as conn:
        await conn.execute(
            update(replicas)
            .where(replicas.c.id == "gone-2")
            .values(last_seen=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        )
    async with inproc.client() as c:
        r = await c.get("/api/v0/meta/cluster_status")
        assert r.status_code == 200, r.text
        body = r.json()
        assert_matches(body, "responses.ClusterStatus")
        assert body["replica_health"]["other-1"] == "OK"
        assert body["replica_health"]["gone-2"].startswith("down")
        assert body["replica_timestamp"]["gone-2"] == "2020-01-01T00:00:00.000Z"
        # This replica once, under the ID its heartbeat registers and its settings name.
        own = rh.own_replica_id(inproc.settings)
        assert sorted(body["replica_health"]) == sorted(["other-1", "gone-2", own])
        settings = (await c.get("/api/v0/meta/settings")).json()
        assert settings["replicaID"] == own
        async with inproc.client(auth=None) as anonymous:
            denied = await anonymous.get("/api/v0/meta/cluster_status")
        assert denied.status_code == 401
        assert denied.json()["errors"][0]["code"] == "NOT_AUTHENTICATED"
