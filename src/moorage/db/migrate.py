"""Run Alembic migrations programmatically (``moorage migrate`` and on start-up).

Several replicas may start at once: PostgreSQL migrations run under an advisory
lock, SQLite ones under a file lock beside the database.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from moorage.db.engine import sync_url

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x6D6F6F72  # "moor"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["url"] = sync_url(url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    sync = sync_url(url)
    u = make_url(sync)
    cfg = alembic_config(url)
    if u.drivername.startswith("sqlite"):
        database = u.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            with open(f"{database}.migrate-lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                command.upgrade(cfg, revision)
            return
        command.upgrade(cfg, revision)
        return
    engine = create_engine(sync)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
