"""The metadata the server signs: a snapshot (when the client left it to the server) and every
timestamp, as Notary's server makes them (the previous one's version plus one, fresh expiry,
meta with the SHA-256 and SHA-512 and length of the bytes clients will download).

Serialized as Notary does: ``{"signed": <canonical JSON>, "signatures": [...]}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from moorage.trust import canonical
from moorage.trust.keys import PrivateKey

TIMESTAMP_LIFETIME = dt.timedelta(days=14)  # notary.NotaryTimestampExpiry
SNAPSHOT_LIFETIME = dt.timedelta(days=3 * 365)  # notary.NotarySnapshotExpiry


def hashes_of(raw: bytes) -> dict[str, bytes]:
    return {"sha256": hashlib.sha256(raw).digest(), "sha512": hashlib.sha512(raw).digest()}


def _file_meta(raw: bytes) -> dict[str, Any]:
    return {
        "hashes": {alg: base64.b64encode(d).decode() for alg, d in hashes_of(raw).items()},
        "length": len(raw),
    }


def _expires(now: dt.datetime, lifetime: dt.timedelta) -> str:
    return (now + lifetime).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _previous(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        signed = doc["signed"]
        return (
            signed if isinstance(signed, dict) and isinstance(signed.get("version"), int) else None
        )
    except (ValueError, KeyError, TypeError):
        return None


def envelope(key: PrivateKey, signed: dict[str, Any]) -> bytes:
    body = canonical.encode(signed)
    sig = key.sign(body)
    return (
        b'{"signed":'
        + body
        + b',"signatures":'
        + json.dumps([sig], separators=(",", ":")).encode()
        + b"}"
    )


def snapshot(
    key: PrivateKey, previous: bytes | None, roles: Mapping[str, bytes], now: dt.datetime
) -> tuple[bytes, int]:
    """A snapshot: the previous one's entries, with ``roles`` (root and the targets roles of
    the update) at their new bytes."""
    prev = _previous(previous)
    meta: dict[str, Any] = dict(prev.get("meta") or {}) if prev else {}
    for role, raw in roles.items():
        meta[role] = _file_meta(raw)
    version = (prev["version"] if prev else 0) + 1
    signed = {
        "_type": "Snapshot",
        "expires": _expires(now, SNAPSHOT_LIFETIME),
        "meta": meta,
        "version": version,
    }
    return envelope(key, signed), version


def timestamp(
    key: PrivateKey, previous: bytes | None, snapshot_bytes: bytes, now: dt.datetime
) -> tuple[bytes, int]:
    prev = _previous(previous)
    version = (prev["version"] if prev else 0) + 1
    signed = {
        "_type": "Timestamp",
        "expires": _expires(now, TIMESTAMP_LIFETIME),
        "meta": {"snapshot": _file_meta(snapshot_bytes)},
        "version": version,
    }
    return envelope(key, signed), version
