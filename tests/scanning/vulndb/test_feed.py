"""Online updates in the domain, against a real feed on 127.0.0.1: each ecosystem's archive
downloaded whole or not at all (bounded, declared or not), then imported as one update."""

from __future__ import annotations

from pathlib import Path

import pytest

from moorage.config import Settings
from moorage.db.engine import Database
from moorage.remote.download import DownloadFailed
from moorage.scanning.vulndb import feed
from moorage.scanning.vulndb import status as vulndb_status
from tests.scanning.vulndb.archives import (
    by_ecosystem,
    feed_server,
    fixture_records,
    osv_layout,
    zip_bytes,
)

RECORDS = fixture_records()
ARCHIVES = {eco: zip_bytes(osv_layout(found)) for eco, found in by_ecosystem(RECORDS).items()}


def settings(tmp_path: Path, url: str, **values: object) -> Settings:
    return Settings(
        data=tmp_path / "data",
        vulnerability_feed_url=url,
        vulnerability_feed_ecosystems=sorted(ARCHIVES),
        vulnerability_feed_allowed_networks=["127.0.0.1/32"],
        **values,  # type: ignore[arg-type]
    )


async def _notes() -> tuple[list[str], feed.Note]:
    lines: list[str] = []

    async def note(line: str) -> None:
        lines.append(line)

    return lines, note


def test_archive_urls_quote_the_ecosystem() -> None:
    base = "https://osv-vulnerabilities.storage.googleapis.com/"
    assert feed.archive_url(base, "Red Hat") == f"{base}Red%20Hat/all.zip"
    assert feed.archive_url(base, "crates.io") == f"{base}crates.io/all.zip"
    assert feed.shown("https://u:p@mirror.example/osv/") == "https://mirror.example/osv"


async def test_an_online_update_imports_every_ecosystem_as_one(
    db: Database, tmp_path: Path
) -> None:
    with feed_server(ARCHIVES) as server:
        server.declare_length = False
        lines, note = await _notes()
        report = await feed.update_online(
            db, settings(tmp_path, server.url), holder="test", note=note
        )
    assert report.generation == 1 and report.counts.added == len(RECORDS)
    assert len([x for x in lines if x.startswith("downloaded ")]) == len(ARCHIVES)
    assert (await vulndb_status.read(db)).source == server.url


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
async def test_an_archive_over_the_limit_fails_the_update(
    db: Database, tmp_path: Path, declared: bool
) -> None:
    limit = max(1024, min(len(a) for a in ARCHIVES.values()) + 1)
    assert any(len(a) > limit for a in ARCHIVES.values())
    with feed_server(ARCHIVES) as server:
        server.declare_length = declared
        lines, note = await _notes()
        config = settings(tmp_path, server.url, vulnerability_db_max_archive_bytes=limit)
        with pytest.raises(DownloadFailed, match="limit"):
            await feed.update_online(db, config, holder="test", note=note)
    assert lines[-1].startswith("downloading ")  # the one that did not arrive
    status = await vulndb_status.read(db)
    assert status.generation == 0 and status.last_outcome == "failed"
    assert "limit" in (status.last_error or "")
    assert list((config.data / "vulndb" / "downloads").iterdir()) == []
