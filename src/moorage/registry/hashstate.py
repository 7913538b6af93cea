"""Resumable SHA-256 / SHA-512 whose state can be saved in the database.

Written by hand because no library does it on OpenSSL 3: ``hashlib`` objects
cannot be exported and the ``rehash`` package refuses OpenSSL 3. OpenSSL's own
``SHA256_CTX`` / ``SHA512_CTX`` are plain structs (112 / 216 bytes), reached here
through ``ctypes``; ``SHA*_Update`` runs in C with the GIL released, at hashlib's
speed. The saved state is only ever read back by the same library on the same
architecture (every replica runs the same image).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

_SIZES = {"sha256": (112, 32), "sha512": (216, 64)}


@functools.cache
def _libcrypto() -> Any:
    name = ctypes.util.find_library("crypto")
    if name is None:
        raise RuntimeError("libcrypto (OpenSSL) not found; install libssl3")
    lib = ctypes.CDLL(name)
    for alg in ("SHA256", "SHA512"):
        for suffix, argtypes in (
            ("_Init", [ctypes.c_void_p]),
            ("_Update", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]),
            ("_Final", [ctypes.c_void_p, ctypes.c_void_p]),
        ):
            fn = getattr(lib, alg + suffix)
            fn.argtypes = argtypes
            fn.restype = ctypes.c_int
    return lib


class ResumableHash:
    """A SHA-2 hash whose running state is a few hundred bytes of ``state``."""

    __slots__ = ("_ctx", "_digest_size", "_final", "_update", "algorithm")

    def __init__(self, algorithm: str = "sha256", state: bytes | None = None) -> None:
        if algorithm not in _SIZES:
            raise ValueError(f"unsupported hash algorithm {algorithm!r}")
        ctx_size, self._digest_size = _SIZES[algorithm]
        lib = _libcrypto()
        prefix = algorithm.upper()
        self.algorithm = algorithm
        self._update = getattr(lib, prefix + "_Update")
        self._final = getattr(lib, prefix + "_Final")
        if state is None:
            self._ctx = ctypes.create_string_buffer(ctx_size)
            if getattr(lib, prefix + "_Init")(self._ctx) != 1:
                raise RuntimeError(f"{prefix}_Init failed")
        else:
            if len(state) != ctx_size:
                raise ValueError("saved hash state has the wrong size")
            self._ctx = ctypes.create_string_buffer(state, ctx_size)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if isinstance(data, bytes):
            self._update(self._ctx, data, len(data))
            return
        # Writable buffers are hashed in place, without a copy; read-only views are copied.
        view = memoryview(data)
        if view.readonly:
            self._update(self._ctx, view.tobytes(), view.nbytes)
            return
        self._update(self._ctx, (ctypes.c_char * view.nbytes).from_buffer(view), view.nbytes)

    @property
    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        """The digest of what was hashed so far; the hash itself is left unchanged."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, len(self._ctx))
        out = ctypes.create_string_buffer(self._digest_size)
        if self._final(out, ctx) != 1:
            raise RuntimeError("hash finalization failed")
        return out.raw.hex()
