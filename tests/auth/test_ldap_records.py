"""The record of an LDAP sync (``moorage.auth.ldap.records``): what a sync did, stored in the
row's JSON document and read back as typed values, and answered by the API in eNZi/DTR's names.

Rows written before (a waiting sync's ``{"jobID": ...}``, a finished one's full document) read
back unchanged; a document that does not parse, or holds values of the wrong type, reads as
nothing done (200, never a 500). No directory is needed: the rows are written as the sync job
writes them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from moorage.auth.ldap import records
from moorage.auth.ldap.records import SyncResult, TeamOutcome
from moorage.db import tables as t
from moorage.db.engine import Database
from tests.inprocess import InProcessApp

SYNCS = "/enzi/v0/config/auth/ldap/sync"


@pytest.fixture()
async def db(inproc: InProcessApp) -> AsyncIterator[Database]:
    database = Database(inproc.settings.database_url)
    try:
        yield database
    finally:
        await database.close()


async def raw_row(db: Database, result: str, *, status: str = "succeeded") -> int:
    """A row as an earlier version (or a damaged database) left it."""
    started = dt.datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
    async with db.write() as conn:
        row = (
            await conn.execute(
                t.ldap_syncs.insert()
                .values(
                    started_at=started,
                    finished_at=started + dt.timedelta(seconds=2),
                    status=status,
                    result=result,
                    trigger="scheduled",
                    runner="replica-1",
                )
                .returning(t.ldap_syncs.c.id)
            )
        ).one()
    return int(row.id)


async def answer(inproc: InProcessApp, sync_id: int) -> dict[str, Any]:
    async with inproc.client() as c:
        r = await c.get(f"{SYNCS}/{sync_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_finished_sync_reads_back_as_it_was_recorded(
    inproc: InProcessApp, db: Database
) -> None:
    async with db.write() as conn:
        sync_id = await records.insert(conn, "manual", status="waiting")
        await records.set_job(conn, sync_id, "job-1")
    waiting = await records.get_sync(db, sync_id)
    assert (waiting.status, waiting.finished, waiting.finished_at) == ("waiting", False, None)
    assert waiting.result == SyncResult(job_id="job-1")

    result = SyncResult(job_id="job-1", users_found=7, users_created=3, users_deactivated=1)
    result.team_members_added, result.team_members_removed = 4, 2
    result.teams = [
        TeamOutcome("corp/devs", added=4, removed=2, unmatched=1),
        TeamOutcome("corp/broken", error="no such group"),
    ]
    result.error("team corp/broken: no such group")
    assert await records.start(db, sync_id, "replica-2", "job-1", again=False)
    await records.finish(db, sync_id, "succeeded", result)
    done = await records.get_sync(db, sync_id)
    assert done.result == result and done.finished and done.runner == "replica-2"
    assert done.finished_at is not None and done.finished_at >= done.started_at

    body = await answer(inproc, sync_id)
    assert body["status"] == "succeeded" and body["trigger"] == "manual"
    assert (body["usersFound"], body["usersCreated"], body["usersDeactivated"]) == (7, 3, 1)
    assert (body["teamMembersAdded"], body["teamMembersRemoved"]) == (4, 2)
    assert body["jobID"] == "job-1" and body["errors"] == ["team corp/broken: no such group"]
    # A team's entry names what it has: the error, or the unmatched count.
    assert body["teams"] == [
        {"team": "corp/devs", "added": 4, "removed": 2, "unmatched": 1},
        {"team": "corp/broken", "added": 0, "removed": 0, "error": "no such group"},
    ]


async def test_rows_written_before_read_back(inproc: InProcessApp, db: Database) -> None:
    waiting = await raw_row(db, json.dumps({"jobID": "j-old"}), status="waiting")
    body = await answer(inproc, waiting)
    assert body["jobID"] == "j-old" and body["usersCreated"] == 0 and body["teams"] == []
    document = {
        "usersFound": 5,
        "usersCreated": 2,
        "usersUpdated": 1,
        "usersDeactivated": 0,
        "usersReactivated": 1,
        "teamMembersAdded": 3,
        "teamMembersRemoved": 0,
        "errors": ["one"],
        "teams": [{"team": "o/t", "added": 3, "removed": 0, "unmatched": 0}],
        "jobID": "j-2",
    }
    finished = await raw_row(db, json.dumps(document))
    body = await answer(inproc, finished)
    assert {k: body[k] for k in document} == document
    assert body["startedAt"] == "2026-03-01T12:00:00.123Z"
    assert body["finishedAt"] == "2026-03-01T12:00:02.123Z"
    assert (body["runner"], body["trigger"]) == ("replica-1", "scheduled")


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "[1, 2]",
        "null",
        json.dumps(
            {
                "usersCreated": "7",
                "usersUpdated": True,
                "usersFound": None,
                "errors": "not a list",
                "teams": [5, {"team": 3}, {"added": 1}],
                "jobID": 12,
            }
        ),
    ],
)
async def test_a_damaged_document_reads_as_nothing_done(
    inproc: InProcessApp, db: Database, stored: str
) -> None:
    body = await answer(inproc, await raw_row(db, stored))
    counts = [k for k in body if k.startswith(("users", "teamMembers"))]
    assert len(counts) == 7 and all(body[k] == 0 for k in counts), body
    assert (body["errors"], body["teams"], body["jobID"]) == ([], [], "")


async def test_damaged_values_inside_a_team_entry_are_dropped(
    inproc: InProcessApp, db: Database
) -> None:
    stored = {
        "errors": ["kept", 3],
        "teams": [{"team": "o/t", "added": "x", "removed": 2, "unmatched": "y", "error": 1}],
    }
    body = await answer(inproc, await raw_row(db, json.dumps(stored)))
    assert body["errors"] == ["kept"]
    assert body["teams"] == [{"team": "o/t", "added": 0, "removed": 2}]


async def test_pages_newest_first(inproc: InProcessApp, db: Database) -> None:
    ids = [await raw_row(db, json.dumps({"jobID": f"j{n}"})) for n in range(3)]
    async with inproc.client() as c:
        r = await c.get(SYNCS, params={"pageSize": 2})
        assert r.status_code == 200, r.text
        assert [s["id"] for s in r.json()["syncs"]] == ids[::-1][:2]
        assert r.headers["X-Next-Page-Start"] == str(ids[0]) == r.json()["nextPageStart"]
        r = await c.get(SYNCS, params={"pageStart": str(ids[0])})
        assert [s["jobID"] for s in r.json()["syncs"]] == ["j0"]
        assert "X-Next-Page-Start" not in r.headers and r.json()["nextPageStart"] == ""
        r = await c.get(f"{SYNCS}/{ids[-1] + 100}")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_SYNC"
