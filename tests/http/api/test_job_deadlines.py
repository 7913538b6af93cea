"""A job's or a cron's ``deadline`` (``http/api/jobs.py``): Go's duration strings as DTR sends
them, parsed by ``durationpy``, or plain seconds; what is not one is refused with a clear message
and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import InProcessApp

DURATION = "deadline must be a duration like 30m or 1h"
WHOLE = "deadline must be a whole number of seconds"
TOO_LONG = "deadline must be at most 2147483647 seconds"

ACCEPTED: list[tuple[Any, int]] = [
    # What the API always took.
    ("30m", 30 * 60),
    ("1h30m", 90 * 60),
    ("90s", 90),
    ("1h0m5s", 3605),
    ("45m30s", 45 * 60 + 30),
    (" 2h ", 2 * 3600),
    (600, 600),
    # The rest of Go's grammar (and durationpy's days and weeks, as the crons take them).
    ("1.5h", 90 * 60),
    ("30s1m", 90),
    ("3000ms", 3),
    ("1d", 24 * 3600),
    ("1w", 7 * 24 * 3600),
    ("596523h14m7s", 2**31 - 1),
]
NONE: list[Any] = [None, "", 0, "0", "0s", "0h0m"]
REFUSED: list[tuple[Any, str]] = [
    ("soon", DURATION),
    ("30", DURATION),  # a number without a unit
    ("1h 30m", DURATION),  # durationpy would skip what lies between its terms
    ("1h,30m", DURATION),
    ("1hH30m", DURATION),
    ("1H", DURATION),
    ("-5m", DURATION),
    ("+5m", DURATION),
    ("1x", DURATION),
    ("h", DURATION),
    ("1..5h", DURATION),
    ("9" * 400 + "h", DURATION),
    (-5, DURATION),
    (30.5, DURATION),
    (True, DURATION),
    (False, DURATION),
    ([], DURATION),
    ({"seconds": 5}, DURATION),
    ("1500ms", WHOLE),
    ("0.5s", WHOLE),
    ("596523h14m8s", TOO_LONG),
    (2**31, TOO_LONG),
    (10**400, TOO_LONG),
]


def cron(deadline: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"action": "sleep", "schedule": "@every 24h"}
    if deadline is not None:
        body["deadline"] = deadline
    return body


@pytest.mark.parametrize(("deadline", "seconds"), ACCEPTED)
async def test_durations_and_seconds(inproc: InProcessApp, deadline: Any, seconds: int) -> None:
    async with inproc.client() as c:
        r = await c.post("/api/v0/crons", json=cron(deadline))
        assert r.status_code == 202, r.text
        assert r.json()["deadline"] == f"{seconds}s"
        assert (await c.get("/api/v0/crons/sleep")).json()["deadline"] == f"{seconds}s"


@pytest.mark.parametrize("deadline", NONE)
async def test_nothing_or_zero_is_no_deadline(inproc: InProcessApp, deadline: Any) -> None:
    async with inproc.client() as c:
        r = await c.post("/api/v0/crons", json=cron(deadline))
        assert r.status_code == 202, r.text
        assert r.json()["deadline"] == ""


@pytest.mark.parametrize(("deadline", "message"), REFUSED)
async def test_refused_with_a_clear_message(
    inproc: InProcessApp, deadline: Any, message: str
) -> None:
    async with inproc.client() as c:
        before = (await c.get("/api/v0/jobs")).json()["jobs"]
        for path in ("/api/v0/crons", "/api/v0/jobs"):
            r = await c.post(path, json=cron(deadline))
            assert r.status_code == 400, (path, r.text)
            error = r.json()["errors"][0]
            assert (error["code"], error["message"]) == ("INVALID_INPUT", message), r.text
            assert error["detail"] == {"deadline": deadline}
        # Nothing was stored: no cron, no job.
        assert (await c.get("/api/v0/crons/sleep")).status_code == 404
        assert (await c.get("/api/v0/jobs")).json()["jobs"] == before
