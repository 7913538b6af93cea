"""The one verified-secret cache (moorage.auth.verified_cache): TTL, bound, keyed digests."""

from __future__ import annotations

from moorage.auth.verified_cache import VerifiedCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_remembers_for_the_ttl_or_until_the_given_expiry() -> None:
    clock = Clock()
    cache: VerifiedCache[bool] = VerifiedCache(ttl=60, clock=clock)
    assert cache.get("hash", "secret") is None
    cache.put("hash", "secret", value=True)
    assert cache.get("hash", "secret") is True
    assert cache.get("hash", "other") is None and cache.get("other-hash", "secret") is None
    clock.now += 59
    assert cache.get("hash", "secret") is True
    clock.now += 2
    assert cache.get("hash", "secret") is None and len(cache) == 0
    cache.put("token", value=True, expires_at=clock.now + 5)  # sooner than the TTL
    clock.now += 6
    assert cache.get("token") is None


def test_parts_are_kept_apart_and_never_stored_in_clear() -> None:
    cache: VerifiedCache[str] = VerifiedCache(ttl=60)
    cache.put("a", "b\0c", value="one")
    assert cache.get("a", "b") is None and cache.get("a\0b", "c") is None
    keys = list(cache._entries)
    assert all(isinstance(k, bytes) and len(k) == 32 for k in keys)
    assert all(b"b\0c" not in k for k in keys)  # HMAC digests, not the secrets
    other: VerifiedCache[str] = VerifiedCache(ttl=60)
    other.put("a", "b\0c", value="one")
    assert list(other._entries) != keys  # a random key per instance


def test_bounded_the_oldest_go_first_and_clear() -> None:
    cache: VerifiedCache[int] = VerifiedCache(ttl=60, max_entries=3)
    for n in range(5):
        cache.put(str(n), value=n)
    assert len(cache) == 3
    assert [cache.get(str(n)) for n in range(5)] == [None, None, 2, 3, 4]
    cache.clear()
    assert len(cache) == 0 and cache.get("4") is None
