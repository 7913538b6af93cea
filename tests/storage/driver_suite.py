"""The one test suite every storage driver runs (DESIGN.md §4).

A driver's test module subclasses :class:`DriverSuite` and provides a ``driver`` fixture
that yields a driver over an *empty* store (for object stores: a fresh bucket or a fresh
root prefix per test), e.g.::

    class TestS3Driver(DriverSuite):
        @pytest.fixture
        async def driver(self, s3_server) -> AsyncIterator[StorageDriver]:
            d = S3Driver(..., root=f"t-{uuid.uuid4().hex}")
            yield d
            await d.delete(...)

The class name does not start with ``Test``, so pytest collects it only through subclasses.
Everything here goes through the public ``StorageDriver`` interface and nothing else.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from moorage.errors import StorageError, StorageNotFound
from moorage.storage.base import StorageDriver, read_all

MiB = 1 << 20

# Keys a driver must refuse: they could escape the store or alias another key.
BAD_KEYS = [
    "",
    "../x",
    "a/../../x",
    "a/..",
    "..",
    "/abs",
    "/",
    "a//b",
    "a/",
    "a/./b",
    "./a",
    ".",
    "a\x00b",
    "\x00",
]


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes (cheap to build, easy to compare)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


class DriverSuite:
    """Behaviour every ``StorageDriver`` must have. Subclasses provide the ``driver`` fixture."""

    @pytest.fixture
    def driver(self) -> StorageDriver:
        raise NotImplementedError("a DriverSuite subclass must provide a `driver` fixture")

    # ---- stat ------------------------------------------------------------------------------

    async def test_stat_missing_is_none(self, driver: StorageDriver) -> None:
        assert await driver.stat("nothing/here/data") is None

    async def test_stat_present_gives_size(self, driver: StorageDriver) -> None:
        await driver.put_bytes("s/one", b"12345")
        await driver.put_bytes("s/empty", b"")
        assert await driver.stat("s/one") == 5
        assert await driver.stat("s/empty") == 0

    async def test_stat_of_a_prefix_is_none(self, driver: StorageDriver) -> None:
        await driver.put_bytes("dir/sub/data", b"x")
        assert await driver.stat("dir") is None
        assert await driver.stat("dir/sub") is None

    # ---- read ------------------------------------------------------------------------------

    async def test_read_whole_object(self, driver: StorageDriver) -> None:
        data = payload(3 * MiB + 17)
        await driver.put_bytes("r/big", data)
        assert await read_all(driver.read("r/big")) == data
        assert await driver.read_bytes("r/big") == data

    @pytest.mark.parametrize(
        ("offset", "length"),
        [
            (0, None),
            (0, 0),
            (0, 1),
            (1, None),
            (10, 100),
            (MiB - 1, 2),  # across a 1 MiB boundary
            (MiB, MiB),
            (123, 2 * MiB + 5),
            (2 * MiB + 16, None),  # the last byte
            (2 * MiB + 17, None),  # exactly the end
            (2 * MiB + 17, 10),
            (2 * MiB + 100, None),  # past the end
            (2 * MiB, 10 * MiB),  # length past the end
        ],
    )
    async def test_read_with_offset_and_length(
        self, driver: StorageDriver, offset: int, length: int | None
    ) -> None:
        data = payload(2 * MiB + 17, seed=1)
        await driver.put_bytes("r/ranged", data)
        got = await read_all(driver.read("r/ranged", offset, length))
        want = data[offset:] if length is None else data[offset : offset + length]
        assert got == want

    async def test_read_empty_object(self, driver: StorageDriver) -> None:
        await driver.put_bytes("r/empty", b"")
        assert await read_all(driver.read("r/empty")) == b""
        assert await driver.read_bytes("r/empty") == b""

    async def test_read_missing_is_not_found(self, driver: StorageDriver) -> None:
        with pytest.raises(StorageNotFound):
            await read_all(driver.read("r/missing"))
        with pytest.raises(StorageNotFound):
            await read_all(driver.read("r/missing", 5, 10))
        with pytest.raises(StorageNotFound):
            await driver.read_bytes("r/missing")

    async def test_read_of_a_prefix_is_not_found(self, driver: StorageDriver) -> None:
        await driver.put_bytes("r/dir/data", b"x")
        with pytest.raises(StorageNotFound):
            await read_all(driver.read("r/dir"))
        with pytest.raises(StorageNotFound):
            await driver.read_bytes("r/dir")

    # ---- put_bytes -------------------------------------------------------------------------

    async def test_put_bytes_creates_parents_and_overwrites(self, driver: StorageDriver) -> None:
        await driver.put_bytes("p/deep/er/still/data", b"first version, longer")
        assert await driver.read_bytes("p/deep/er/still/data") == b"first version, longer"
        await driver.put_bytes("p/deep/er/still/data", b"second")
        assert await driver.read_bytes("p/deep/er/still/data") == b"second"
        assert await driver.stat("p/deep/er/still/data") == 6

    async def test_put_bytes_is_atomic_for_readers(self, driver: StorageDriver) -> None:
        """A reader racing with overwrites sees the old object or the new one, never a mix."""
        old, new = payload(2 * MiB, seed=2), payload(2 * MiB + 3, seed=3)
        await driver.put_bytes("p/atomic", old)
        seen: set[bytes] = set()
        done = asyncio.Event()

        async def writer() -> None:
            try:
                for i in range(12):
                    await driver.put_bytes("p/atomic", new if i % 2 == 0 else old)
            finally:
                done.set()

        async def reader() -> None:
            for _ in range(200):
                got = await read_all(driver.read("p/atomic"))
                assert got in (old, new), f"torn read of {len(got)} bytes"
                seen.add(got)
                if done.is_set():
                    break
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(writer(), reader(), reader()), timeout=60)
        assert await driver.read_bytes("p/atomic") == old
        # Every read was whole (checked above); which versions a reader caught depends on timing.
        assert seen

    async def test_put_bytes_leaves_nothing_else_listed(self, driver: StorageDriver) -> None:
        for i in range(5):
            await driver.put_bytes("p/only/data", payload(1000 + i, seed=i))
        assert await driver.list("p/only") == ["p/only/data"]

    # ---- open_append -----------------------------------------------------------------------

    async def test_append_from_zero(self, driver: StorageDriver) -> None:
        chunks = [payload(n, seed=n) for n in (1, 1000, MiB + 7, 0, 33)]
        writer = await driver.open_append("a/new/data", 0)
        assert writer.offset == 0
        for chunk in chunks:
            await writer.write(chunk)
        assert writer.offset == sum(len(c) for c in chunks)
        await writer.close()
        assert await driver.read_bytes("a/new/data") == b"".join(chunks)
        assert await driver.stat("a/new/data") == writer.offset

    async def test_append_resumes_at_offset(self, driver: StorageDriver) -> None:
        first, second = payload(MiB + 1, seed=4), payload(5000, seed=5)
        w = await driver.open_append("a/resume", 0)
        await w.write(first)
        await w.close()
        w = await driver.open_append("a/resume", len(first))
        assert w.offset == len(first)
        await w.write(second)
        assert w.offset == len(first) + len(second)
        await w.close()
        assert await driver.read_bytes("a/resume") == first + second

    async def test_append_at_offset_discards_bytes_past_it(self, driver: StorageDriver) -> None:
        await driver.put_bytes("a/trunc", b"0123456789")
        w = await driver.open_append("a/trunc", 4)
        await w.write(b"abc")
        await w.close()
        assert await driver.read_bytes("a/trunc") == b"0123abc"
        # Resuming at the end of the kept bytes with nothing written truncates too.
        w = await driver.open_append("a/trunc", 2)
        await w.close()
        assert await driver.read_bytes("a/trunc") == b"01"

    async def test_append_at_zero_over_existing_object_restarts_it(
        self, driver: StorageDriver
    ) -> None:
        await driver.put_bytes("a/restart", b"old bytes")
        w = await driver.open_append("a/restart", 0)
        await w.write(b"new")
        await w.close()
        assert await driver.read_bytes("a/restart") == b"new"

    async def test_append_past_the_end_is_refused(self, driver: StorageDriver) -> None:
        await driver.put_bytes("a/short", b"abc")
        with pytest.raises(StorageError):
            await driver.open_append("a/short", 10)
        assert await driver.read_bytes("a/short") == b"abc"

    async def test_append_then_abort_keeps_closed_bytes(self, driver: StorageDriver) -> None:
        kept, lost, redo = b"kept-" * 100, payload(MiB, seed=6), b"redo"
        w = await driver.open_append("a/abort", 0)
        await w.write(kept)
        await w.close()
        w = await driver.open_append("a/abort", len(kept))
        await w.write(lost)
        await w.abort()
        # Bytes past the last closed offset may or may not remain; the closed ones must.
        size = await driver.stat("a/abort")
        assert size is not None and size >= len(kept)
        got = await driver.read_bytes("a/abort")
        assert got[: len(kept)] == kept
        # The upload path resumes at the recorded offset: the aborted bytes are gone then.
        w = await driver.open_append("a/abort", len(kept))
        await w.write(redo)
        await w.close()
        assert await driver.read_bytes("a/abort") == kept + redo

    async def test_abort_of_first_write_then_restart(self, driver: StorageDriver) -> None:
        w = await driver.open_append("a/abort0", 0)
        await w.write(b"never committed")
        await w.abort()
        w = await driver.open_append("a/abort0", 0)
        await w.write(b"second try")
        await w.close()
        assert await driver.read_bytes("a/abort0") == b"second try"

    async def test_close_and_abort_are_idempotent(self, driver: StorageDriver) -> None:
        w = await driver.open_append("a/idem", 0)
        await w.write(b"x")
        await w.close()
        await w.close()
        await w.abort()  # after close: nothing to undo
        assert await driver.read_bytes("a/idem") == b"x"
        w = await driver.open_append("a/idem", 1)
        await w.abort()
        await w.abort()
        assert (await driver.read_bytes("a/idem"))[:1] == b"x"

    # ---- move ------------------------------------------------------------------------------

    async def test_move_to_new_key(self, driver: StorageDriver) -> None:
        data = payload(MiB + 9, seed=7)
        await driver.put_bytes("uploads/u1/data", data)
        await driver.move("uploads/u1/data", "blobs/sha256/ab/abcd/data")
        assert await driver.read_bytes("blobs/sha256/ab/abcd/data") == data
        assert await driver.stat("uploads/u1/data") is None
        assert await driver.list("uploads/u1") == []

    async def test_move_replaces_destination(self, driver: StorageDriver) -> None:
        await driver.put_bytes("m/src", b"new content")
        await driver.put_bytes("m/dst", b"old content that is longer")
        await driver.move("m/src", "m/dst")
        assert await driver.read_bytes("m/dst") == b"new content"
        assert await driver.stat("m/dst") == len(b"new content")
        assert await driver.stat("m/src") is None

    async def test_move_of_appended_object(self, driver: StorageDriver) -> None:
        w = await driver.open_append("m/appended", 0)
        await w.write(b"part1-")
        await w.write(b"part2")
        await w.close()
        await driver.move("m/appended", "m/final/data")
        assert await driver.read_bytes("m/final/data") == b"part1-part2"

    async def test_move_missing_source_is_not_found(self, driver: StorageDriver) -> None:
        await driver.put_bytes("m/keep", b"untouched")
        with pytest.raises(StorageNotFound):
            await driver.move("m/absent", "m/keep")
        assert await driver.read_bytes("m/keep") == b"untouched"
        with pytest.raises(StorageNotFound):
            await driver.move("m/absent", "m/elsewhere")
        assert await driver.stat("m/elsewhere") is None

    async def test_move_is_atomic_for_readers(self, driver: StorageDriver) -> None:
        """Readers of the destination see the old bytes or the new ones, never a partial copy."""
        old, new = payload(2 * MiB, seed=8), payload(2 * MiB, seed=9)
        await driver.put_bytes("m/race/dst", old)
        await driver.put_bytes("m/race/src", new)
        stop = asyncio.Event()

        async def reader() -> None:
            for _ in range(200):
                got = await read_all(driver.read("m/race/dst"))
                assert got in (old, new), f"torn read of {len(got)} bytes"
                if stop.is_set():
                    break
                await asyncio.sleep(0)

        async def mover() -> None:
            try:
                await driver.move("m/race/src", "m/race/dst")
            finally:
                stop.set()

        await asyncio.wait_for(asyncio.gather(reader(), mover()), timeout=60)
        assert await driver.read_bytes("m/race/dst") == new

    # ---- delete ----------------------------------------------------------------------------

    async def test_delete_file(self, driver: StorageDriver) -> None:
        await driver.put_bytes("d/one", b"1")
        await driver.put_bytes("d/two", b"2")
        await driver.delete("d/one")
        assert await driver.stat("d/one") is None
        assert await driver.read_bytes("d/two") == b"2"
        with pytest.raises(StorageNotFound):
            await driver.read_bytes("d/one")

    async def test_delete_prefix(self, driver: StorageDriver) -> None:
        for key in ("d/p/a", "d/p/b/c", "d/p/b/d/e", "d/pq/x", "d/other"):
            await driver.put_bytes(key, key.encode())
        await driver.delete("d/p")
        assert await driver.list("d/p") == []
        for key in ("d/p/a", "d/p/b/c", "d/p/b/d/e"):
            assert await driver.stat(key) is None
        # A sibling whose name merely starts with the prefix is another key: it stays.
        assert await driver.read_bytes("d/pq/x") == b"d/pq/x"
        assert await driver.read_bytes("d/other") == b"d/other"

    async def test_delete_missing_is_fine(self, driver: StorageDriver) -> None:
        await driver.delete("d/never/existed")
        await driver.delete("d/never")
        await driver.put_bytes("d/twice", b"x")
        await driver.delete("d/twice")
        await driver.delete("d/twice")
        assert await driver.stat("d/twice") is None

    # ---- list ------------------------------------------------------------------------------

    async def test_list_under_prefix(self, driver: StorageDriver) -> None:
        keys = [
            "blobs/sha256/aa/aa11/data",
            "blobs/sha256/aa/aa22/data",
            "blobs/sha256/bb/bb33/data",
            "blobs/sha512/cc/cc44/data",
        ]
        for key in keys:
            await driver.put_bytes(key, b"x")
        await driver.put_bytes("blobsy/not/under", b"x")
        await driver.put_bytes("uploads/u/data", b"x")
        assert sorted(await driver.list("blobs")) == keys
        assert sorted(await driver.list("blobs/sha256")) == keys[:3]
        assert sorted(await driver.list("blobs/sha256/aa")) == keys[:2]
        assert await driver.list("blobs/sha1") == []
        assert await driver.list("nothing") == []

    async def test_list_after_changes(self, driver: StorageDriver) -> None:
        await driver.put_bytes("l/a", b"1")
        w = await driver.open_append("l/b", 0)
        await w.write(b"2")
        await w.close()
        assert sorted(await driver.list("l")) == ["l/a", "l/b"]
        await driver.move("l/a", "l/c")
        assert sorted(await driver.list("l")) == ["l/b", "l/c"]
        await driver.delete("l/b")
        assert await driver.list("l") == ["l/c"]

    # ---- path tricks -----------------------------------------------------------------------

    @pytest.mark.parametrize("key", BAD_KEYS)
    async def test_path_tricks_are_refused(self, driver: StorageDriver, key: str) -> None:
        await driver.put_bytes("safe/data", b"safe")
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: driver.stat(key),
            lambda: read_all(driver.read(key)),
            lambda: driver.read_bytes(key),
            lambda: driver.put_bytes(key, b"evil"),
            lambda: driver.open_append(key, 0),
            lambda: driver.move(key, "safe/moved"),
            lambda: driver.move("safe/data", key),
            lambda: driver.delete(key),
            lambda: driver.list(key),
        ]
        for call in calls:
            with pytest.raises(StorageError) as info:
                await call()
            assert not isinstance(info.value, StorageNotFound), "a path trick is not a 404"
        assert await driver.read_bytes("safe/data") == b"safe"
        assert await driver.stat("safe/moved") is None

    # ---- health, optional features ---------------------------------------------------------

    async def test_check_health(self, driver: StorageDriver) -> None:
        await driver.check_health()
        await driver.check_health()
        # The probe cleans up after itself.
        for prefix in ("_health",):
            assert await driver.list(prefix) == []

    async def test_local_path_when_offered(self, driver: StorageDriver) -> None:
        data = payload(4096, seed=10)
        await driver.put_bytes("lp/blob/data", data)
        local = driver.local_path("lp/blob/data")
        if local is None:
            pytest.skip(f"{driver.name} has no local paths")
        assert Path(local).read_bytes() == data

    async def test_last_modified(self, driver: StorageDriver) -> None:
        """GC ages upload folders without a row by it: the newest change under a prefix."""
        assert await driver.last_modified("lm/none") is None
        before = time.time()
        await driver.put_bytes("lm/u1/data", b"x")
        w = await driver.open_append("lm/u2/data", 0)
        await w.write(b"y")
        await w.close()
        for prefix in ("lm/u1", "lm/u1/data", "lm/u2", "lm/u2/data", "lm"):
            when = await driver.last_modified(prefix)
            assert when is not None, prefix
            assert before - 5 <= when <= time.time() + 5, (prefix, when, before)
        await driver.delete("lm/u1")
        assert await driver.last_modified("lm/u1") is None

    async def test_redirect_url_is_none_or_url(self, driver: StorageDriver) -> None:
        await driver.put_bytes("rd/blob/data", b"x")
        url = await driver.redirect_url("rd/blob/data")
        assert url is None or url.startswith(("http://", "https://"))

    async def test_concurrent_appends_to_distinct_keys(self, driver: StorageDriver) -> None:
        async def one(i: int) -> None:
            w = await driver.open_append(f"c/{i}/data", 0)
            for j in range(4):
                await w.write(payload(64 * 1024, seed=i * 10 + j))
            await w.close()

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(8))), timeout=60)
        for i in range(8):
            want = b"".join(payload(64 * 1024, seed=i * 10 + j) for j in range(4))
            assert await driver.read_bytes(f"c/{i}/data") == want
