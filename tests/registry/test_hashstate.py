"""ResumableHash: OpenSSL SHA-2 contexts whose state survives a trip through the database."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest

from moorage.registry.hashstate import ResumableHash

ALGORITHMS = ["sha256", "sha512"]
STATE_SIZES = {"sha256": 112, "sha512": 216}


def _data(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _splits(rng: random.Random, size: int, parts: int) -> list[int]:
    """Sorted distinct cut points from 0 to ``size`` (both included)."""
    return sorted({0, size, *(rng.randint(0, size) for _ in range(parts))})


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", range(20))
def test_matches_hashlib_across_random_splits(algorithm: str, seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000, 70_000])
    data = _data(rng, size)
    cuts = _splits(rng, size, rng.randint(0, 12))
    h = ResumableHash(algorithm)
    for a, b in itertools.pairwise(cuts):
        h.update(data[a:b])
    assert h.hexdigest() == hashlib.new(algorithm, data).hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty(algorithm: str) -> None:
    assert ResumableHash(algorithm).hexdigest() == hashlib.new(algorithm).hexdigest()
    h = ResumableHash(algorithm)
    h.update(b"")
    assert h.hexdigest() == hashlib.new(algorithm).hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_large_input(algorithm: str) -> None:
    rng = random.Random(42)
    data = _data(rng, 8 * 1024 * 1024 + 13)
    h = ResumableHash(algorithm)
    view = memoryview(data)
    for start in range(0, len(data), 1 << 20):
        h.update(view[start : start + (1 << 20)])
    assert h.hexdigest() == hashlib.new(algorithm, data).hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_accepts_bytes_bytearray_and_memoryview(algorithm: str) -> None:
    h = ResumableHash(algorithm)
    h.update(b"abc")
    h.update(bytearray(b"def"))
    h.update(memoryview(b"xxghix")[2:5])
    assert h.hexdigest() == hashlib.new(algorithm, b"abcdefghi").hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", range(15))
def test_state_saved_and_restored_mid_stream(algorithm: str, seed: int) -> None:
    """Each chunk is hashed by a fresh object built from the previous chunk's saved state,
    as when every PATCH of an upload lands on another replica."""
    rng = random.Random(1000 + seed)
    size = rng.randint(0, 300_000)
    data = _data(rng, size)
    cuts = _splits(rng, size, rng.randint(1, 10))
    state = ResumableHash(algorithm).state
    for a, b in itertools.pairwise(cuts):
        # What a database column hands back: a new bytes object, no shared buffer.
        stored = bytes(bytearray(state))
        h = ResumableHash(algorithm, stored)
        h.update(data[a:b])
        state = h.state
        assert isinstance(state, bytes)
        assert len(state) == STATE_SIZES[algorithm]
    assert ResumableHash(algorithm, state).hexdigest() == hashlib.new(algorithm, data).hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_state_is_a_snapshot(algorithm: str) -> None:
    h = ResumableHash(algorithm)
    h.update(b"prefix-")
    saved = h.state
    h.update(b"more")
    assert saved != h.state  # the saved bytes did not follow the live hash
    a = ResumableHash(algorithm, saved)
    b = ResumableHash(algorithm, saved)
    a.update(b"one")
    b.update(b"two")
    assert a.hexdigest() == hashlib.new(algorithm, b"prefix-one").hexdigest()
    assert b.hexdigest() == hashlib.new(algorithm, b"prefix-two").hexdigest()
    assert h.hexdigest() == hashlib.new(algorithm, b"prefix-more").hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hexdigest_does_not_finalize(algorithm: str) -> None:
    h = ResumableHash(algorithm)
    expected = hashlib.new(algorithm)
    for part in (b"a" * 100, b"b" * 64, b"", b"c" * 1000):
        h.update(part)
        expected.update(part)
        before = h.state
        assert h.hexdigest() == expected.hexdigest()
        assert h.hexdigest() == expected.hexdigest()  # twice: same answer
        assert h.state == before  # and the running state is untouched
    assert h.hexdigest() == hashlib.new(algorithm, b"a" * 100 + b"b" * 64 + b"c" * 1000).hexdigest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_state_size(algorithm: str) -> None:
    assert len(ResumableHash(algorithm).state) == STATE_SIZES[algorithm]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("delta", [-1, 1, -STATE_SIZES["sha256"]])
def test_wrong_size_state_is_rejected(algorithm: str, delta: int) -> None:
    good = ResumableHash(algorithm).state
    size = max(len(good) + delta, 0)
    with pytest.raises(ValueError, match="wrong size"):
        ResumableHash(algorithm, (good + b"\x00" * 8)[:size])


def test_state_of_the_other_algorithm_is_rejected() -> None:
    with pytest.raises(ValueError):
        ResumableHash("sha512", ResumableHash("sha256").state)
    with pytest.raises(ValueError):
        ResumableHash("sha256", ResumableHash("sha512").state)


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha384", "SHA256", ""])
def test_unsupported_algorithm(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        ResumableHash(algorithm)


def test_algorithm_attribute() -> None:
    assert ResumableHash().algorithm == "sha256"
    assert ResumableHash("sha512").algorithm == "sha512"
