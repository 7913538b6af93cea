"""Argon2id password hashing (argon2-cffi), run off the event loop."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the account does not exist, so timing does not reveal it.
    return _hasher().hash("moorage-dummy-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored, password)
