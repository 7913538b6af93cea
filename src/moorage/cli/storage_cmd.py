"""``moorage storage migrate --to URL``: copy every blob and manifest to another storage while
the registry serves, verify each copy in the new store, then switch (moorage.registry.
storage_migrate does the copying); and the stored storage setting that ``moorage serve`` and
``worker`` adopt when the configuration names none (``adopt_stored_storage``).

The switch writes the same database setting as ``PUT /api/v0/admin/settings/registry/simple``
(moorage.http.api.registry_settings): each replica uses it from its next start. When the
configuration pins the storage, the setting is written too, and the line to change is printed.

Credentials of the new store: ``MOORAGE_TO_ACCESS_KEY`` / ``MOORAGE_TO_SECRET_KEY`` (sealed into
the setting), else the store's usual environment variables (``AWS_*``, ``AZURE_STORAGE_KEY``
...), which every replica then needs too. ``--from URL`` (credentials
``MOORAGE_FROM_ACCESS_KEY`` / ``MOORAGE_FROM_SECRET_KEY``) names the old store when it is no
longer the one in force: after the restart, a second run copies what was pushed to the old store
between the switch and the restart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from moorage.auth.secretbox import SecretBox, SecretUnreadable
from moorage.cli.options import add_common, settings_from, with_database
from moorage.config import Settings
from moorage.db import site_settings
from moorage.db.engine import Database
from moorage.errors import ConfigError
from moorage.registry.storage_migrate import Migration, reachable
from moorage.storage import distribution_config as dist
from moorage.storage.configured import STORED_ENV, chosen_storage, driver_for, make_storage
from moorage.storage.objectstore_operators import Credentials
from moorage.storage.urls import parse_storage_url

_SHOWN_FAILURES = 20


def _env_credentials(prefix: str) -> Credentials:
    return Credentials(
        access_key=os.environ.get(f"{prefix}_ACCESS_KEY") or None,
        secret_key=os.environ.get(f"{prefix}_SECRET_KEY") or None,
    )


def stored_storage(settings: Settings) -> str | None:
    """The stored storage as ``STORED_ENV`` carries it (JSON: URL and clear keys), or None."""
    box = SecretBox.in_data_folder(settings.data)

    async def run(db: Database) -> str | None:
        record = await site_settings.load_storage(db)
        if record is None:
            return None
        try:
            creds = dist.opened_credentials(record, box.open)
        except SecretUnreadable as exc:
            raise ConfigError(
                f"the stored storage keys were sealed with another secret key than {box.path}: "
                "every replica needs the same secret key (MOORAGE_SECRET_KEY)"
            ) from exc
        doc = {"url": record["url"], "accessKey": creds.access_key, "secretKey": creds.secret_key}
        return json.dumps(doc)

    return with_database(settings, run)


def adopt_stored_storage(settings: Settings) -> None:
    """When the configuration names no storage, the stored one (if any) into ``STORED_ENV``
    for ``make_storage`` here and in the processes started from here; checked at once."""
    os.environ.pop(STORED_ENV, None)
    if settings.storage:
        return
    value = stored_storage(settings)
    if value is not None:
        os.environ[STORED_ENV] = value
        make_storage(settings)  # a stored URL that cannot be built: one clear error here


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    target_url = args.to.strip()
    parse_storage_url(target_url)  # a bad URL: one clear line before anything else
    adopt_stored_storage(settings)
    if args.source:
        source_url = args.source.strip()
        source_creds = _env_credentials("MOORAGE_FROM")
    else:
        chosen, source_creds = chosen_storage(settings, os.environ)
        source_url = chosen or f"file://{settings.storage_root}"
    if parse_storage_url(source_url).display() == parse_storage_url(target_url).display():
        raise ConfigError(f"{parse_storage_url(target_url).display()} is already the old storage")
    creds = _env_credentials("MOORAGE_TO")
    box = SecretBox.in_data_folder(settings.data)

    async def run(db: Database) -> int:
        source = driver_for(source_url, source_creds, os.environ)
        target = await reachable(target_url, creds, os.environ)
        old, new = parse_storage_url(source_url).display(), parse_storage_url(target_url).display()
        _say(f"copying from {old} to {new}" + (" (dry run)" if args.dry_run else ""))
        migration = Migration(
            db, source, target, report=_say, dry_run=args.dry_run, max_passes=args.max_passes
        )
        summary = await migration.run()
        print(summary.words())
        for digest, reason in summary.failures[:_SHOWN_FAILURES]:
            print(f"  failed: {digest}: {reason}")
        if args.dry_run:
            print("dry run: nothing was copied and nothing switched")
            return 0
        if not summary.complete:
            why = "failures" if summary.failures else "pushes kept coming; run it again"
            print(f"not switched ({why}): the registry still serves from {old}")
            return 1
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record = dist.sealed_record(
            target_url, creds, box.seal, by="moorage storage migrate", at=now
        )
        await site_settings.save_storage(db, record)
        if settings.storage:
            print(
                f"copied; the configuration pins the storage ({old}): set storage (MOORAGE_STORAGE"
                f" or --storage or storage: in the YAML file) to {target_url} on every replica "
                "(with the new store's keys in storage_access_key / storage_secret_key or its "
                "usual environment), then restart each one"
            )
        else:
            print(
                f"switched: the database now names {new}; restart each replica to use it "
                f"(then run `moorage storage migrate --from {source_url} --to {target_url}` "
                "once more to copy what was pushed before the restarts)"
            )
        return 0

    return with_database(settings, run)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    storage = sub.add_parser("storage", help="copy every blob to another storage, verify, switch")
    actions = storage.add_subparsers(dest="action", required=True)
    migrate = actions.add_parser(
        "migrate",
        help="copy every blob to another storage while serving, verify, then switch",
    )
    add_common(migrate)
    migrate.add_argument("--to", required=True, help="the new storage URL (docs/storage.md)")
    migrate.add_argument(
        "--from",
        dest="source",
        help="the old storage URL (default: the one in force: configuration, else the database)",
    )
    migrate.add_argument(
        "--dry-run", action="store_true", help="count what would be copied; change nothing"
    )
    migrate.add_argument(
        "--max-passes",
        type=int,
        default=10,
        help="passes over the pushes made meanwhile before giving up (default 10)",
    )
    migrate.set_defaults(func=cmd_migrate)
