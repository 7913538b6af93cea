"""``moorage.db.backup``: the dump of a live app's database, the file's manifest and hashes, a
restore that gives back every row, and the refusals (a truncated or tampered file, another
revision, a non-empty target, a wrong passphrase) that leave the target as it was."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select

from moorage.auth.secretbox import SecretBox
from moorage.db import backup
from moorage.db import backup_format as fmt
from moorage.db import tables as t
from moorage.db.engine import Database, sqlite_path, sync_url
from moorage.db.migrate import current, head, upgrade
from tests.auth.creds_helpers import access_token
from tests.http.inproc_images import push_image
from tests.http.v2.inproc_push import create_user
from tests.inprocess import InProcessApp
from tests.services.postgres import PostgresServer

EVENTS = 2 * backup.BATCH + 7  # more rows than a batch, not a multiple of one


async def _fill(app: InProcessApp) -> None:
    """Images, a user with an access token, and events with awkward values, beyond a batch."""
    async with app.client() as c:
        for n in range(3):
            await push_image(c, "backup/app", f"v{n}")
        user = await create_user(c, "backup-user")
    await access_token(app, user, "before-backup")
    db = Database(app.settings.database_url)
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(t.events),
                [
                    {
                        "type": "TEST",
                        "repository": "backup/app",
                        "object_id": f'é 🙂 \n"{n}"\t\\' if n % 2 else "",
                        "actor": None if n % 3 else "admin",
                        "published_at": dt.datetime(2020, 1, 1, 12, 0, n % 60, 123456, dt.UTC),
                        "details": json.dumps({"n": n}),
                    }
                    for n in range(EVENTS)
                ],
            )
    finally:
        await db.close()


def _dump(url: str, path: Path, **kw: object) -> fmt.Manifest:
    with path.open("wb") as out:
        return backup.dump(url, out, moorage_version="test", **kw)  # type: ignore[arg-type]


def _rows(path: Path) -> dict[str, list[bytes]]:
    """Each table member's lines, sorted (row order by key may differ between dialects)."""
    with zipfile.ZipFile(path) as archive:
        return {
            name: sorted(archive.read(name).splitlines())
            for name in archive.namelist()
            if name.startswith(fmt.TABLES_FOLDER)
        }


def _restore(url: str, path: Path, *, force: bool = False) -> dict[str, int]:
    with path.open("rb") as source, backup.open_archive(source) as archive:
        manifest = backup.verify(archive)
        return backup.load(url, archive, manifest, force=force)


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return {
                table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in backup.schema_tables()
            }
    finally:
        engine.dispose()


@pytest.fixture()
def target(
    db_kind: str, tmp_path: Path, database_factory: Callable[[], str | None]
) -> Callable[[], str]:
    """New target databases of the kind under test: a SQLite file not made yet, or a new
    migrated PostgreSQL database (holding only a fresh migration's rows)."""
    made = iter(range(100))

    def make() -> str:
        url = database_factory()
        return url or f"sqlite:///{tmp_path / f'target-{next(made)}.db'}"

    return make


async def test_a_backup_gives_back_every_row(
    inproc: InProcessApp, tmp_path: Path, target: Callable[[], str]
) -> None:
    await _fill(inproc)
    source = inproc.settings.database_url
    path = tmp_path / "b.zip"
    manifest = await asyncio.to_thread(_dump, source, path)
    # The manifest: format, this code's revision, the source's dialect, every table in
    # foreign-key order, with its rows counted and its member hashed.
    assert manifest.revision == head() and manifest.format_version == fmt.FORMAT_VERSION
    assert manifest.dialect == ("sqlite" if sqlite_path(source) else "postgresql")
    assert [e.name for e in manifest.tables] == [x.name for x in backup.schema_tables()]
    counts = _counts(source)  # the app runs on: its jobs and heartbeats may have moved on
    rows = {e.name: e.rows for e in manifest.tables}
    with zipfile.ZipFile(path) as archive:
        written = fmt.Manifest.from_json(archive.read(fmt.MANIFEST))
        assert written.to_json() == manifest.to_json()
        for entry in manifest.tables:
            member = archive.read(entry.member)
            assert hashlib.sha256(member).hexdigest() == entry.sha256
            assert entry.rows == len(member.splitlines()), entry.name
        assert fmt.SECRET_KEY_MEMBER not in archive.namelist()
    for still in ("events", "manifests", "tags", "blobs", "accounts", "access_tokens"):
        assert rows[still] == counts[still], still
    assert rows["events"] >= EVENTS and rows["manifests"] == 3 and rows["access_tokens"]
    # Who is serving is not backed up (each replica registers itself).
    assert counts["replicas"] == 1 and rows["replicas"] == 0
    assert path.stat().st_size < sum(rows.values()) * 200  # compressed
    # Restored into a new database (and from PostgreSQL into SQLite too), it dumps back to the
    # same rows, value for value.
    urls = [target()]
    if sqlite_path(source) is None:
        urls.append(f"sqlite:///{tmp_path / 'from-postgres.db'}")
    for n, url in enumerate(urls):
        restored = await asyncio.to_thread(_restore, url, path)
        assert restored == rows
        again = tmp_path / f"again-{n}.zip"
        await asyncio.to_thread(_dump, url, again)
        assert _rows(again) == _rows(path), url


async def test_a_damaged_backup_is_refused_and_nothing_is_written(
    inproc: InProcessApp, tmp_path: Path, target: Callable[[], str]
) -> None:
    await _fill(inproc)
    path = tmp_path / "b.zip"
    manifest = await asyncio.to_thread(_dump, inproc.settings.database_url, path)
    whole = path.read_bytes()
    events = next(e for e in manifest.tables if e.name == "events")

    def rewritten(change: Callable[[str, bytes], bytes]) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(path) as old, zipfile.ZipFile(out, "w") as new:
            for name in old.namelist():
                new.writestr(name, change(name, old.read(name)))
        return out.getvalue()

    one_row_changed = rewritten(
        lambda name, data: data.replace(b'"TEST"', b'"TSET"', 1) if name == events.member else data
    )
    one_row_dropped = rewritten(
        lambda name, data: data.split(b"\n", 1)[1] if name == events.member else data
    )
    flipped = bytearray(whole)
    offset = whole.index(b"tables/events.jsonl") + 200  # inside the compressed member
    flipped[offset] ^= 0xFF
    cases = {
        "truncated": (whole[: len(whole) // 2], "truncated or damaged"),
        "empty": (b"", "truncated or damaged"),
        "a row changed": (one_row_changed, "does not match its manifest"),
        "a row dropped": (one_row_dropped, "does not match its manifest"),
        "a byte flipped": (bytes(flipped), "damaged"),
    }
    url = target()
    before = _counts(url) if sqlite_path(url) is None else None
    for case, (data, says) in cases.items():
        bad = tmp_path / "bad.zip"
        bad.write_bytes(data)
        with pytest.raises(fmt.BackupInvalid, match=says):
            await asyncio.to_thread(_restore, url, bad)
        sqlite = sqlite_path(url)
        if sqlite is not None:
            assert not sqlite.exists(), case  # not even created
        else:
            assert _counts(url) == before, case


async def test_a_backup_of_another_revision_is_refused_with_what_to_run(
    inproc: InProcessApp, tmp_path: Path, target: Callable[[], str]
) -> None:
    path = tmp_path / "b.zip"
    await asyncio.to_thread(_dump, inproc.settings.database_url, path)
    from alembic.script import ScriptDirectory

    from moorage.db.migrate import alembic_config

    newest = head()
    assert newest is not None
    older = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(newest)
    assert older is not None and isinstance(older.down_revision, str)
    for revision, says in ((older.down_revision, "moorage migrate"), ("9999zz", "newer moorage")):
        other = tmp_path / f"{revision}.zip"
        with zipfile.ZipFile(path) as old, zipfile.ZipFile(other, "w") as new:
            for name in old.namelist():
                data = old.read(name)
                if name == fmt.MANIFEST:
                    doc = json.loads(data)
                    doc["revision"] = revision
                    data = json.dumps(doc).encode()
                new.writestr(name, data)
        with pytest.raises(fmt.BackupRefused, match=says):
            await asyncio.to_thread(_restore, target(), other)
    # A database behind this code's schema is not backed up either.
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    await asyncio.to_thread(upgrade, behind, older.down_revision)
    with pytest.raises(fmt.BackupRefused, match="moorage migrate"):
        await asyncio.to_thread(_dump, behind, tmp_path / "behind.zip")


async def test_a_target_that_holds_data_is_refused_unless_forced(
    inproc: InProcessApp, tmp_path: Path, target: Callable[[], str]
) -> None:
    await _fill(inproc)
    path = tmp_path / "b.zip"
    await asyncio.to_thread(_dump, inproc.settings.database_url, path)
    url = target()
    await asyncio.to_thread(_restore, url, path)
    restored = _counts(url)
    with pytest.raises(fmt.BackupRefused, match="not empty"):
        await asyncio.to_thread(_restore, url, path)
    # A forced restore whose rows fail half-way (a row its table refuses, hashes made to
    # match) is rolled back whole: the target keeps what it had.
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(broken, "w") as new:
        doc = json.loads(old.read(fmt.MANIFEST))
        for name in old.namelist():
            data = old.read(name)
            if name == "tables/tags.jsonl":
                lines = data.splitlines(keepends=True)
                data = b"".join(lines) + lines[0]  # a duplicate key, after good rows
                entry = next(e for e in doc["tables"] if e["member"] == name)
                entry["sha256"], entry["rows"] = hashlib.sha256(data).hexdigest(), len(lines) + 1
            if name != fmt.MANIFEST:
                new.writestr(name, data)
        new.writestr(fmt.MANIFEST, json.dumps(doc))
    with pytest.raises(fmt.BackupRefused, match="rolled back"):
        await asyncio.to_thread(_restore, url, broken, force=True)
    assert _counts(url) == restored
    # Forced, a good backup replaces everything (here: after more rows were added).
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(insert(t.events).values(type="LATER", published_at=dt.datetime.now(dt.UTC)))
    engine.dispose()
    assert await asyncio.to_thread(_restore, url, path, force=True) == restored
    assert _counts(url) == restored


async def test_an_encrypted_backup_carries_the_secret_key_and_needs_its_passphrase(
    inproc: InProcessApp, tmp_path: Path, target: Callable[[], str]
) -> None:
    key = SecretBox.in_data_folder(inproc.settings.data).path.read_bytes().strip()
    plain, sealed = tmp_path / "plain.zip", tmp_path / "sealed.bin"
    await asyncio.to_thread(_dump, inproc.settings.database_url, plain, secret_key=key)
    manifest = await asyncio.to_thread(
        _dump,
        inproc.settings.database_url,
        sealed,
        secret_key=key,
        include_secret_key=True,
        passphrase=b"correct horse",
    )
    data = sealed.read_bytes()
    assert fmt.is_encrypted(data) and not data.startswith(b"PK")
    assert key not in data and b"manifest" not in data and b"admin" not in data
    assert manifest.secret_key_id == fmt.secret_key_id(key)
    assert key.decode() not in manifest.to_json().decode()

    def opened(blob: bytes, passphrase: bytes) -> bytes:
        return b"".join(fmt.decrypt_segments(io.BytesIO(blob), passphrase))

    clear = await asyncio.to_thread(opened, data, b"correct horse")
    with zipfile.ZipFile(io.BytesIO(clear)) as archive:
        verified = backup.verify(archive)
        assert backup.secret_key_in(archive, verified) == key
        assert _rows(plain) == {
            n: sorted(archive.read(n).splitlines())
            for n in archive.namelist()
            if n.startswith(fmt.TABLES_FOLDER)
        }
    for blob, passphrase, says in (
        (data, b"wrong horse", "wrong passphrase"),
        (data[:-1], b"correct horse", "truncated"),
        (data + b"x", b"correct horse", "after its last segment"),
        (data[:40], b"correct horse", "truncated"),
    ):
        with pytest.raises(fmt.BackupInvalid, match=says):
            await asyncio.to_thread(opened, blob, passphrase)


def test_the_writer_seals_segment_by_segment() -> None:
    """Beyond one segment: each sealed apart, in order; a swapped pair does not open."""
    payload = bytes(range(256)) * (3 * fmt.SEGMENT // 256 + 5)
    out = io.BytesIO()
    with fmt.EncryptingWriter(out, b"pw") as writer:
        for at in range(0, len(payload), 70_000):
            writer.write(payload[at : at + 70_000])
    assert b"".join(fmt.decrypt_segments(io.BytesIO(out.getvalue()), b"pw")) == payload
    raw = out.getvalue()
    header, frame = 35, 5 + fmt.SEGMENT + 16
    swapped = (
        raw[:header]
        + raw[header + frame : header + 2 * frame]
        + raw[header : header + frame]
        + raw[header + 2 * frame :]
    )
    with pytest.raises(fmt.BackupInvalid, match="damaged"):
        b"".join(fmt.decrypt_segments(io.BytesIO(swapped), b"pw"))


def test_restore_migrates_a_new_database_first(tmp_path: Path) -> None:
    """A target with no schema is migrated before the rows go in (``current`` is head after)."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    upgrade(source)
    path = tmp_path / "b.zip"
    _dump(source, path)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    restored = _restore(url, path)
    assert current(url) == head()
    assert restored == _counts(source) == _counts(url)


def test_a_value_postgresql_cannot_hold_rolls_the_whole_restore_back(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    """SQLite keeps a NUL in text, PostgreSQL refuses it: the restore fails with the database's
    reason, and the new PostgreSQL database holds no row of the backup (only its schema)."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    upgrade(source)
    engine = create_engine(sync_url(source))
    with engine.begin() as conn:
        conn.execute(
            insert(t.repositories).values(
                name="nul/ok", namespace="nul", created_at=dt.datetime.now(dt.UTC)
            )
        )
        conn.execute(
            insert(t.events).values(
                type="TEST", object_id="a\x00b", published_at=dt.datetime.now(dt.UTC)
            )
        )
    engine.dispose()
    path = tmp_path / "b.zip"
    _dump(source, path)
    url = pg_server.create_database()
    with pytest.raises(fmt.BackupRefused, match="rolled back"):
        _restore(url, path)
    assert current(url) == head()
    counts = _counts(url)
    assert counts["repositories"] == counts["events"] == 0
    assert counts == backup.seeded_counts()
