"""``moorage check``: is this installation sound? One line per check, ``ok`` or ``FAIL``, and a
non-zero exit code when any check fails. It reads and probes; it writes only the storage probe
(deleted again) and, when it is missing, the storage folder."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable

from moorage.auth.jwt_tokens import key_status
from moorage.auth.secretbox import SecretBox
from moorage.cli import datafolder
from moorage.cli.options import add_common, settings_from
from moorage.config import Settings
from moorage.db.engine import Database, sqlite_path
from moorage.db.migrate import current, head
from moorage.errors import MoorageError

Result = tuple[bool, str]


def _data_folder(settings: Settings) -> Result:
    root = settings.data.resolve()
    if not root.is_dir():
        return False, f"data folder: {root} does not exist"
    loose = datafolder.loose_entries(root)
    if loose:
        shown = ", ".join(e.describe(root) for e in loose[:5])
        more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
        return False, (
            f"file modes: {len(loose)} entries in {root} are open to other users ({shown}{more}); "
            "`moorage serve` makes them private on start"
        )
    return True, f"file modes: {root} and everything in it private (0700 folders, 0600 files)"


async def _database(settings: Settings) -> list[Result]:
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return [(False, f"database: {path} does not exist (run `moorage migrate`)")]
    db = Database(settings.database_url)
    out: list[Result] = []
    try:
        try:
            await db.check_health()
        except Exception as exc:  # any driver error: the check's answer, not a crash
            return [(False, f"database: {db.safe_url} unreachable: {exc}")]
        out.append((True, f"database: {db.safe_url} reachable"))
        at, newest = await asyncio.to_thread(current, settings.database_url), head()
        if at == newest:
            out.append((True, f"migrations: at head ({newest})"))
        else:
            out.append(
                (False, f"migrations: at {at or 'none'}, head is {newest} (run `moorage migrate`)")
            )
            return out
        out.append(await _signing_key(settings, db))
    finally:
        await db.close()
    return out


async def _signing_key(settings: Settings, db: Database) -> Result:
    box = SecretBox.in_data_folder(settings.data)
    if not box.path.exists():  # (opening would create one)
        keys, _, _ = await key_status(db, None)
        if keys == 0:
            return False, "signing key: none yet (`moorage serve` creates it)"
        return False, f"signing key: no secret key file {box.path} to open it with"
    if settings.secret_key is not None:
        given = settings.secret_key.get_secret_value().strip().encode()
        if box.path.read_bytes().strip() != given:
            return False, f"signing key: MOORAGE_SECRET_KEY differs from {box.path}"
    keys, sealed, opened = await key_status(db, box)
    if keys == 0:
        return False, "signing key: none yet (`moorage serve` creates it)"
    if sealed < keys:
        return False, (
            f"signing key: {keys - sealed} of {keys} stored in clear (`moorage serve` seals it)"
        )
    if opened < sealed:
        return False, f"signing key: sealed with another secret key than {box.path}"
    return True, f"signing key: present and sealed with {box.path}"


async def _storage(settings: Settings) -> Result:
    from moorage.storage.configured import make_storage, storage_location

    try:
        storage = make_storage(settings)
        await storage.check_health()
    except (MoorageError, OSError) as exc:
        message = exc.message if isinstance(exc, MoorageError) else str(exc)
        return False, f"storage: {message}"
    return True, f"storage: {storage_location(settings)} readable and writable"


def run_checks(settings: Settings, emit: Callable[[str], None]) -> bool:
    results = [_data_folder(settings)]
    if settings.data.resolve().is_dir():
        results.append(asyncio.run(_storage(settings)))
    results.extend(asyncio.run(_database(settings)))
    for ok, line in results:
        emit(f"{'ok  ' if ok else 'FAIL'} {line}")
    return all(ok for ok, _ in results)


def cmd_check(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its context notes are no finding
    return 0 if run_checks(settings, print) else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "check", help="check the database, migrations, storage, signing key and file modes"
    )
    add_common(parser)
    parser.set_defaults(func=cmd_check)
