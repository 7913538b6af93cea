"""The object-store driver on S3: the shared driver suite against a real s3rver (which checks
SigV4 signatures), plus what only an object store has (part objects, presigned URLs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import opendal
import pytest

from moorage.errors import StorageError, StorageNotFound
from moorage.storage.base import StorageDriver, read_all
from moorage.storage.objectstore import ObjectStoreDriver
from tests.services.objectstores import S3_BUCKET, S3_KEY, ObjectStoreServer
from tests.storage.driver_suite import DriverSuite, MiB, payload


def s3_operator(server: ObjectStoreServer, root: str) -> opendal.AsyncOperator:
    return opendal.AsyncOperator(
        "s3",
        bucket=S3_BUCKET,
        root=f"/{root}/",
        endpoint=server.endpoint,
        region="us-east-1",
        access_key_id=S3_KEY,
        secret_access_key=S3_KEY,
        disable_config_load="true",
        disable_ec2_metadata="true",
    )


class TestS3Driver(DriverSuite):
    @pytest.fixture
    async def driver(self, s3_server: ObjectStoreServer) -> AsyncIterator[StorageDriver]:
        yield ObjectStoreDriver(s3_operator(s3_server, f"t-{uuid.uuid4().hex}"), name="s3")

    # s3rver (the test server, not S3) writes an object's file in place and its size in a
    # second file, so a reader racing an overwrite can see it half-written whatever the client
    # does; S3 itself makes a PUT or a copy visible whole. Run, but not held against the driver.
    @pytest.mark.xfail(reason="s3rver overwrites objects in place (not atomic)", strict=False)
    async def test_put_bytes_is_atomic_for_readers(self, driver: StorageDriver) -> None:
        await super().test_put_bytes_is_atomic_for_readers(driver)

    @pytest.mark.xfail(reason="s3rver copies objects in place (not atomic)", strict=False)
    async def test_move_is_atomic_for_readers(self, driver: StorageDriver) -> None:
        await super().test_move_is_atomic_for_readers(driver)


# ---- what only the object-store driver has: part objects, reserved names, redirects ----------


@pytest.fixture
def s3_root(s3_server: ObjectStoreServer) -> tuple[ObjectStoreServer, str]:
    return s3_server, f"t-{uuid.uuid4().hex}"


async def _paths(op: opendal.AsyncOperator, folder: str = "") -> list[str]:
    return sorted([e.path async for e in await op.list(folder, recursive=True)])


async def test_each_writer_is_one_part_object(s3_root: tuple[ObjectStoreServer, str]) -> None:
    server, root = s3_root
    raw = s3_operator(server, root)
    driver = ObjectStoreDriver(s3_operator(server, root), name="s3")
    first, second = payload(6 * MiB + 1, seed=1), payload(1000, seed=2)
    w = await driver.open_append("uploads/u/data", 0)
    await w.write(first[: 3 * MiB])
    await w.write(first[3 * MiB :])
    await w.close()
    w = await driver.open_append("uploads/u/data", len(first))
    await w.write(second)
    await w.close()
    assert await _paths(raw) == [
        "uploads/u/data.parts/00000000000000000000",
        f"uploads/u/data.parts/{len(first):020d}",
    ]
    assert await driver.list("uploads") == ["uploads/u/data"]  # parts never show
    assert await driver.stat("uploads/u/data") == len(first) + len(second)
    got = await read_all(driver.read("uploads/u/data", len(first) - 5, 10))
    assert got == (first + second)[len(first) - 5 : len(first) + 5]  # across the parts
    await driver.move("uploads/u/data", "blobs/sha256/ab/abcd/data")  # streamed into one
    assert await _paths(raw) == ["blobs/sha256/ab/abcd/data"]
    assert await driver.read_bytes("blobs/sha256/ab/abcd/data") == first + second


async def test_resuming_inside_a_part_trims_it(s3_root: tuple[ObjectStoreServer, str]) -> None:
    server, root = s3_root
    raw = s3_operator(server, root)
    driver = ObjectStoreDriver(s3_operator(server, root), name="s3")
    for offset, data in ((0, b"0123456789"), (10, b"abcdefghij")):
        w = await driver.open_append("k", offset)
        await w.write(data)
        await w.close()
    w = await driver.open_append("k", 15)  # inside the second part
    await w.write(b"XY")
    await w.close()
    assert await driver.read_bytes("k") == b"0123456789abcdeXY"
    w = await driver.open_append("k", 3)  # inside the first: the later parts go
    await w.close()
    assert await driver.read_bytes("k") == b"012"
    assert await _paths(raw) == ["k.parts/00000000000000000000"]  # no scratch left behind


async def test_parts_past_a_gap_are_not_the_object(s3_root: tuple[ObjectStoreServer, str]) -> None:
    """A part left by a writer whose earlier bytes never landed is not read, and resuming at
    the real end removes it."""
    server, root = s3_root
    raw = s3_operator(server, root)
    driver = ObjectStoreDriver(s3_operator(server, root), name="s3")
    await raw.write("k.parts/00000000000000000000", b"12345")
    await raw.write("k.parts/00000000000000000008", b"stale")
    await raw.write("k.parts/not-a-part", b"junk")
    assert await driver.stat("k") == 5
    assert await driver.read_bytes("k") == b"12345"
    with pytest.raises(StorageError):
        await driver.open_append("k", 8)  # past the contiguous end
    w = await driver.open_append("k", 5)
    await w.write(b"678")
    await w.close()
    assert await driver.read_bytes("k") == b"12345678"
    await driver.delete("k")
    assert await _paths(raw) == []


async def test_an_aborted_writer_leaves_nothing(s3_root: tuple[ObjectStoreServer, str]) -> None:
    server, root = s3_root
    raw = s3_operator(server, root)
    driver = ObjectStoreDriver(s3_operator(server, root), name="s3")
    w = await driver.open_append("u/data", 0)
    await w.write(payload(9 * MiB))  # past one multipart chunk: a part upload is under way
    await w.abort()
    assert await _paths(raw) == []
    assert await driver.stat("u/data") is None
    with pytest.raises(StorageError):
        await w.write(b"after abort")


@pytest.mark.parametrize(
    "key", ["a.parts/00000000000000000000", "x/y.parts", "k.parts/z", "blobs/.parts/data"]
)
async def test_keys_that_alias_parts_are_refused(
    s3_root: tuple[ObjectStoreServer, str], key: str
) -> None:
    server, root = s3_root
    driver = ObjectStoreDriver(s3_operator(server, root), name="s3")
    with pytest.raises(StorageError) as info:
        await driver.put_bytes(key, b"evil")
    assert not isinstance(info.value, StorageNotFound)
    with pytest.raises(StorageError):
        await driver.open_append(key, 0)
    with pytest.raises(StorageError):
        await driver.move("safe", key)


async def test_redirect_urls_only_when_configured(s3_root: tuple[ObjectStoreServer, str]) -> None:
    server, root = s3_root
    plain = ObjectStoreDriver(s3_operator(server, root), name="s3")
    await plain.put_bytes("b/data", b"bytes")
    assert await plain.redirect_url("b/data") is None
    redirecting = ObjectStoreDriver(s3_operator(server, root), name="s3", redirect_seconds=30)
    url = await redirecting.redirect_url("b/data")
    assert url is not None and "X-Amz-Expires=30" in url
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(url)).content == b"bytes"
    with pytest.raises(StorageError):
        await redirecting.redirect_url("../b/data")


async def test_errors_do_not_leak_the_store_address(s3_server: ObjectStoreServer) -> None:
    """A store error says what failed, without opendal's context (URIs, headers)."""
    op = opendal.AsyncOperator(
        "s3",
        bucket="no-such-bucket",
        endpoint=s3_server.endpoint,
        region="us-east-1",
        access_key_id=S3_KEY,
        secret_access_key=S3_KEY,
        disable_config_load="true",
    )
    driver = ObjectStoreDriver(op, name="s3")
    with pytest.raises(StorageError) as info:
        await driver.put_bytes("k", b"x")
    assert s3_server.endpoint not in str(info.value)
    assert "NoSuchBucket" in str(info.value)
    with pytest.raises(StorageError):
        await driver.check_health()
