"""``moorage vulndb import FILE`` and ``moorage vulndb status``: the offline update run by an
operator, as a subprocess against the database of a real app running in this process, which
serves what it imported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.cli import moorage
from tests.inprocess import InProcessApp
from tests.scanning.vulndb.archives import fixture_records, osv_layout, write_zip

RECORDS = fixture_records()


async def test_moorage_vulndb_import_and_status(inproc: InProcessApp, tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "osv-all.zip", osv_layout(RECORDS, "osv"))

    def run(*args: str) -> tuple[int, str, str]:
        done = moorage("vulndb", *args, settings=inproc.settings)
        return done.returncode, done.stdout.strip(), done.stderr.strip()

    code, out, err = await asyncio.to_thread(run, "status")
    assert code == 0 and out == "no vulnerability database imported yet", err
    code, out, err = await asyncio.to_thread(run, "import", str(archive), "--json")
    assert code == 0, err
    counts = json.loads(out)
    assert counts["added"] == counts["records"] == len(RECORDS) and counts["version"] == 1
    code, out, err = await asyncio.to_thread(run, "import", str(archive))
    assert code == 0, err
    assert out.startswith(f"vulnerability database version 2: {len(RECORDS)} records")
    assert f"{len(RECORDS)} unchanged" in out

    code, out, err = await asyncio.to_thread(run, "status")
    assert code == 0 and f"version 2: {len(RECORDS)} records" in out and "osv-all.zip" in out
    code, out, err = await asyncio.to_thread(run, "status", "--json")
    status = json.loads(out)
    assert status["generation"] == 2 and status["last_outcome"] == "succeeded"
    # The serving app sees what the command imported.
    async with inproc.client() as c:
        assert (await c.get("/api/v0/imagescan/status")).json()["db_version"] == 2


async def test_moorage_vulndb_import_refuses_bad_files(
    inproc: InProcessApp, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    done = await asyncio.to_thread(moorage, "vulndb", "import", str(bad), settings=inproc.settings)
    assert done.returncode == 1 and "not a readable zip archive" in done.stderr, done.stderr
    missing = tmp_path / "missing.zip"
    done = await asyncio.to_thread(
        moorage, "vulndb", "import", str(missing), settings=inproc.settings
    )
    assert done.returncode == 1 and "no file" in done.stderr
    status = await asyncio.to_thread(moorage, "vulndb", "status", settings=inproc.settings)
    assert "no vulnerability database imported yet" in status.stdout
    assert "last update failed" in status.stdout and "not a readable zip" in status.stdout
