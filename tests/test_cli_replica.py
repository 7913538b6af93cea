"""``moorage replica list|remove``: as a subprocess against the database of a real app running
in this process; remove refuses a replica that is still beating unless ``--force``."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import update

from moorage.db import replica_heartbeats as rh
from moorage.db.tables import replicas
from tests.auth.creds_helpers import app_services
from tests.cli import moorage
from tests.inprocess import InProcessApp


async def test_list_shows_health_and_remove_refuses_a_live_replica(inproc: InProcessApp) -> None:
    db = app_services(inproc).db
    await rh.register(db, "live-1", kind="serve", host="h1", address="10.0.0.1:5000", version="1")
    await rh.register(db, "dead-2", kind="worker", host="h2", address="", version="1")
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    async with db.write() as conn:
        await conn.execute(
            update(replicas).where(replicas.c.id == "dead-2").values(last_seen=long_ago)
        )

    def run(*words: str) -> tuple[int, str, str]:
        done = moorage("replica", *words, settings=inproc.settings)
        return done.returncode, done.stdout, done.stderr

    code, out, _ = await asyncio.to_thread(run, "list")
    assert code == 0
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["live-1"][1:3] == ["serve", "up"] and lines["dead-2"][1:3] == ["worker", "down"]

    code, _, err = await asyncio.to_thread(run, "remove", "live-1")
    assert code == 1 and "still sending heartbeats" in err
    code, _, err = await asyncio.to_thread(run, "remove", "nobody")
    assert code == 1 and "no replica" in err
    code, out, _ = await asyncio.to_thread(run, "remove", "dead-2")
    assert code == 0 and "removed" in out
    code, out, _ = await asyncio.to_thread(run, "remove", "live-1", "--force")
    assert code == 0
    own = rh.own_replica_id(inproc.settings)
    assert [r.id for r in await rh.list_all(db)] == [own]  # the app's own heartbeat
