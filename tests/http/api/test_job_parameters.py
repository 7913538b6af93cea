"""Parameters of the scanner's jobs are checked when the job is queued through the jobs API
(``http/api/jobs.py`` → ``jobs.scan.validate``), so a bad one is refused at once with a clear
message and nothing is queued, rather than failing later in the runner."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import InProcessApp

REFUSED: list[tuple[str, Any]] = [
    ("scan", None),  # no digest
    ("scan", {}),
    ("scan", {"digest": "not-a-digest"}),
    ("scan", {"digest": 5}),
    ("scanall", {"scan": "yes"}),
    ("scanall", {"check": 1}),
]


@pytest.mark.parametrize(("action", "parameters"), REFUSED)
async def test_bad_scan_parameters_are_refused_when_queued(
    inproc: InProcessApp, action: str, parameters: Any
) -> None:
    async with inproc.client() as c:
        before = (await c.get("/api/v0/jobs")).json()["jobs"]
        body: dict[str, Any] = {"action": action}
        if parameters is not None:
            body["parameters"] = parameters
        r = await c.post("/api/v0/jobs", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["code"] == "INVALID_INPUT", r.text
        assert (await c.get("/api/v0/jobs")).json()["jobs"] == before


async def test_a_good_scanall_is_queued(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        r = await c.post("/api/v0/jobs", json={"action": "scanall", "parameters": {"check": True}})
        assert r.status_code in (200, 201, 202), r.text
        assert r.json()["action"] == "scanall"
