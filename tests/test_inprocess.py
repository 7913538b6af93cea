"""The in-process harness serves the same app as ``moorage serve``."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from moorage.db.migrate import current, head
from tests.inprocess import InProcessApp


async def test_ping_and_admin_login(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        assert (await c.get("/_ping")).json()["Healthy"] is True
        r = await c.get("/v2/")
        assert r.status_code == 200
    async with inproc.client(auth=None) as anonymous:
        r = await anonymous.get("/v2/")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer realm=")


def test_each_postgres_database_is_a_migrated_copy_of_its_own(
    db_kind: str, database_factory: Callable[[], str | None]
) -> None:
    """``database_factory`` hands out copies of the session's migrated template: at head
    already, and what one test writes is in no other database (nor in the template)."""
    if db_kind != "postgres":
        pytest.skip("SQLite databases live in each test's own data folder")
    first, second = database_factory(), database_factory()
    assert first and second and first != second
    assert current(first) == head() == current(second)
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (x integer)")
    for other in (second, database_factory()):
        assert other is not None
        with psycopg.connect(other) as conn:
            found = conn.execute("SELECT to_regclass('only_here')").fetchone()
            assert found == (None,)
