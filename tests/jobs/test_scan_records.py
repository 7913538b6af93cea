"""The job runner keeps the parsed vulnerability records of the generation in force between its
scan jobs (``JobRunner.records``, handed to each job's context): the second scan parses nothing
the first one did, and a database update drops them for the new generation's."""

from __future__ import annotations

from pathlib import Path

from tests.auth.creds_helpers import app_services
from tests.http.v2.inproc_push import create_repository
from tests.inprocess import InProcessApp
from tests.jobs.test_scan_jobs import NEW_CVE, _import, _settled
from tests.scanning import engine_images as ei
from tests.scanning.inventory.layer_tars import layer
from tests.scanning.scan_results import findings


async def test_scan_jobs_share_the_runners_parsed_records(
    inproc: InProcessApp, tmp_path: Path
) -> None:
    services = app_services(inproc)
    runner = services.job_runner
    assert runner is not None
    db = services.db
    await _import(inproc, tmp_path / "v1", NEW_CVE)
    async with inproc.client() as c:
        repo = await create_repository(c, "admin", "kept")
        r = await c.patch(f"/api/v0/repositories/{repo}", json={"scanOnPush": True})
        assert r.status_code == 200, r.text
        first = await ei.push_image(c, repo, "one", [ei.debian_base(), ei.application()])
        await _settled(db)
        kept = runner.records.kept
        assert kept is not None and runner.records.generation == 1
        parsed = kept.misses
        assert parsed > 0 and kept.hits == 0
        other = layer(ei.dist_info("zipp", "3.15.0"))
        second = await ei.push_image(c, repo, "two", [ei.debian_base(), other])
        await _settled(db)
        assert runner.records.kept is kept and kept.misses == parsed and kept.hits > 0
        assert {f.vuln_id for f in await findings(db, second.digest)} == {
            "CVE-2018-25032",
            "CVE-2024-5569",
        }

        await _import(inproc, tmp_path / "v2", name="b.zip")  # a new generation
        await _settled(db)
        third = await ei.push_image(c, repo, "three", [ei.debian_base()])
        await _settled(db)
    assert runner.records.generation == 2 and runner.records.kept is not kept
    assert "CVE-2023-45853" in {f.vuln_id for f in await findings(db, third.digest)}
    assert first.digest != third.digest
