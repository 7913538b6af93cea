"""What this process verified recently: a secret checked once is not checked again for a while.

Clients send Basic credentials (or the same bearer token) on every request, and the checks are
slow on purpose (Argon2, an LDAP bind, an RSA signature). ``VerifiedCache`` remembers a verified
secret, with what was learnt (claims, or just ``True``), for a TTL. Its keys are HMAC-SHA256 of
the parts (e.g. the password hash and the password) under a random key made per instance, so no
secret sits in memory as a key and nothing in it can be checked offline. Bounded: when full,
the oldest entries go first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class VerifiedCache(Generic[V]):
    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[float, V]] = {}

    def _digest(self, parts: tuple[str, ...]) -> bytes:
        # Length-prefixed, so ("a", "b:c") and ("a:b", "c") are different keys.
        joined = "".join(f"{len(part)}:{part}" for part in parts)
        return hmac.new(self._key, joined.encode(), hashlib.sha256).digest()

    def get(self, *parts: str) -> V | None:
        """The value remembered for ``parts``, or None (never seen, or expired)."""
        key = self._digest(parts)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        return value

    def put(self, *parts: str, value: V, expires_at: float | None = None) -> None:
        """Remember ``value`` for ``parts`` for the TTL, or until ``expires_at`` (the clock's
        time) when that is sooner."""
        expires = self._clock() + self.ttl
        if expires_at is not None:
            expires = min(expires, expires_at)
        key = self._digest(parts)
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (expires, value)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
