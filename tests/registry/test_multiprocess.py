"""Two ``moorage serve`` processes sharing one database and one data folder (DESIGN.md §6).

Neither replica may hold state the other needs: an upload started on one continues and
finishes on the other, and a tag written through one is what the other serves next.
On ``sqlite`` both processes use the SQLite file in the shared data folder; on
``postgres`` both get the same fresh database URL.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import RunningRegistry
from tests.registry.pushing import (
    OCI_MANIFEST,
    manifest_for,
    patch_chunk,
    push_blob,
    push_image,
    put_manifest,
    sha256,
    start_upload,
)

MiB = 1 << 20


@pytest.fixture(scope="module")
def pair(
    registry_factory: Callable[..., RunningRegistry],
    database_factory: Callable[[], str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RunningRegistry, RunningRegistry]:
    data = tmp_path_factory.mktemp("shared")
    database = database_factory()  # None on sqlite: both use <data>/moorage.db
    a = registry_factory(data=data, database=database)
    b = registry_factory(data=data, database=database)
    assert a.port != b.port
    assert a.database == b.database
    return a, b


@pytest.fixture()
def clients(
    pair: tuple[RunningRegistry, RunningRegistry],
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        yield ca, cb


def _get_blob(client: httpx.Client, name: str, digest: str) -> bytes:
    r = client.get(f"/v2/{name}/blobs/{digest}")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    return r.content


def test_chunked_upload_across_processes(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ca, cb = clients
    name = "multi/chunked"
    first, second = os.urandom(3 * MiB + 5), os.urandom(2 * MiB + 11)
    data = first + second

    location = start_upload(ca, name)  # POST on A
    r = patch_chunk(ca, location, first, 0)  # PATCH on A
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(first) - 1}"
    location = r.headers["Location"]

    # B sees the progress A recorded.
    status = cb.get(location)
    assert status.status_code == 204, status.text
    assert status.headers["Range"] == f"0-{len(first) - 1}"

    # A chunk that does not start where the upload ends is refused by B too.
    wrong = patch_chunk(cb, location, b"x", 1)
    assert wrong.status_code == 416, wrong.text
    assert wrong.headers["Range"] == f"0-{len(first) - 1}"

    r = patch_chunk(cb, location, second, len(first))  # PATCH on B
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    location = r.headers["Location"]

    digest = sha256(data)
    r = cb.put(location, params={"digest": digest})  # PUT on B
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest

    for c in (ca, cb):
        head = c.head(f"/v2/{name}/blobs/{digest}")
        assert head.status_code == 200
        assert int(head.headers["Content-Length"]) == len(data)
        got = _get_blob(c, name, digest)
        assert hashlib.sha256(got).hexdigest() == digest.split(":", 1)[1]
        assert got == data
        # The finished upload is gone for both.
        assert c.get(location).status_code == 404


def test_chunked_upload_alternating_many_chunks(
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    ca, cb = clients
    name = "multi/alternating"
    chunks = [os.urandom(n) for n in (1, 65_536, 1_000_003, 7, 250_000, 1)]
    location = start_upload(cb, name)
    offset = 0
    for i, chunk in enumerate(chunks):
        c = (ca, cb)[i % 2]
        r = patch_chunk(c, location, chunk, offset)
        assert r.status_code == 202, r.text
        offset += len(chunk)
        location = r.headers["Location"]
    data = b"".join(chunks)
    # The last chunk rides on the PUT, through A.
    tail = os.urandom(4096)
    r = ca.put(
        location,
        params={"digest": sha256(data + tail)},
        content=tail,
        headers={"Content-Range": f"{offset}-{offset + len(tail) - 1}"},
    )
    assert r.status_code == 201, r.text
    for c in (ca, cb):
        assert _get_blob(c, name, sha256(data + tail)) == data + tail


def test_wrong_digest_on_the_other_process(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ca, cb = clients
    name = "multi/wrongdigest"
    data = os.urandom(100_000)
    location = start_upload(ca, name)
    r = patch_chunk(ca, location, data, 0)
    assert r.status_code == 202
    bad = sha256(data + b"!")
    r = cb.put(r.headers["Location"], params={"digest": bad})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    for c in (ca, cb):
        assert c.head(f"/v2/{name}/blobs/{bad}").status_code == 404
        assert c.head(f"/v2/{name}/blobs/{sha256(data)}").status_code == 404


def test_tag_pushed_on_a_is_served_by_b(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ca, cb = clients
    name = "multi/tags"
    config, layer = b'{"architecture":"amd64","os":"linux"}', os.urandom(50_000)
    digest, body = push_image(ca, name, "v1", config, [layer])

    r = cb.get(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.text
    assert r.content == body
    assert r.headers["Docker-Content-Digest"] == digest
    assert cb.get(f"/v2/{name}/manifests/{digest}").content == body
    assert cb.get(f"/v2/{name}/tags/list").json() == {"name": name, "tags": ["v1"]}
    assert _get_blob(cb, name, sha256(layer)) == layer


def test_tag_moved_and_deleted_on_b_is_seen_by_a(
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    ca, cb = clients
    name = "multi/move"
    config = b'{"architecture":"amd64","os":"linux"}'
    layer1, layer2 = os.urandom(10_000), os.urandom(10_000)
    d1, body1 = push_image(ca, name, "stable", config, [layer1])
    assert ca.get(f"/v2/{name}/manifests/stable").content == body1  # warm A up

    # Move the tag through B.
    push_blob(cb, name, layer2)
    body2 = manifest_for(config, [layer2])
    d2 = put_manifest(cb, name, "stable", body2)
    assert d2 != d1
    r = ca.get(f"/v2/{name}/manifests/stable")
    assert r.status_code == 200
    assert r.headers["Docker-Content-Digest"] == d2
    assert r.content == body2
    head = ca.head(f"/v2/{name}/manifests/stable")
    assert head.headers["Docker-Content-Digest"] == d2
    # The old manifest stays reachable by digest.
    assert ca.get(f"/v2/{name}/manifests/{d1}").content == body1

    # Delete the tag through B.
    r = cb.delete(f"/v2/{name}/manifests/stable")
    assert r.status_code == 202, r.text
    r = ca.get(f"/v2/{name}/manifests/stable")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert ca.head(f"/v2/{name}/manifests/stable").status_code == 404
    assert ca.get(f"/v2/{name}/tags/list").json()["tags"] == []

    # Delete a manifest by digest through A; B no longer serves it.
    assert ca.delete(f"/v2/{name}/manifests/{d1}").status_code == 202
    assert cb.get(f"/v2/{name}/manifests/{d1}").status_code == 404
    assert cb.get(f"/v2/{name}/manifests/{d2}").content == body2


def test_same_blob_pushed_through_both(clients: tuple[httpx.Client, httpx.Client]) -> None:
    """Both processes finishing uploads of the same content converge on one stored blob."""
    ca, cb = clients
    data = os.urandom(300_000)
    push_blob(ca, "multi/same-a", data)
    push_blob(cb, "multi/same-b", data)
    push_blob(cb, "multi/same-a", data)
    for c in (ca, cb):
        assert _get_blob(c, "multi/same-a", sha256(data)) == data
        assert _get_blob(c, "multi/same-b", sha256(data)) == data


def test_upload_held_by_one_process_is_refused_by_the_other(
    pair: tuple[RunningRegistry, RunningRegistry],
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    """While A streams a PATCH body, B refuses another PATCH and the PUT for that upload."""
    a, _b = pair
    ca, cb = clients
    name = "multi/lease"
    # The first part is larger than the batch the server hashes and writes at once (4 MiB),
    # so it reaches the store while the request is still open.
    first, second = os.urandom(5 * MiB), os.urandom(MiB)
    location = start_upload(ca, name)
    upload_id = location.rstrip("/").rsplit("/", 1)[1]
    upload_file = a.data / "storage" / "uploads" / upload_id / "data"
    release = threading.Event()

    def body() -> Iterator[bytes]:
        yield first
        if not release.wait(timeout=30):
            raise RuntimeError("test never released the streaming body")
        yield second

    result: list[httpx.Response] = []
    streamer = threading.Thread(
        target=lambda: result.append(ca.patch(location, content=body())), daemon=True
    )
    streamer.start()
    try:
        # A holds the upload once its first bytes are in the shared store.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if upload_file.exists() and upload_file.stat().st_size > 0:
                break
            time.sleep(0.01)
        else:
            pytest.fail("A never started writing the upload")
        r = patch_chunk(cb, location, b"intruder", 0)
        assert r.status_code == 416, r.text
        r = cb.put(location, params={"digest": sha256(first)})
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    finally:
        release.set()
        streamer.join(timeout=60)
    assert result and result[0].status_code == 202, result and result[0].text
    assert result[0].headers["Range"] == f"0-{len(first) + len(second) - 1}"
    r = cb.put(result[0].headers["Location"], params={"digest": sha256(first + second)})
    assert r.status_code == 201, r.text
    assert _get_blob(ca, name, sha256(first + second)) == first + second
