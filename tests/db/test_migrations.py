"""Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL,
and can run twice (replicas starting together) without harm."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from moorage.db.engine import sync_url
from moorage.db.migrate import current, upgrade
from moorage.db.schema import metadata


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


def test_licences_of_components_already_stored_are_indexed(database_url: str) -> None:
    """0028 fills ``image_scan_component_licenses`` from the components scanned before it."""
    upgrade(database_url, "0027")
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO image_scans (manifest_digest, status, queued_at) "
                    "VALUES ('sha256:aa', 'done', CURRENT_TIMESTAMP)"
                )
            )
            for pk, licences in ((1, '["MIT", "Apache-2.0", " mit "]'), (2, "[]"), (3, "nope")):
                conn.execute(
                    text(
                        "INSERT INTO image_scan_components (pk, manifest_digest, layer_index, "
                        "layer_digest, type, name, version, path, licenses) VALUES (:pk, "
                        "'sha256:aa', 0, 'sha256:l', 'deb', :name, '1', '/', :lic)"
                    ),
                    {"pk": pk, "name": f"c{pk}", "lic": licences},
                )
        upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT component_pk, manifest_digest, license "
                    "FROM image_scan_component_licenses ORDER BY license"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "sha256:aa", "apache-2.0"), (1, "sha256:aa", "mit")]


def test_catalog_and_tags_pages_are_index_scans(database_url: str, db_kind: str) -> None:
    """The catalog's and the tags list's pages (ordered by code point) walk an index on
    PostgreSQL, never a sort of every row (migration 0031: the names collated "C"). Sequential
    and bitmap scans are priced out so the plan shows what the indexes can do, not what a small
    table's statistics prefer."""
    if db_kind != "postgres":
        pytest.skip("SQLite's default collation is already bytewise")
    upgrade(database_url)
    engine = create_engine(sync_url(database_url))
    queries = [
        'SELECT name FROM repositories WHERE name COLLATE "C" > :last '
        'ORDER BY name COLLATE "C" LIMIT 101',
        'SELECT name FROM tags WHERE repository_id = 1 AND name COLLATE "C" > :last '
        'ORDER BY name COLLATE "C" LIMIT 101',
    ]
    try:
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
            for query in queries:
                plan = "\n".join(
                    r[0] for r in conn.execute(text(f"EXPLAIN {query}"), {"last": "a"})
                )
                assert "Index" in plan and "Sort" not in plan, plan
    finally:
        engine.dispose()
