"""``scanning.report_tags.tag_scans``: a page's summaries keyed by the digests asked for, only of
manifests the repository holds (a result stored for the same digest elsewhere is not this
repository's to show unless it holds the manifest), and nothing read for an empty page."""

from __future__ import annotations

from sqlalchemy import select

from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.scanning import report_tags
from tests.auth.creds_helpers import app_services
from tests.http import scan_results as seed
from tests.http.scan_world import PACKAGES
from tests.http.test_request_cost import counted
from tests.http.ui import content
from tests.inprocess import InProcessApp


async def _repository_id(db: Database, name: str) -> int:
    async with db.read() as conn:
        query = select(t.repositories.c.id).where(t.repositories.c.name == name)
        return int((await conn.execute(query)).scalar_one())


async def test_only_manifests_the_repository_holds_are_summarised(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        await content.repository(admin, "admin", "mine", "private")
        mine, mine_layers = await seed.image(admin, "admin/mine", "v1")
        other, other_layers = await seed.image(admin, "admin/other", "v1")
    await seed.scan(inproc, mine, mine_layers, PACKAGES)
    await seed.scan(inproc, other, other_layers, PACKAGES)
    db = app_services(inproc).db
    repository = await _repository_id(db, "admin/mine")
    unknown = "sha256:" + "0" * 64
    found = await report_tags.tag_scans(db, repository, [mine, other, unknown, mine])
    assert sorted(found) == sorted({mine, other, unknown})
    here = found[mine]
    assert (here.status, here.platforms, here.scanned) == ("scanned", 1, 1)
    assert (here.counts.critical, here.counts.major, here.counts.minor) == (1, 1, 1)
    for digest in (other, unknown):  # scanned elsewhere, or held nowhere: nothing to show here
        absent = found[digest]
        assert (absent.status, absent.platforms, absent.counts.total) == ("not_scanned", 0, 0)
        assert absent.completed_at is None and absent.should_rescan is False


async def test_an_empty_page_reads_nothing(inproc: InProcessApp) -> None:
    db = app_services(inproc).db
    with counted(inproc) as cost:
        assert await report_tags.tag_scans(db, 1, []) == {}
    assert cost.statements == []
