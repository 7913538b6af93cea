"""``GET /_notary_server/health`` in process: notary-server's health answer (``{}`` and 200),
with no credentials, whatever the blob store's state; 503 naming the failed check when the
database fails, as ``/_ping`` reflects it; only GET (and HEAD) answer."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy.exc import OperationalError

from moorage.db.engine import Database
from tests.inprocess import InProcessApp

HEALTH = "/_notary_server/health"


async def test_healthy_needs_no_credentials(inproc: InProcessApp) -> None:
    async with inproc.client(auth=None) as anonymous:
        r = await anonymous.get(HEALTH)
        assert r.status_code == 200, r.text
        assert r.json() == {}
        assert r.headers["content-type"].startswith("application/json")
        assert "www-authenticate" not in r.headers
        # bad credentials are not even read
        r = await anonymous.get(HEALTH, auth=("nobody", "wrong"))
        assert (r.status_code, r.json()) == (200, {})


async def test_unhealthy_database_is_503_with_the_check_named(
    inproc: InProcessApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(self: Database) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))

    async with inproc.client(auth=None) as anonymous:
        monkeypatch.setattr(Database, "check_health", down)
        r = await anonymous.get(HEALTH)
        ping = await anonymous.get("/_ping")
        monkeypatch.undo()
        assert r.status_code == 503, r.text
        assert r.json() == {"DB operational": "database: OperationalError"}
        assert "database is down" not in r.text  # the reason is logged, not told
        assert ping.status_code == 503 and "database" in ping.json()["Error"]
        r = await anonymous.get(HEALTH)
        assert (r.status_code, r.json()) == (200, {})


async def test_blob_store_is_no_part_of_notarys_health(inproc: InProcessApp) -> None:
    """Trust data and the server's keys live in the database: a broken blob store turns
    ``/_ping`` unhealthy but not Notary's health."""
    storage = inproc.settings.data / "storage"
    async with inproc.client(auth=None) as anonymous:
        shutil.rmtree(storage, ignore_errors=True)
        storage.write_text("not a directory")
        try:
            assert (await anonymous.get("/_ping")).status_code == 503
            r = await anonymous.get(HEALTH)
            assert (r.status_code, r.json()) == (200, {})
        finally:
            storage.unlink()
            storage.mkdir()
        assert (await anonymous.get("/_ping")).status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_only_get(inproc: InProcessApp, method: str) -> None:
    async with inproc.client(auth=None) as anonymous:
        r = await anonymous.request(method, HEALTH)
        assert r.status_code == 405, (method, r.text)
        assert (await anonymous.head(HEALTH)).status_code == 200
        # a neighbouring path is no health route
        assert (await anonymous.get(HEALTH + "/x")).status_code == 404
