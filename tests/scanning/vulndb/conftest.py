"""A migrated database of the kind under test (``--db sqlite,postgres``) for the vulnerability
database's domain tests; no server. Each SQLite database is a copy of one migrated template."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from moorage.db.engine import Database
from moorage.db.migrate import upgrade


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vulndb-template") / "moorage.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture()
async def db(
    tmp_path: Path,
    database_factory: Callable[[], str | None],
    sqlite_template: Path,
) -> AsyncIterator[Database]:
    url = database_factory()
    if url is None:
        path = tmp_path / "moorage.db"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        await asyncio.to_thread(upgrade, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.close()
