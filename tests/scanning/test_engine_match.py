"""Matching queries against a database generation (``engine_match``): which record streams reach
a component (a shorter prefix, a longer Red Hat repository stream, both streams of a Pro image,
never another release), and the reasons a component cannot be matched."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from moorage.db.engine import Database
from moorage.scanning.engine_match import Query, RecordCache, RecordKeeper, match_all
from moorage.scanning.osv.record import OsvRecord
from moorage.scanning.vulndb import query
from tests.auth.creds_helpers import app_services
from tests.inprocess import InProcessApp, running_app
from tests.scanning import engine_images as ei
from tests.scanning.vulndb.archives import fixture_records


@pytest.fixture()
async def app(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    async with running_app(tmp_path / "data", database_factory(), job_workers=0) as running:
        yield running


def _record(record_id: str, ecosystem: str, name: str, fixed: str | None, **extra: Any) -> bytes:
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if fixed is not None:
        events.append({"fixed": fixed})
    document = {
        "id": record_id,
        "modified": "2025-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        **extra,
    }
    return json.dumps(document).encode()


RECORDS = {
    # Red Hat's records name the repository after the release.
    "RHSA-2024:0001": _record(
        "RHSA-2024:0001", "Red Hat:enterprise_linux:9::baseos", "openssl-libs", "1:3.0.7-25.el9_3"
    ),
    "RHSA-2024:0002": _record(
        "RHSA-2024:0002", "Red Hat:enterprise_linux:8::baseos", "openssl-libs", "1:1.1.1k-12.el8_9"
    ),
    # A record of the whole distribution covers every release; another release's does not.
    "DEBIAN-CVE-2000-0001": _record("DEBIAN-CVE-2000-0001", "Debian", "tar", "1.35+dfsg-1"),
    "DEBIAN-CVE-2000-0002": _record("DEBIAN-CVE-2000-0002", "Debian:11", "tar", "1.35+dfsg-1"),
    # Ubuntu Pro (ESM) fixes beside the public USN-4038-1 (bzip2 in 16.04, from the fixtures).
    "USN-4038-4": _record(
        "USN-4038-4",
        "Ubuntu:Pro:16.04:LTS",
        "bzip2",
        "1.0.6-8ubuntu0.2+esm1",
        upstream=["UBUNTU-CVE-2016-4000"],
    ),
    # The database takes it (its id and packages are fine); the OSV schema refuses its range.
    "DEBIAN-CVE-2000-0003": json.dumps(
        {
            "id": "DEBIAN-CVE-2000-0003",
            "modified": "2025-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12", "name": "gzip"},
                    "ranges": [{"type": "ECOSYSTEM", "events": []}],
                }
            ],
        }
    ).encode(),
    # Withdrawn: affects nothing.
    "DEBIAN-CVE-2000-0004": _record(
        "DEBIAN-CVE-2000-0004", "Debian:12", "tar", None, withdrawn="2025-01-02T00:00:00Z"
    ),
}


async def _generation(app: InProcessApp, tmp_path: Path) -> tuple[Database, int]:
    db = app_services(app).db
    records = {**{k: v for k, v in fixture_records().items() if k == "USN-4038-1"}, **RECORDS}
    await ei.import_records(db, tmp_path / "vulndb", records)
    return db, await query.snapshot(db)


async def test_which_streams_reach_a_component(app: InProcessApp, tmp_path: Path) -> None:
    db, generation = await _generation(app, tmp_path)
    rhel = Query("Red Hat:enterprise_linux:9", "openssl-libs", "1:3.0.7-24.el9")
    debian = Query("Debian:12", "tar", "1.34+dfsg-1.2")
    pro = Query("Ubuntu:Pro:16.04:LTS", "bzip2", "1.0.6-8")
    public = Query("Ubuntu:16.04:LTS", "bzip2", "1.0.6-8")
    found = await match_all(db, [rhel, debian, pro, public, rhel], generation)
    assert set(found) == {rhel, debian, pro, public}

    assert [(f.vuln_id, f.fixed_version) for f in found[rhel].findings] == [
        ("RHSA-2024:0001", "1:3.0.7-25.el9_3")  # RHEL 8's record is another release's
    ]
    assert [f.vuln_id for f in found[debian].findings] == ["DEBIAN-CVE-2000-0001"]
    # The Pro image: its ESM notice and the public one, matched as one component's findings.
    # (A notice naming two CVEs no other finding covers lists them with its own ID.)
    usn = ("UBUNTU-CVE-2016-3189", "UBUNTU-CVE-2019-12900", "USN-4038-1")
    assert sorted((f.ids, f.fixed_version) for f in found[pro].findings) == [
        (usn, "1.0.6-8ubuntu0.1"),
        (("UBUNTU-CVE-2016-4000", "USN-4038-4"), "1.0.6-8ubuntu0.2+esm1"),
    ]
    assert [f.ids for f in found[public].findings] == [usn]
    assert all(o.problem is None for o in found.values())


async def test_what_cannot_be_matched_says_why(app: InProcessApp, tmp_path: Path) -> None:
    db, generation = await _generation(app, tmp_path)
    garbled = Query("Debian:12", "tar", "not a version!")
    broken = Query("Debian:12", "gzip", "1.12-1")
    found = await match_all(db, [garbled, broken], generation)
    assert found[garbled].findings == ()
    problem = found[garbled].problem
    assert problem is not None and "cannot be parsed" in problem, problem
    assert found[broken].findings == ()
    problem = found[broken].problem
    assert problem is not None
    assert problem.startswith("the advisory DEBIAN-CVE-2000-0003 cannot be read"), problem


async def test_a_record_cache_is_shared_by_calls_against_one_generation(
    app: InProcessApp, tmp_path: Path
) -> None:
    """A re-match's batches parse each record once; a bounded cache changes no outcome."""
    db, generation = await _generation(app, tmp_path)
    queries = [
        Query("Red Hat:enterprise_linux:9", "openssl-libs", "1:3.0.7-24.el9"),
        Query("Debian:12", "tar", "1.34+dfsg-1.2"),
        Query("Ubuntu:Pro:16.04:LTS", "bzip2", "1.0.6-8"),
        Query("Debian:12", "gzip", "1.12-1"),
    ]
    alone = await match_all(db, queries, generation)
    shared = RecordCache(generation)
    first = await match_all(db, queries, generation, shared)
    parsed = shared.misses
    assert parsed == len(shared) > 0 and shared.hits == 0
    second = await match_all(db, queries, generation, shared)
    assert first == second == alone
    assert (shared.misses, shared.hits) == (parsed, parsed)  # nothing parsed again

    tiny = RecordCache(generation, limit=1)
    for _ in range(2):
        assert await match_all(db, queries, generation, tiny) == alone
        assert len(tiny) == 1
    assert tiny.misses == 2 * parsed  # evicted, so parsed again: bounded, never wrong

    with pytest.raises(ValueError, match="generation"):
        await match_all(db, queries, generation + 1, shared)
    with pytest.raises(ValueError, match="at least one"):
        RecordCache(generation, limit=0)


def test_a_reused_row_number_is_parsed_again() -> None:
    cache = RecordCache(1)

    def row(pk: int, record_id: str, document: bytes) -> SimpleNamespace:
        return SimpleNamespace(pk=pk, id=record_id, document=zlib.compress(document))

    old = cache.record(row(7, "DEBIAN-CVE-2000-0001", RECORDS["DEBIAN-CVE-2000-0001"]))
    new = cache.record(row(7, "DEBIAN-CVE-2000-0002", RECORDS["DEBIAN-CVE-2000-0002"]))
    assert isinstance(old, OsvRecord) and isinstance(new, OsvRecord)
    assert (old.id, new.id) == ("DEBIAN-CVE-2000-0001", "DEBIAN-CVE-2000-0002")
    broken = cache.record(SimpleNamespace(pk=8, id="X-1", document=b"not zlib"))
    assert isinstance(broken, str) and broken.startswith("the advisory X-1 cannot be read")
    assert cache.record(SimpleNamespace(pk=8, id="X-1", document=b"")) is broken  # remembered


def test_a_keeper_holds_one_generation() -> None:
    keeper = RecordKeeper(limit=3)
    assert (keeper.generation, keeper.kept) == (None, None)
    first = keeper.cache(4)
    assert keeper.cache(4) is first and (first.generation, first.limit) == (4, 3)
    newer = keeper.cache(5)
    assert newer is not first and keeper.kept is newer and keeper.generation == 5
    with pytest.raises(ValueError, match="at least one"):
        RecordKeeper(limit=0)
