"""A refused chunk (416) tells the client where its upload stands with the same ``Location``,
``Range`` and ``Docker-Upload-UUID`` a status request gives: the upload domain returns and
raises the progress, the /v2 edge writes the headers."""

from __future__ import annotations

import os

from tests.inprocess import InProcessApp

PROGRESS = ("Location", "Range", "Docker-Upload-UUID")


async def test_a_refused_chunk_carries_the_status_headers(inproc: InProcessApp) -> None:
    repo = "admin/progress"
    data = os.urandom(100)
    async with inproc.client() as c:
        started = await c.post(f"/v2/{repo}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        upload_id = started.headers["Docker-Upload-UUID"]
        assert location == f"/v2/{repo}/blobs/uploads/{upload_id}"
        assert started.headers["Range"] == "0-0"

        first = await c.patch(location, content=data[:40], headers={"Content-Range": "0-39"})
        assert first.status_code == 202, first.text
        assert first.headers["Range"] == "0-39"
        status = await c.get(location)
        assert status.status_code == 204

        cases = [
            ("PATCH", {"Content-Range": "60-99"}, data[60:]),  # a gap
            ("PATCH", {"Content-Range": "40-99"}, data[40:90]),  # range and length disagree
            ("PUT", {"Content-Range": "0-39"}, data[:40]),  # overlap on the final PUT
        ]
        for method, headers, body in cases:
            url = location if method == "PATCH" else f"{location}?digest=sha256:{'0' * 64}"
            refused = await c.request(method, url, content=body, headers=headers)
            assert refused.status_code == 416, (method, headers, refused.text)
            (error,) = refused.json()["errors"]
            assert error["code"] == "BLOB_UPLOAD_INVALID"
            assert {h: refused.headers[h] for h in PROGRESS} == {
                h: status.headers[h] for h in PROGRESS
            }
            assert refused.headers["Docker-Distribution-API-Version"] == "registry/2.0"

        # A malformed Content-Range names no offset to resume from: 416 without them.
        malformed = await c.patch(location, content=b"x", headers={"Content-Range": "x-y"})
        assert malformed.status_code == 416
        assert not [h for h in PROGRESS if h in malformed.headers]
        # Nothing of the refused chunks was recorded.
        assert (await c.get(location)).headers["Range"] == "0-39"
