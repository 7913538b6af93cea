"""Importing zips of real OSV records into the SQL database (SQLite and PostgreSQL): every
record stored whole and indexed by (ecosystem, package), re-imports incremental, a record met
twice counted once, full snapshots pruned, and the matcher's queries."""

from __future__ import annotations

import json
from pathlib import Path

from moorage.db import scan_tables as st
from moorage.db.engine import Database
from moorage.scanning.vulndb import query
from moorage.scanning.vulndb import status as vulndb_status
from moorage.scanning.vulndb.importer import ImportReport, import_archives
from moorage.scanning.vulndb.records import lookup_ecosystems, package_key
from tests.scanning.vulndb.archives import (
    by_ecosystem,
    changed,
    fixture_records,
    later,
    modified_of,
    osv_layout,
    write_zip,
)
from tests.scanning.vulndb.tables import record_rows, row_count

RECORDS = fixture_records()


def everything(records: dict[str, bytes]) -> dict[str, bytes]:
    """Members as a multi-ecosystem archive: ``<ecosystem>/<id>.json``."""
    members: dict[str, bytes] = {}
    for base, found in sorted(by_ecosystem(records).items()):
        members.update(osv_layout(found, base))
    return members


def packages_of(raw: bytes) -> set[tuple[str, str]]:
    document = json.loads(raw)
    return {
        (a["package"]["ecosystem"], a["package"]["name"])
        for a in document.get("affected", [])
        if "package" in a
    }


async def load(
    db: Database,
    tmp_path: Path,
    records: dict[str, bytes],
    *,
    name: str = "all.zip",
    **options: object,
) -> ImportReport:
    path = write_zip(tmp_path / name, everything(records))
    kind = options.pop("kind", "offline")
    return await import_archives(
        db,
        [path],
        source=f"file {name}",
        kind=kind,  # type: ignore[arg-type]
        holder="test",
        **options,  # type: ignore[arg-type]
    )


async def test_first_import_stores_and_indexes_every_record(db: Database, tmp_path: Path) -> None:
    report = await load(db, tmp_path, RECORDS)
    counts = report.counts.as_dict()
    assert counts == {**dict.fromkeys(counts, 0), "added": len(RECORDS)}
    assert (report.generation, report.records) == (1, len(RECORDS))

    status = await vulndb_status.read(db)
    assert status.generation == 1 and status.records == len(RECORDS) and status.withdrawn == 0
    assert status.newest_modified == max(modified_of(raw) for raw in RECORDS.values())
    assert status.source == "file all.zip" and status.last_outcome == "succeeded"
    assert status.imported_at is not None and status.updating is None
    assert status.last_import == counts

    # Each record is kept exactly as the archive held it.
    stored = await query.records_by_id(db, list(RECORDS))
    assert {rid: r.document for rid, r in stored.items()} == RECORDS
    # Every package every record names finds it, and only the records naming it.
    wanted: dict[tuple[str, str], set[str]] = {}
    for rid, raw in RECORDS.items():
        for package in packages_of(raw):
            wanted.setdefault(package, set()).add(rid)
    found = await query.records_for_packages(db, list(wanted))
    assert {p: {r.id for r in rs} for p, rs in found.items()} == wanted
    # Aliases lead to their records (a CVE to its GHSA, USN, PYSEC and Alpine records).
    for rid, raw in RECORDS.items():
        for alias in json.loads(raw).get("aliases") or []:
            assert rid in {r.id for r in await query.records_by_alias(db, alias)}, alias
    assert [r.id for r in await query.records_by_alias(db, "GHSA-3fx5-fwvr-xrjg")] == [
        "GHSA-3fx5-fwvr-xrjg"
    ]
    # The first import changed every package.
    changes = await query.changed_packages(db)
    assert changes.generation == 1
    assert set(changes.packages) == {(e, package_key(e, n)) for e, n in wanted}


async def test_names_and_ecosystems_compare_as_their_registries_do(
    db: Database, tmp_path: Path
) -> None:
    openssl = [
        rid for rid, raw in RECORDS.items() if ("Alpine:v3.18", "openssl") in packages_of(raw)
    ]
    base = RECORDS[openssl[0]]
    document = json.loads(base)
    document["id"] = f"{document['id']}-ANY-RELEASE"
    for affected in document["affected"]:
        affected["package"]["ecosystem"] = "Alpine"
    any_release = json.dumps(document).encode()
    await load(db, tmp_path, {**RECORDS, document["id"]: any_release})

    in_318 = {r.id for r in await query.records_for(db, "Alpine:v3.18", "openssl")}
    assert in_318 == {*openssl, document["id"]}
    assert [r.id for r in await query.records_for(db, "Alpine:v3.17", "openssl")] == [
        document["id"]
    ]
    assert [r.id for r in await query.records_for(db, "Alpine", "openssl")] == [document["id"]]
    # PEP 503 names on PyPI; npm names exact.
    asyncssh = {r.id for r in await query.records_for(db, "PyPI", "asyncssh")}
    assert asyncssh and {r.id for r in await query.records_for(db, "PyPI", "AsyncSSH")} == asyncssh
    assert {r.id for r in await query.records_for(db, "PyPI", "async_ssh")} == set()
    assert await query.records_for(db, "npm", "MS") == []
    assert await query.records_for(db, "npm", "ms")


def test_lookup_keys() -> None:
    assert lookup_ecosystems("Debian:12") == ["Debian:12", "Debian"]
    assert lookup_ecosystems("Ubuntu:22.04:LTS") == ["Ubuntu:22.04:LTS", "Ubuntu:22.04", "Ubuntu"]
    assert lookup_ecosystems("npm") == ["npm"]
    assert package_key("PyPI", "Zope.Interface") == package_key("PyPI", "zope-interface")
    assert package_key("NuGet", "Newtonsoft.Json") == "newtonsoft.json"
    assert package_key("Maven", "org.Foo:Bar") == "org.Foo:Bar"


async def test_a_reimport_writes_only_what_changed(db: Database, tmp_path: Path) -> None:
    await load(db, tmp_path, RECORDS)
    rows_before = await row_count(db, st.vuln_records)
    assert rows_before == len(RECORDS)
    first = {rid: await record_rows(db, rid) for rid in RECORDS}

    again = await load(db, tmp_path, RECORDS, name="again.zip")
    assert again.generation == 2
    assert again.counts.as_dict() == {
        **dict.fromkeys(again.counts.as_dict(), 0),
        "unchanged": len(RECORDS),
    }
    # Not a row rewritten: the same rows, from generation 1, still current.
    assert await row_count(db, st.vuln_records) == rows_before
    assert {rid: await record_rows(db, rid) for rid in RECORDS} == first
    assert (await query.changed_packages(db)).packages == ()

    npm_id = next(rid for rid, raw in RECORDS.items() if ("npm", "ms") in packages_of(raw))
    alpine_id = next(
        rid for rid, raw in RECORDS.items() if ("Alpine:v3.18", "busybox") in packages_of(raw)
    )
    newer = changed(RECORDS[npm_id], modified=later(RECORDS[npm_id]), summary="changed upstream")
    gone = changed(
        RECORDS[alpine_id], modified=later(RECORDS[alpine_id]), withdrawn=later(RECORDS[alpine_id])
    )
    third = await load(db, tmp_path, {**RECORDS, npm_id: newer, alpine_id: gone}, name="third.zip")
    assert (third.counts.updated, third.counts.withdrawn) == (1, 1)
    assert third.counts.unchanged == len(RECORDS) - 2 and third.counts.added == 0
    assert (third.records, third.withdrawn_total) == (len(RECORDS) - 1, 1)
    assert (await query.records_by_id(db, [npm_id]))[npm_id].document == newer
    assert alpine_id not in {r.id for r in await query.records_for(db, "Alpine:v3.18", "busybox")}
    withdrawn = await query.records_for(db, "Alpine:v3.18", "busybox", include_withdrawn=True)
    assert alpine_id in {r.id for r in withdrawn}
    # Re-matching looks at exactly the packages of the two records that changed.
    changes = await query.changed_packages(db)
    assert changes.generation == 3
    assert set(changes.packages) == {
        (e, package_key(e, n)) for rid in (npm_id, alpine_id) for e, n in packages_of(RECORDS[rid])
    }
    # A reader that pinned the previous version still sees it whole.
    pinned = await query.records_by_id(db, [npm_id], generation=2)
    assert pinned[npm_id].document == RECORDS[npm_id]
    status = await vulndb_status.read(db)
    assert (status.generation, status.records, status.withdrawn) == (3, len(RECORDS) - 1, 1)

    # The next update drops the superseded rows.
    await load(db, tmp_path, {**RECORDS, npm_id: newer, alpine_id: gone}, name="fourth.zip")
    assert [r.gen_from for r in await record_rows(db, npm_id)] == [3]
    assert await row_count(db, st.vuln_records) == len(RECORDS)
    assert await row_count(db, st.vuln_import_seen) == 0


async def test_a_record_met_twice_counts_once(db: Database, tmp_path: Path) -> None:
    """osv.dev puts a record naming two ecosystems in both archives, exported at different
    times: the newest copy wins, in one batch or across batches, and is counted once."""
    ids = sorted(RECORDS)[:6]
    chosen = {rid: RECORDS[rid] for rid in ids}
    older, newer_first = ids[0], ids[1]
    newer_copy = changed(RECORDS[older], modified=later(RECORDS[older]), summary="newer copy")
    stale_copy = changed(RECORDS[newer_first], modified="2001-01-01T00:00:00Z")
    members = {
        **osv_layout(chosen, "one"),
        f"two/{older}.json": newer_copy,  # a later batch replaces the staged older copy
        f"two/{newer_first}.json": stale_copy,  # an older copy later: ignored
        f"one/again/{ids[2]}.json": RECORDS[ids[2]],  # the same copy twice
    }
    path = write_zip(tmp_path / "twice.zip", members)
    for batch_size in (2, 500):  # across batches, then (all unchanged) in one
        report = await import_archives(
            db, [path], source="twice", kind="offline", holder="test", batch_size=batch_size
        )
        c = report.counts
        assert c.added + c.unchanged == len(ids) and c.duplicates == 3, (batch_size, c)
        assert sum(c.as_dict().values()) - c.removed == len(members)
        stored = await query.records_by_id(db, ids)
        assert stored[older].document == newer_copy
        assert stored[newer_first].document == RECORDS[newer_first]
        assert [r.gen_to for r in await record_rows(db, older) if r.gen_to is None] == [None]


async def test_a_full_snapshot_removes_what_it_no_longer_holds(
    db: Database, tmp_path: Path
) -> None:
    await load(db, tmp_path, RECORDS, kind="online", prune=True)
    extra_id = "LOCAL-2026-0001"
    local = changed(next(iter(RECORDS.values())), id=extra_id, aliases=[])
    await load(db, tmp_path, {extra_id: local}, name="local.zip", kind="offline")
    dropped = sorted(RECORDS)[:2]
    kept = {rid: raw for rid, raw in RECORDS.items() if rid not in dropped}
    report = await load(db, tmp_path, kept, name="snapshot.zip", kind="online", prune=True)
    assert report.counts.removed == 2 and report.counts.unchanged == len(kept)
    assert await query.records_by_id(db, dropped) == {}
    # The online snapshot says nothing about records imported from a file.
    assert extra_id in await query.records_by_id(db, [extra_id])
    assert report.records == len(kept) + 1
    changes = {p for p in (await query.changed_packages(db)).packages}
    assert changes == {
        (e, package_key(e, n)) for rid in dropped for e, n in packages_of(RECORDS[rid])
    }
