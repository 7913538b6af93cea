"""DTR's ``PUT /api/v0/imagescan/scan/update`` and ``GET /api/v0/imagescan/status`` in process:
offline updates by file (multipart ``file`` or ``upload``, or a zip body) streamed under the
route's own limit, online updates queued as one job, administrators only, and bad archives
refused in DTR's envelope with nothing changed."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorage.db.engine import Database
from moorage.http.api.models.wire import rfc3339
from moorage.scanning.vulndb import store
from tests.http.v2.inproc_push import create_user
from tests.inprocess import InProcessApp, running_app
from tests.scanning.vulndb.archives import (
    changed,
    fixture_records,
    later,
    modified_of,
    osv_layout,
    zip_bytes,
)

RECORDS = fixture_records()
ARCHIVE = zip_bytes(osv_layout(RECORDS, "all"))
UPDATE = "/api/v0/imagescan/scan/update"
STATUS = "/api/v0/imagescan/status"
CHUNK = 64 * 1024


class Body:
    """``data`` in chunks, made on demand; ``pulled`` counts what the app took."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < len(self.data):
            piece = self.data[self.pulled : self.pulled + CHUNK]
            self.pulled += len(piece)
            yield piece


def error_of(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    (error,) = r.json()["errors"]
    assert error["code"] == code, error
    found: dict[str, Any] = error
    return found


async def upload(
    c: httpx.AsyncClient, data: bytes, field: str = "file", **params: str
) -> httpx.Response:
    return await c.put(
        UPDATE,
        params={"online": "false", **params},
        files={field: ("all.zip", data, "application/zip")},
    )


async def test_only_administrators_update_and_only_users_see_the_status(
    inproc: InProcessApp,
) -> None:
    async with inproc.client() as admin:
        user = await create_user(admin, "scanreader")
    async with inproc.client(auth=None) as anonymous:
        error_of(await anonymous.get(STATUS), 401, "NOT_AUTHENTICATED")
        body = Body(ARCHIVE)
        r = await anonymous.put(UPDATE, content=body, headers={"Content-Type": "application/zip"})
        error_of(r, 401, "NOT_AUTHENTICATED")
        assert body.pulled <= CHUNK  # refused before the body was read
        error_of(await anonymous.put(UPDATE, params={"online": "true"}), 401, "NOT_AUTHENTICATED")
    async with inproc.client(auth=("scanreader", "not the password")) as wrong:
        error_of(await upload(wrong, ARCHIVE), 401, "NOT_AUTHENTICATED")
    async with inproc.client(auth=user) as c:
        r = await c.get(STATUS)
        assert r.status_code == 200 and r.json()["db_version"] == 0, r.text
        body = Body(ARCHIVE)
        r = await c.put(UPDATE, content=body, headers={"Content-Type": "application/zip"})
        error_of(r, 403, "NOT_AUTHORIZED")
        assert body.pulled <= CHUNK
        error_of(await upload(c, ARCHIVE), 403, "NOT_AUTHORIZED")
        error_of(await c.put(UPDATE, params={"online": "true"}), 403, "NOT_AUTHORIZED")
    async with inproc.client() as admin:
        status = (await admin.get(STATUS)).json()
        assert status["db_version"] == 0 and status["database"]["lastUpdate"] is None
        assert (await admin.get("/api/v0/jobs", params={"action": "vulndbupdate"})).json()[
            "jobs"
        ] == []


async def test_an_offline_update_by_file(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        before = (await c.get(STATUS)).json()
        assert (before["state"], before["db_version"]) == (0, 0)
        assert before["db_updated_at"] == "0001-01-01T00:00:00.000Z"
        assert before["lastDBUpdateFailed"] is False and before["replicas"] == {}

        r = await upload(c, ARCHIVE)
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["version"] == 1 and done["records"] == len(RECORDS)
        assert done["counts"]["added"] == len(RECORDS) and done["counts"]["unchanged"] == 0
        assert "all.zip" in done["source"] and done["summary"].startswith("vulnerability")

        status = (await c.get(STATUS)).json()
        assert (status["state"], status["db_version"]) == (1, 1)
        assert status["lastDBUpdateFailed"] is False
        database = status["database"]
        assert database["records"] == len(RECORDS) and database["version"] == 1
        newest = max(modified_of(raw) for raw in RECORDS.values())
        assert database["newestModified"] == rfc3339(newest)
        assert database["importedAt"] == status["db_updated_at"]
        assert database["lastImport"]["added"] == len(RECORDS)
        assert database["lastUpdate"]["outcome"] == "succeeded"
        assert database["updating"] is None

        # DTR's own examples name the field ``upload``: the same archive again changes nothing.
        r = await upload(c, ARCHIVE, field="upload")
        assert r.status_code == 200, r.text
        assert r.json()["counts"]["unchanged"] == len(RECORDS) and r.json()["version"] == 2

        # A zip body, one record revised upstream.
        rid = sorted(RECORDS)[0]
        revised = {**RECORDS, rid: changed(RECORDS[rid], modified=later(RECORDS[rid]))}
        r = await c.put(
            UPDATE,
            content=zip_bytes(osv_layout(revised)),
            headers={"Content-Type": "application/zip"},
        )
        assert r.status_code == 200, r.text
        counts = r.json()["counts"]
        assert (counts["updated"], counts["unchanged"]) == (1, len(RECORDS) - 1)
    # Nothing of the uploads is left in the data folder.
    incoming = inproc.settings.data / "vulndb" / "incoming"
    assert list(incoming.iterdir()) == []


def _traversal() -> bytes:
    return zip_bytes({"../../etc/cron.d/evil.json": next(iter(RECORDS.values()))})


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"this is not a zip archive", "not a readable zip"),
        (_traversal(), "climbs out"),
        (zip_bytes({"bad.json": b'{"id": "X"}'}), "modified is not an RFC 3339 time"),
    ],
    ids=["garbage", "path-traversal", "bad-record"],
)
async def test_a_bad_archive_is_a_clear_error_and_changes_nothing(
    inproc: InProcessApp, data: bytes, phrase: str
) -> None:
    async with inproc.client() as admin:
        assert (await upload(admin, ARCHIVE)).status_code == 200
        user = await create_user(admin, "viewer")
        error = error_of(await upload(admin, data), 400, "INVALID_VULNERABILITY_ARCHIVE")
        assert phrase in error["message"]
        status = (await admin.get(STATUS)).json()
        assert status["db_version"] == 1 and status["database"]["records"] == len(RECORDS)
        assert status["lastDBUpdateFailed"] is True
        assert phrase in status["database"]["lastUpdate"]["error"]
        assert status["database"]["lastImport"]["added"] == len(RECORDS)
    async with inproc.client(auth=user) as c:
        seen = (await c.get(STATUS)).json()
        assert seen["lastDBUpdateFailed"] is True
        assert "error" not in seen["database"]["lastUpdate"]  # the text is for administrators


async def test_a_request_without_an_archive_is_refused(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        r = await c.put(UPDATE, data={"note": "no file"}, files={"other": ("x.zip", b"PK")})
        assert "no file field" in error_of(r, 400, "INVALID_INPUT")["message"]
        r = await c.put(UPDATE, content=b"hello", headers={"Content-Type": "text/plain"})
        assert "multipart/form-data" in error_of(r, 400, "INVALID_INPUT")["message"]
        assert (await c.get(STATUS)).json()["db_version"] == 0


def _padded_archive(size: int) -> bytes:
    """The records and a stored (uncompressed) README making the archive ``size`` bytes."""
    members = osv_layout(RECORDS)
    base = len(zip_bytes(members, zipfile.ZIP_STORED))
    members["README.txt"] = b"r" * max(0, size - base - 200)
    return zip_bytes(members, zipfile.ZIP_STORED)


@pytest.fixture()
async def small_limits(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    async with running_app(
        tmp_path / "data",
        database_factory(),
        max_request_body=1024 * 1024,
        vulnerability_db_max_archive_bytes=3 * 1024 * 1024,
        job_workers=0,
    ) as app:
        yield app


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_the_archive_has_its_own_limit_and_streams(
    small_limits: InProcessApp, declared: bool
) -> None:
    fits = _padded_archive(2 * 1024 * 1024)  # over the 1 MiB request limit, under the 3 MiB
    too_big = _padded_archive(4 * 1024 * 1024)
    async with small_limits.client() as c:
        for data, status in ((fits, 200), (too_big, 413)):
            body = Body(data)
            headers = {"Content-Type": "application/zip"}
            if declared:
                headers["Content-Length"] = str(len(data))
            r = await c.put(UPDATE, content=body, headers=headers)
            assert r.status_code == status, r.text[:500]
            if status == 413:
                assert r.json()["errors"][0]["code"] == "REQUEST_TOO_LARGE"
                assert body.pulled <= (CHUNK if declared else 3 * 1024 * 1024 + 2 * CHUNK)
            else:
                assert r.json()["skippedFiles"] == 1
        assert (await c.get(STATUS)).json()["db_version"] == 1
    assert list((small_limits.settings.data / "vulndb" / "incoming").iterdir()) == []


async def test_online_updates_are_one_job(small_limits: InProcessApp) -> None:
    async with small_limits.client() as c:
        r = await c.put(UPDATE, params={"online": "true"})
        assert r.status_code == 200, r.text  # DTR's status
        job = r.json()
        assert job["action"] == "vulndbupdate" and job["status"] == "waiting"
        again = await c.put(UPDATE, params={"online": "true"})
        assert again.status_code == 200 and again.json()["id"] == job["id"]
        listed = (await c.get("/api/v0/jobs", params={"action": "vulndbupdate"})).json()["jobs"]
        assert [j["id"] for j in listed] == [job["id"]]
        # While it waits, an offline update still goes (the import lock is taken when importing).
        assert (await upload(c, ARCHIVE)).status_code == 200


async def test_an_update_already_running_is_a_409(inproc: InProcessApp) -> None:
    db = Database(inproc.settings.database_url)
    try:
        lock, _ = await store.acquire(db, "job 1234")
        async with inproc.client() as c:
            status = (await c.get(STATUS)).json()
            assert status["state"] == 2 and status["database"]["updating"]["holder"] == "job 1234"
            body = Body(ARCHIVE)
            r = await c.put(UPDATE, content=body, headers={"Content-Type": "application/zip"})
            assert "job 1234" in error_of(r, 409, "SCANNING_DB_UPDATE_IN_PROGRESS")["message"]
            assert body.pulled <= CHUNK
            await store.record_failure(db, lock, "test", "let go")
            assert (await upload(c, ARCHIVE)).status_code == 200
            assert (await c.get(STATUS)).json()["state"] == 1
    finally:
        await db.close()
