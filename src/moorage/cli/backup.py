"""``moorage backup FILE`` (while serving) and ``moorage restore FILE [--force]``: everything in
the SQL database to one file and back, into the same or the other dialect (SQLite → PostgreSQL
is the way an embedded install grows). Blobs stay in the store. The file and its rules:
``docs/backup.md``; the dump and load: ``moorage.db.backup``.

The sealed values in the database open only with the data folder's ``secret.key``: it goes into
the backup only with ``--include-secret-key``, and then the whole file is encrypted with a
passphrase (``--passphrase-file`` or ``MOORAGE_BACKUP_PASSPHRASE``, never an argument);
otherwise the operator copies the key file, and a restore refuses a data folder whose key is
missing or another one. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from moorage import __version__
from moorage.auth.secretbox import SecretBox
from moorage.cli.options import add_common, ready_data_folder, settings_from
from moorage.config import Settings
from moorage.db import backup
from moorage.db import backup_format as fmt
from moorage.db.engine import sqlite_path
from moorage.errors import ConfigError

PASSPHRASE_ENV = "MOORAGE_BACKUP_PASSPHRASE"


def _passphrase(args: argparse.Namespace) -> bytes | None:
    """From ``--passphrase-file`` (its first line) or the environment; None when neither."""
    if args.passphrase_file is not None:
        try:
            raw = Path(args.passphrase_file).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the passphrase file: {exc.strerror}") from exc
        value = raw.splitlines()[0] if raw.strip() else b""
    elif os.environ.get(PASSPHRASE_ENV) is not None:
        value = os.environ[PASSPHRASE_ENV].encode()
    else:
        return None
    if not value.strip():
        raise ConfigError("the backup passphrase is empty")
    return value


def _local_key(settings: Settings) -> bytes | None:
    """The data folder's secret key as the server would use it, without creating one."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().strip().encode()
    path = SecretBox.in_data_folder(settings.data).path
    try:
        return path.read_bytes().strip() or None
    except FileNotFoundError:
        return None


def cmd_backup(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    target: Path = args.file
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        raise ConfigError(f"no database at {path}: nothing to back up")
    passphrase = _passphrase(args)
    key = _local_key(settings)
    key_path = SecretBox.in_data_folder(settings.data).path
    if args.include_secret_key:
        if passphrase is None:
            raise ConfigError(
                "--include-secret-key encrypts the backup: give a passphrase with "
                f"--passphrase-file or {PASSPHRASE_ENV}"
            )
        if key is None:
            raise ConfigError(f"there is no secret key at {key_path} to include")
    if target.exists():
        raise ConfigError(f"{target} exists: choose another name (a backup never overwrites)")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create {target}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as out, _database_errors(settings.database_url):
            manifest = backup.dump(
                settings.database_url,
                out,
                moorage_version=__version__,
                secret_key=key,
                include_secret_key=args.include_secret_key,
                passphrase=passphrase,
            )
            out.flush()
            os.fsync(out.fileno())
        os.link(partial, target)  # never over a file made meanwhile
    except FileExistsError as exc:
        raise ConfigError(f"{target} appeared while backing up: choose another name") from exc
    finally:
        partial.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder = os.open(target.resolve().parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    rows = sum(t.rows for t in manifest.tables)
    encrypted = "encrypted" if passphrase is not None else "not encrypted"
    print(
        f"backed up {len(manifest.tables)} tables, {rows} rows (schema {manifest.revision}, "
        f"{manifest.dialect}) to {target} ({encrypted}); blobs stay in the store"
    )
    if args.include_secret_key:
        print("the secret key is in the backup: keep the passphrase apart from the file")
    elif key is None:
        print(
            f"no secret key at {key_path}: copy secret.key from the serving data folder to the "
            "restored install's, or its sealed values will not open",
            file=sys.stderr,
        )
    else:
        print(
            f"the secret key is not in the backup: copy {key_path} to the restored install's "
            "data folder (or back up with --include-secret-key and a passphrase)"
        )
    return 0


def _check_key(settings: Settings, manifest: fmt.Manifest, carried: bytes | None) -> bool:
    """Before anything is written: the local key opens the backup's sealed values, or the
    backup carries the key and there is none here yet (True: install it after the restore)."""
    local = _local_key(settings)
    key_path = SecretBox.in_data_folder(settings.data).path
    if manifest.secret_key_id is None:
        print(
            "the backup does not say which secret key sealed its values: make sure "
            f"{key_path} is the source's",
            file=sys.stderr,
        )
        return False
    if local is not None:
        if fmt.secret_key_id(local) != manifest.secret_key_id:
            raise fmt.BackupRefused(
                f"the secret key at {key_path} is not the one that sealed the backup's values: "
                "put the source's secret.key there (or move this one away when the backup "
                "carries its key)"
            )
        return False
    if carried is None:
        raise fmt.BackupRefused(
            f"no secret key at {key_path}: copy secret.key from the source's data folder "
            "first (the backup does not carry it), or its sealed values will not open"
        )
    if fmt.secret_key_id(carried) != manifest.secret_key_id:
        raise fmt.BackupInvalid("the backup's secret key does not match its manifest")
    return True


def cmd_restore(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    source_path: Path = args.file
    ready_data_folder(settings)
    with contextlib.ExitStack() as stack:
        try:
            source: IO[bytes] = stack.enter_context(open(source_path, "rb"))
        except OSError as exc:
            raise ConfigError(f"cannot read {source_path}: {exc.strerror}") from exc
        if fmt.is_encrypted(source.read(len(fmt.MAGIC))):
            passphrase = _passphrase(args)
            if passphrase is None:
                raise ConfigError(
                    f"{source_path} is encrypted: give its passphrase with --passphrase-file "
                    f"or {PASSPHRASE_ENV}"
                )
            source.seek(0)
            # The clear archive, private and nameless, in the (private) data folder.
            clear = stack.enter_context(tempfile.TemporaryFile(dir=settings.data.resolve()))
            for segment in fmt.decrypt_segments(source, passphrase):
                clear.write(segment)
            clear.seek(0)
            source = clear
        else:
            source.seek(0)
        archive = stack.enter_context(backup.open_archive(source))
        manifest = backup.verify(archive)
        carried = backup.secret_key_in(archive, manifest)
        install_key = _check_key(settings, manifest, carried)
        with _database_errors(settings.database_url):
            restored = backup.load(settings.database_url, archive, manifest, force=args.force)
    if install_key and carried is not None:
        SecretBox.in_data_folder(settings.data).install(carried.decode())
    print(
        f"restored {len(restored)} tables, {sum(restored.values())} rows (schema "
        f"{manifest.revision}, from {manifest.dialect}, made {manifest.created_at} by moorage "
        f"{manifest.moorage_version}) into {_safe(settings.database_url)}"
        + ("; the secret key was written to the data folder" if install_key else "")
    )
    print("blobs are not in the backup: serve with the same storage (or a copy of it)")
    return 0


@contextlib.contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that cannot be reached or read is a clear message, not a traceback."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        raise ConfigError(f"database {_safe(url)}: {exc.orig}") from exc


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    passphrase_help = (
        f"file whose first line is the passphrase (else {PASSPHRASE_ENV}; never an argument)"
    )
    dump = sub.add_parser("backup", help="back up the SQL database to a file (while serving)")
    add_common(dump)
    dump.add_argument("file", type=Path, help="the backup file to create (mode 0600)")
    dump.add_argument(
        "--include-secret-key",
        action="store_true",
        help="put the data folder's secret key in the backup, encrypted with a passphrase",
    )
    dump.add_argument("--passphrase-file", type=Path, help=f"encrypt: the {passphrase_help}")
    dump.set_defaults(func=cmd_backup)

    load = sub.add_parser("restore", help="restore a backup into an empty database")
    add_common(load)
    load.add_argument("file", type=Path, help="the backup file")
    load.add_argument(
        "--force", action="store_true", help="replace whatever the target database holds"
    )
    load.add_argument(
        "--passphrase-file", type=Path, help=f"an encrypted backup's {passphrase_help}"
    )
    load.set_defaults(func=cmd_restore)
