"""An update is all or nothing: interrupted after some batches, stopped, overtaken by another
import, or fed a bad archive, the database in force stays the one readers see, and the next
import works (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import update

from moorage.db import scan_tables as st
from moorage.db.engine import Database, utcnow
from moorage.scanning.vulndb import query, store
from moorage.scanning.vulndb import status as vulndb_status
from moorage.scanning.vulndb.archive import Limits
from moorage.scanning.vulndb.importer import ImportProgress, ImportReport, import_archives
from moorage.scanning.vulndb.records import ArchiveInvalid
from tests.scanning.vulndb.archives import (
    changed,
    fixture_records,
    later,
    osv_layout,
    write_zip,
    zip_bytes,
)
from tests.scanning.vulndb.tables import row_count

RECORDS = fixture_records()


def newer_versions() -> dict[str, bytes]:
    return {
        rid: changed(raw, modified=later(raw), summary=f"revised {rid}")
        for rid, raw in RECORDS.items()
    }


async def _import(db: Database, path: Path, **options: object) -> ImportReport:
    return await import_archives(
        db,
        [path],
        source=f"file {path.name}",
        kind="offline",
        holder=str(options.pop("holder", "test")),
        **options,  # type: ignore[arg-type]
    )


async def _documents(db: Database) -> dict[str, bytes]:
    return {rid: r.document for rid, r in (await query.records_by_id(db, list(RECORDS))).items()}


async def test_an_import_killed_after_some_batches_leaves_the_old_database(
    db: Database, tmp_path: Path
) -> None:
    await _import(db, write_zip(tmp_path / "v1.zip", osv_layout(RECORDS)))
    before = await vulndb_status.read(db)
    v2 = newer_versions()
    v2_path = write_zip(tmp_path / "v2.zip", osv_layout(v2))
    sample = sorted(RECORDS)[0]
    seen_mid_import: list[bytes] = []

    async def killed_after_three_batches(state: ImportProgress) -> None:
        # Mid-import, readers get the old database, and a second import is refused.
        seen_mid_import.append((await query.records_by_id(db, [sample]))[sample].document)
        running = await vulndb_status.read(db)
        assert running.updating is not None and running.updating.holder == "first"
        assert running.updating.progress["read"] == state.read
        with pytest.raises(store.UpdateInProgress):
            await _import(db, v2_path, holder="second")
        if state.batches == 3:
            raise RuntimeError("the process was killed")

    with pytest.raises(RuntimeError, match="killed"):
        await _import(
            db, v2_path, holder="first", batch_size=10, progress=killed_after_three_batches
        )
    assert seen_mid_import == [RECORDS[sample]] * 3
    # Nothing of v2 is visible; the version is v1's; the attempt is recorded as failed.
    assert await _documents(db) == RECORDS
    after = await vulndb_status.read(db)
    assert (after.generation, after.records, after.newest_modified, after.imported_at) == (
        before.generation,
        before.records,
        before.newest_modified,
        before.imported_at,
    )
    assert after.last_import == before.last_import
    assert after.last_outcome == "failed" and "killed" in (after.last_error or "")
    assert after.updating is None
    assert (await query.changed_packages(db)).generation == before.generation
    staged = await row_count(db, st.vuln_records, st.vuln_records.c.gen_from > before.generation)
    assert staged == 30  # three batches, invisible

    # The next import clears what the killed one staged and goes through.
    report = await _import(db, v2_path, holder="again")
    assert report.counts.updated == len(RECORDS)
    assert await _documents(db) == v2
    final = await vulndb_status.read(db)
    assert final.generation == before.generation + 1 and final.last_outcome == "succeeded"
    assert final.last_error is None
    # One current row per record: the killed import's copies are gone.
    current = await row_count(db, st.vuln_records, st.vuln_records.c.gen_to.is_(None))
    assert current == len(RECORDS)


async def test_an_import_asked_to_stop_changes_nothing(db: Database, tmp_path: Path) -> None:
    await _import(db, write_zip(tmp_path / "v1.zip", osv_layout(RECORDS)))
    batches: list[int] = []

    async def count(state: ImportProgress) -> None:
        batches.append(state.batches)

    with pytest.raises(store.UpdateInterrupted, match="asked to stop"):
        await _import(
            db,
            write_zip(tmp_path / "v2.zip", osv_layout(newer_versions())),
            batch_size=10,
            progress=count,
            should_stop=lambda: len(batches) >= 2,
        )
    assert await _documents(db) == RECORDS
    status = await vulndb_status.read(db)
    assert status.generation == 1 and status.last_outcome == "failed"


async def test_an_import_whose_lock_was_taken_over_stops_writing(
    db: Database, tmp_path: Path
) -> None:
    """A stalled import (its lease ran out) loses the lock to the next one, and at its next
    batch it stops without writing: the database is the one the other import made."""
    await _import(db, write_zip(tmp_path / "v1.zip", osv_layout(RECORDS)))
    v2 = newer_versions()
    v3 = {rid: changed(raw, modified=later(raw, 2), summary="v3") for rid, raw in RECORDS.items()}
    v3_path = write_zip(tmp_path / "v3.zip", osv_layout(v3))

    async def stall_then_lose_the_lock(state: ImportProgress) -> None:
        if state.batches != 2:
            return
        async with db.write() as conn:  # the lease runs out while this import stalls
            await conn.execute(
                update(st.vuln_db_status).values(lock_until=utcnow().replace(year=2000))
            )
        await _import(db, v3_path, holder="the next one")

    with pytest.raises(store.LockLost):
        await _import(
            db,
            write_zip(tmp_path / "v2.zip", osv_layout(v2)),
            holder="stalled",
            batch_size=10,
            progress=stall_then_lose_the_lock,
        )
    assert await _documents(db) == v3
    status = await vulndb_status.read(db)
    assert status.generation == 2 and status.last_outcome == "succeeded"
    assert status.updating is None
    current = await row_count(db, st.vuln_records, st.vuln_records.c.gen_to.is_(None))
    assert current == len(RECORDS)


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.json")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _bomb() -> bytes:
    record = {"id": "BOMB-1", "modified": "2024-01-01T00:00:00Z", "details": "a" * (8 << 20)}
    return zip_bytes({"bomb.json": json.dumps(record).encode()})


BIG_ID = max(RECORDS, key=lambda rid: len(RECORDS[rid]))
BAD = {
    "not a zip": (b"PK\x03\x04 this is not an archive", Limits(), "not a readable zip"),
    "climbs out": (zip_bytes({"../evil.json": b"{}"}), Limits(), "climbs out"),
    "absolute": (zip_bytes({"/etc/evil.json": b"{}"}), Limits(), "absolute path"),
    "backslash": (zip_bytes({"npm\\evil.json": b"{}"}), Limits(), "backslash"),
    "symlink": (_symlink_zip(), Limits(), "symbolic link"),
    "zip bomb": (_bomb(), Limits(), "inflates more than"),
    "record too large": (
        zip_bytes({"big.json": RECORDS[BIG_ID]}),
        Limits(max_record_bytes=len(RECORDS[BIG_ID]) - 1),
        "larger than",
    ),
    "too many members": (zip_bytes(osv_layout(RECORDS)), Limits(max_members=3), "more than 3"),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_a_bad_archive_is_refused_with_nothing_written(
    db: Database, tmp_path: Path, case: str
) -> None:
    await _import(db, write_zip(tmp_path / "v1.zip", osv_layout(RECORDS)))
    rows = await row_count(db, st.vuln_records)
    data, limits, phrase = BAD[case]
    path = tmp_path / "bad.zip"
    path.write_bytes(data)
    with pytest.raises(ArchiveInvalid, match=phrase) as refused:
        await _import(db, path, limits=limits)
    assert refused.value.code == "INVALID_VULNERABILITY_ARCHIVE" and refused.value.status == 400
    assert await row_count(db, st.vuln_records) == rows
    assert await row_count(db, st.vuln_import_seen) == 0
    assert await _documents(db) == RECORDS
    status = await vulndb_status.read(db)
    assert status.generation == 1 and status.updating is None
    assert status.last_outcome == "failed" and phrase in (status.last_error or "")


@pytest.mark.parametrize(
    ("member", "body", "phrase"),
    [
        ("npm/broken.json", b'{"id": "BROKEN-1", "modified": ', "not an OSV record"),
        ("npm/no-time.json", b'{"id": "NOTIME-1"}', "modified is not an RFC 3339 time"),
        ("npm/list.json", b"[1, 2]", "not a JSON object"),
        ("npm/naive.json", b'{"id": "N-1", "modified": "2024-01-01T00:00:00"}', "no time zone"),
    ],
)
async def test_a_bad_record_deep_in_the_archive_fails_the_whole_update(
    db: Database, tmp_path: Path, member: str, body: bytes, phrase: str
) -> None:
    await _import(db, write_zip(tmp_path / "v1.zip", osv_layout(RECORDS)))
    members = {**osv_layout(newer_versions(), "npm"), member: body}
    with pytest.raises(ArchiveInvalid, match=phrase) as refused:
        await _import(db, write_zip(tmp_path / "v2.zip", members), batch_size=10)
    assert member in refused.value.message
    assert await _documents(db) == RECORDS
    assert (await vulndb_status.read(db)).generation == 1
    again = await _import(db, write_zip(tmp_path / "v3.zip", osv_layout(newer_versions())))
    assert again.counts.updated == len(RECORDS)


async def test_other_files_in_the_archive_are_skipped(db: Database, tmp_path: Path) -> None:
    members = {"README.txt": b"OSV export", "npm/": b"", **osv_layout(RECORDS, "npm/deep/er")}
    report = await _import(db, write_zip(tmp_path / "mixed.zip", members))
    assert report.skipped_files == 1
    assert report.counts.added == len(RECORDS)
