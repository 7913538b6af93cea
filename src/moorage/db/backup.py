"""Dump every table of the SQL database to a backup archive, and load one into an empty database
of either dialect (``moorage backup`` / ``moorage restore``; the file: ``backup_format`` and
``docs/backup.md``).

The tables are the schema's (``db.schema``: the one MetaData with every table module imported,
as Alembic's environment sees it), in foreign-key order (``MetaData.sorted_tables``): nothing
here lists them. The dump is one read transaction (SQLite:
a deferred transaction, whose first read fixes its WAL snapshot; PostgreSQL: REPEATABLE READ,
READ ONLY), rows streamed a batch at a time (a server-side cursor on PostgreSQL). The load checks
the whole archive first (every hash, row count and column list, the revision), then in one
transaction empties the target, inserts in batches and resets PostgreSQL's sequences.

Plain SQLAlchemy Core on synchronous engines: an operator's one-off command, no event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Connection, Engine, Table, create_engine, delete, event, func, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from moorage.db import backup_format as fmt
from moorage.db.engine import sync_url, utcnow
from moorage.db.migrate import current, head, upgrade
from moorage.db.schema import metadata
from moorage.db.tables import replicas

BATCH = 1000
READ_CHUNK = 1 << 20
_ALEMBIC = "alembic_version"
_LIVE_SECONDS = 30.0  # a replica seen this recently is serving (three default heartbeats)
# Who is running now is not data: every serve and worker registers itself on start, and the
# source's rows would show as replicas (live for a while) of the restored install.
_RUNTIME = frozenset({replicas.name})


def schema_tables() -> list[Table]:
    """Every table of the schema (``db.schema``), parents before children."""
    return list(metadata.sorted_tables)


def _engine(url: str) -> Engine:
    """A synchronous engine; on SQLite the registry's own pragmas (WAL, busy timeout, foreign
    keys) and our own BEGIN (``DEFERRED`` to read, ``IMMEDIATE`` to write), as the server's."""
    sync = sync_url(url)
    if not make_url(sync).drivername.startswith("sqlite"):
        return create_engine(sync)
    engine = create_engine(sync)

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    def begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("moorage_begin", "BEGIN"))

    event.listen(engine, "connect", pragmas)
    event.listen(engine, "begin", begin)
    return engine


@contextmanager
def _connection(url: str, *, write: bool) -> Iterator[Connection]:
    """One transaction on ``url``: a consistent read-only snapshot, or the write of a restore."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn = conn.execution_options(
                    moorage_begin="BEGIN IMMEDIATE" if write else "BEGIN DEFERRED"
                )
            elif not write:
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with conn.begin():
                yield conn
    finally:
        engine.dispose()


def _revision_advice(found: str | None, wanted: str | None, what: str) -> str:
    """Why ``found`` (a database's or a backup's revision) will not do, and what to run."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    from moorage.db.migrate import alembic_config

    if found is None:
        return f"{what} has no schema revision: is it a moorage database (`moorage migrate`)?"
    try:
        known = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(found)
    except (RevisionError, CommandError):
        known = None
    if known:
        return (
            f"{what} is at schema revision {found}, this moorage at {wanted}: upgrade it first "
            "(`moorage migrate` with this version)"
        )
    return (
        f"{what} is at schema revision {found}, which this moorage (schema {wanted}) does not "
        "know: use the newer moorage version that made it"
    )


# ---- backup ----------------------------------------------------------------------------------


def dump(
    url: str,
    out: IO[bytes],
    *,
    moorage_version: str,
    secret_key: bytes | None = None,
    include_secret_key: bool = False,
    passphrase: bytes | None = None,
) -> fmt.Manifest:
    """Write a backup of the database at ``url`` to ``out`` (encrypted whole when a
    ``passphrase`` is given) and return its manifest. ``secret_key``: the data folder's key,
    fingerprinted always, included only with ``include_secret_key`` (which needs a
    passphrase)."""
    if include_secret_key and (secret_key is None or passphrase is None):
        raise fmt.BackupRefused("including the secret key needs the key and a passphrase")
    tables = schema_tables()
    wanted = head()
    sealer = fmt.EncryptingWriter(out, passphrase) if passphrase is not None else None
    sink = out if sealer is None else cast("IO[bytes]", sealer)  # a write-only raw stream
    with _connection(url, write=False) as conn:
        # The first read fixes SQLite's snapshot: the revision is the data's own.
        revisions = conn.execute(text(f"SELECT version_num FROM {_ALEMBIC}")).scalars().all()
        revision = str(revisions[0]) if len(revisions) == 1 else None
        if revision is None or revision != wanted:
            raise fmt.BackupRefused(_revision_advice(revision, wanted, "the database"))
        present = set(sa_inspect(conn).get_table_names()) - {_ALEMBIC}
        unknown = present - {t.name for t in tables}
        if unknown:
            raise fmt.BackupRefused(
                f"the database has tables this moorage's schema does not: {sorted(unknown)}"
            )
        manifest = fmt.Manifest(
            revision=revision,
            dialect=conn.dialect.name,
            moorage_version=moorage_version,
            created_at=utcnow().isoformat(),
            secret_key_id=fmt.secret_key_id(secret_key) if secret_key is not None else None,
        )
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for table in tables:
                manifest.tables.append(_dump_table(conn, table, archive))
            if include_secret_key and secret_key is not None:
                member = secret_key.strip() + b"\n"
                archive.writestr(fmt.SECRET_KEY_MEMBER, member)
                manifest.secret_key_sha256 = hashlib.sha256(member).hexdigest()
            archive.writestr(fmt.MANIFEST, manifest.to_json())
    if sealer is not None:
        sealer.close()
    return manifest


def _dump_table(conn: Connection, table: Table, archive: zipfile.ZipFile) -> fmt.TableEntry:
    member = f"{fmt.TABLES_FOLDER}{table.name}.jsonl"
    order = list(table.primary_key.columns) or list(table.columns)
    statement = select(table).order_by(*order)
    info = zipfile.ZipInfo(member, date_time=time.gmtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as raw:
        writer = fmt.HashingWriter(raw)
        if table.name not in _RUNTIME:
            result = conn.execution_options(yield_per=BATCH).execute(statement)
            for batch in result.mappings().partitions():
                writer.write(b"".join(fmt.row_line(dict(row)) for row in batch))
    return fmt.TableEntry(
        name=table.name,
        member=member,
        rows=writer.lines,
        sha256=writer.sha256.hexdigest(),
        columns=[c.name for c in table.columns],
    )


# ---- restore ---------------------------------------------------------------------------------


def open_archive(source: IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise fmt.BackupInvalid(
            f"not a readable backup archive (truncated or damaged): {exc}"
        ) from exc


def verify(archive: zipfile.ZipFile) -> fmt.Manifest:
    """The archive's manifest, once every member has been read and matches it (hash and row
    count), its tables are this code's (same names, same columns) and its revision is this
    code's head. Reads only: nothing is written before this returns."""
    manifest = fmt.Manifest.from_json(_member_bytes(archive, fmt.MANIFEST, limit=64 << 20))
    wanted = head()
    if manifest.revision != wanted:
        raise fmt.BackupRefused(
            _revision_advice(manifest.revision, wanted, "the backup")
            + f" (it was made by moorage {manifest.moorage_version})"
        )
    ours = {t.name: t for t in schema_tables()}
    theirs = {t.name: t for t in manifest.tables}
    if set(ours) != set(theirs):
        raise fmt.BackupInvalid(
            "the backup's tables differ from this schema's at the same revision: "
            f"missing {sorted(set(ours) - set(theirs))}, unknown {sorted(set(theirs) - set(ours))}"
        )
    for name, entry in theirs.items():
        if entry.columns != [c.name for c in ours[name].columns]:
            raise fmt.BackupInvalid(f"the backup's columns of table {name} differ from the schema")
        digest, lines = _member_hash(archive, entry.member)
        if digest != entry.sha256 or lines != entry.rows:
            raise fmt.BackupInvalid(
                f"the backup's member {entry.member} does not match its manifest "
                "(damaged or changed): nothing was restored"
            )
    if manifest.secret_key_sha256 is not None:
        digest, _ = _member_hash(archive, fmt.SECRET_KEY_MEMBER)
        if digest != manifest.secret_key_sha256:
            raise fmt.BackupInvalid("the backup's secret key does not match its manifest")
    return manifest


def _member_bytes(archive: zipfile.ZipFile, name: str, *, limit: int) -> bytes:
    try:
        info = archive.getinfo(name)
        if info.file_size > limit:
            raise fmt.BackupInvalid(f"the backup's {name} is too large ({info.file_size} bytes)")
        return archive.read(info)
    except KeyError as exc:
        raise fmt.BackupInvalid(f"the backup has no {name}") from exc
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise fmt.BackupInvalid(f"the backup's {name} is damaged: {exc}") from exc


def _member_hash(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    sha, lines = hashlib.sha256(), 0
    try:
        with archive.open(name) as member:
            while chunk := member.read(READ_CHUNK):
                sha.update(chunk)
                lines += chunk.count(b"\n")
    except KeyError as exc:
        raise fmt.BackupInvalid(f"the backup has no member {name}") from exc
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
    ) as exc:  # CRC, zlib, truncation
        raise fmt.BackupInvalid(f"the backup's member {name} is damaged: {exc}") from exc
    return sha.hexdigest(), lines


def secret_key_in(archive: zipfile.ZipFile, manifest: fmt.Manifest) -> bytes | None:
    """The secret key the backup carries (``verify`` has checked its hash), or None."""
    if manifest.secret_key_sha256 is None:
        return None
    return _member_bytes(archive, fmt.SECRET_KEY_MEMBER, limit=4096).strip()


def seeded_counts() -> dict[str, int]:
    """The rows a fresh migration leaves in each table (default crons, status rows): what an
    empty database holds. Found by migrating a throwaway SQLite database, so no list of them
    is kept here."""
    with tempfile.TemporaryDirectory(prefix="moorage-restore-") as folder:
        url = f"sqlite:///{Path(folder) / 'seed.db'}"
        upgrade(url)
        engine = _engine(url)
        try:
            with engine.connect() as conn:
                return {t.name: _count(conn, t) for t in schema_tables()}
        finally:
            engine.dispose()


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def load(
    url: str, archive: zipfile.ZipFile, manifest: fmt.Manifest, *, force: bool = False
) -> dict[str, int]:
    """Restore a verified archive into the database at ``url`` (migrated here when it has no
    schema yet), in one transaction; returns the rows restored per table. A database holding
    anything beyond a fresh migration's rows is refused unless ``force``, which empties it
    first in the same transaction; a database with replicas beating on it is refused always."""
    revision = current(url)
    fresh = revision is None
    if fresh:
        upgrade(url)
    elif revision != manifest.revision:
        raise fmt.BackupRefused(
            _revision_advice(revision, manifest.revision, "the target database")
        )
    seeds = {} if fresh or force else seeded_counts()
    tables = schema_tables()
    entries = {t.name: t for t in manifest.tables}
    restored: dict[str, int] = {}
    try:
        with _connection(url, write=True) as conn:
            if not fresh:
                _check_target(conn, tables, seeds, force=force)
            for table in reversed(tables):
                conn.execute(delete(table))
            for table in tables:
                restored[table.name] = _load_table(conn, table, archive, entries[table.name])
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn, tables)
    except DBAPIError as exc:
        raise fmt.BackupRefused(
            f"the restore failed and was rolled back (nothing was restored): {exc.orig}"
        ) from exc
    return restored


def _check_target(
    conn: Connection, tables: list[Table], seeds: dict[str, int], *, force: bool
) -> None:
    since = utcnow() - dt.timedelta(seconds=_LIVE_SECONDS)
    live = conn.execute(
        select(func.count()).select_from(replicas).where(replicas.c.last_seen > since)
    ).scalar_one()
    if live:
        raise fmt.BackupRefused(
            f"{live} replica(s) are serving the target database (seen in the last "
            f"{_LIVE_SECONDS:.0f} s): stop them before restoring into it"
        )
    if force:
        return
    occupied = [t.name for t in tables if _count(conn, t) > seeds.get(t.name, 0)]
    if occupied:
        raise fmt.BackupRefused(
            "the target database is not empty (rows in "
            f"{', '.join(occupied[:5])}{' ...' if len(occupied) > 5 else ''}): restore into a "
            "new database, or give --force to replace everything in it"
        )


def _load_table(
    conn: Connection, table: Table, archive: zipfile.ZipFile, entry: fmt.TableEntry
) -> int:
    columns = {c.name: c for c in table.columns}
    batch: list[dict[str, Any]] = []
    rows = 0
    statement = table.insert()
    try:
        with archive.open(entry.member) as member:
            for line in member:
                doc = json.loads(line)
                if not isinstance(doc, dict) or set(doc) != set(columns):
                    raise fmt.BackupInvalid(f"a row of {entry.member} has other columns")
                batch.append({k: fmt.decode_value(columns[k], v) for k, v in doc.items()})
                if len(batch) >= BATCH:
                    conn.execute(statement, batch)
                    rows += len(batch)
                    batch.clear()
    except (ValueError, TypeError, zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise fmt.BackupInvalid(f"a row of {entry.member} cannot be read: {exc}") from exc
    if batch:
        conn.execute(statement, batch)
        rows += len(batch)
    return rows


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Each serial or identity column's sequence past the largest restored value."""
    quote = conn.dialect.identifier_preparer
    for table in tables:
        for column in table.primary_key.columns:
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": quote.format_table(table), "c": column.name},
            ).scalar()
            if sequence is None:
                continue
            largest = conn.execute(select(func.max(column))).scalar()
            conn.execute(
                text("SELECT setval(CAST(:s AS regclass), :v, :called)"),
                {"s": sequence, "v": largest or 1, "called": largest is not None},
            )
