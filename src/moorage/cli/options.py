"""What every ``moorage`` command shares: the settings flags, loading them, and readying the
data folder (private modes, the secret key) before anything opens the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import OperationalError, ProgrammingError

from moorage import logs
from moorage.auth.secretbox import SecretBox
from moorage.cli import datafolder
from moorage.config import Settings, load_settings
from moorage.db.engine import Database, sqlite_path
from moorage.errors import ConfigError

log = logging.getLogger("moorage.cli")
T = TypeVar("T")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML config file")
    parser.add_argument("--data", type=Path, help="data folder (default ./var; MOORAGE_DATA)")
    parser.add_argument(
        "--database", help="database URL, e.g. postgresql://user:pw@host/db (MOORAGE_DATABASE)"
    )
    parser.add_argument(
        "--storage",
        help="where blobs live: file:///srv/moorage, s3://BUCKET/PREFIX?endpoint=..., gs://, "
        "azblob://, swift:// (MOORAGE_STORAGE; docs/storage.md)",
    )


def settings_from(args: argparse.Namespace, **extra: object) -> Settings:
    storage = getattr(args, "storage", None)
    settings = load_settings(
        args.config, data=args.data, database=args.database, storage=storage, **extra
    )
    logs.configure(settings.log_level, settings.log_format)
    return settings


def ready_data_folder(settings: Settings) -> None:
    """The data folder private (created 0700, an older install's modes fixed, with a log line),
    and ``MOORAGE_SECRET_KEY``, when given, in its ``secret.key``."""
    datafolder.secure(settings.data)
    if settings.secret_key is not None:
        box = SecretBox.in_data_folder(settings.data)
        if box.install(settings.secret_key.get_secret_value()):
            log.info("secret key written from the settings", extra={"file": str(box.path)})


def with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on a database handle in a fresh event loop, closing the handle after; a
    database that is missing or not migrated is a clear error, not a traceback."""
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no database at {path}: start `moorage serve` or `moorage migrate` first"
        )

    async def run() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db)
        except (OperationalError, ProgrammingError) as exc:
            raise ConfigError(
                f"database {db.safe_url}: {exc.orig}; is it migrated (`moorage migrate`)?"
            ) from exc
        finally:
            await db.close()

    return asyncio.run(run())
