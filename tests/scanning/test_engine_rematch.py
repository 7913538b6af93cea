"""A re-match spread over many batches (``engine_rematch``): one record cache for all of them, a
query matched by an earlier batch not matched again (unless the bound on remembered outcomes
forgot it), and every image gets the update's finding either way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import pytest

from moorage.db.engine import Database
from moorage.scanning import engine, engine_rematch
from moorage.scanning.engine_match import Outcome, Query, RecordCache, match_all
from tests.auth.creds_helpers import app_services
from tests.inprocess import InProcessApp, running_app
from tests.scanning import engine_images as ei
from tests.scanning.inventory.layer_tars import layer
from tests.scanning.scan_results import findings, state

NEW = "DEBIAN-CVE-2023-45853"  # zlib, in the second import only


@pytest.fixture()
async def app(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    async with running_app(tmp_path / "data", database_factory(), job_workers=0) as running:
        yield running


@pytest.mark.parametrize("outcomes", [50_000, 1])
async def test_batches_share_records_and_outcomes(
    app: InProcessApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcomes: int
) -> None:
    async with app.client() as c:
        images = [
            await ei.push_image(c, "admin/re", "a", [ei.debian_base(), ei.application()]),
            await ei.push_image(c, "admin/re", "b", [ei.debian_base()]),
            await ei.push_image(
                c, "admin/re", "c", [ei.debian_base(), layer(ei.dist_info("zipp", "3.19.1"))]
            ),
        ]
    registry = app_services(app).registry
    db = registry.db
    await ei.import_records(db, tmp_path / "v1", ei.engine_records(NEW))
    for image in images:
        (outcome,) = await engine.scan(registry, image.digest)
        assert outcome.status == "scanned", outcome
    before = {i.digest: await findings(db, i.digest) for i in images}
    await ei.import_records(db, tmp_path / "v2", ei.engine_records(), name="v2.zip")

    asked: list[set[Query]] = []
    caches: set[int] = set()

    async def spy(
        db: Database, queries: Iterable[Query], generation: int, records: RecordCache | None = None
    ) -> dict[Query, Outcome]:
        wanted = list(queries)
        asked.append(set(wanted))
        caches.add(id(records))
        return await match_all(db, wanted, generation, records)

    monkeypatch.setattr(engine_rematch, "BATCH", 1)
    monkeypatch.setattr(engine_rematch, "OUTCOMES", outcomes)
    monkeypatch.setattr(engine_rematch, "match_all", spy)
    report = await engine_rematch.rematch(db, everything=True)
    assert (report.images, report.rewritten) == (3, 3)

    for image in images:
        after = await findings(db, image.digest)
        (new,) = after - before[image.digest]
        assert (new.component, new.vuln_id) == ("zlib1g", "CVE-2023-45853")
        assert (await state(db, image.digest)).vulndb_generation == 2
    assert len(caches) == 1 and None not in caches  # one record cache for every batch
    assert all(asked)
    if outcomes > 1:  # the base's queries were matched in the first batch only
        assert all(not (asked[0] & later) for later in asked[1:]), asked
    else:  # nothing remembered: every batch asks for all its queries again
        assert sum(len(a) for a in asked) > len(set().union(*asked))
