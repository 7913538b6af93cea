"""Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL,
and can run twice (replicas starting together) without harm."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from moorage.db import (
    job_tables,  # noqa: F401  (declares its tables on the one MetaData)
    scan_tables,  # noqa: F401  (the vulnerability database's)
)
from moorage.db.engine import sync_url
from moorage.db.migrate import current, upgrade
from moorage.db.tables import metadata


@pytest.fixture()
def database_url(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if db_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    server = request.getfixturevalue("pg_server")
    url: str = server.create_database()
    return url


def test_migrations_match_tables(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # idempotent
    assert current(database_url) is not None
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []
