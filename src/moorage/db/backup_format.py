"""The backup file (``docs/backup.md``): a zip archive of one JSON-lines member per table and a
``manifest.json``, optionally wrapped, whole, in a passphrase encryption.

The archive is the standard library's ``zipfile`` (written as a stream, so an encrypted backup
never touches the disk in the clear); values are JSON, with ``bytes`` as base64 and times as
RFC 3339 UTC. The manifest names the format version, the Alembic revision, the source dialect,
the moorage version, the creation time, and per member its row count and SHA-256.

Encryption is hand-written framing around well-kept primitives (cryptography's Scrypt and
AES-GCM), because cryptography has no streaming AEAD and Fernet wants the whole message in
memory: the STREAM construction (as in age and Tink): a header (magic, the Scrypt parameters, a
random salt and nonce prefix), then segments of at most 1 MiB, each sealed with AES-256-GCM under
a nonce of prefix ‖ counter ‖ last-flag, the header as associated data. A reordered, dropped,
added or truncated segment fails to open; a wrong passphrase fails on the first one.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import hmac
import io
import json
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Column, Date, DateTime, Interval, LargeBinary, Numeric, Time, Uuid
from sqlalchemy.types import Float

from moorage.errors import MoorageError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SECRET_KEY_MEMBER = "secret.key"
TABLES_FOLDER = "tables/"


class BackupInvalid(MoorageError):
    """A backup file that cannot be restored: damaged, tampered with, of another format or
    revision, or the wrong passphrase. Nothing has been written when it is raised."""

    code, status, default_message = "BACKUP_INVALID", 400, "the backup file cannot be restored"


class BackupRefused(MoorageError):
    """A backup or restore this database or data folder does not allow (a non-empty target, a
    database at another revision, a missing or different secret key)."""

    code, status, default_message = "BACKUP_REFUSED", 409, "backup or restore refused"


# ---- values ----------------------------------------------------------------------------------


def encode_value(value: Any) -> Any:
    """One column value as JSON: bytes as base64, times as ISO 8601 in UTC (SQLite hands back
    naive UTC times), decimals and UUIDs as strings."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def decode_value(column: Column[Any], value: Any) -> Any:
    """The inverse of ``encode_value`` for ``column``'s type."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, LargeBinary):
        return base64.b64decode(value, validate=True)
    if isinstance(kind, DateTime):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if kind.timezone else parsed.replace(tzinfo=None)
    if isinstance(kind, Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, Time):
        return dt.time.fromisoformat(value)
    if isinstance(kind, Interval):
        return dt.timedelta(seconds=value)
    if isinstance(kind, Numeric) and not isinstance(kind, Float) and kind.asdecimal:
        return decimal.Decimal(value)
    if isinstance(kind, Uuid):
        return uuid.UUID(value)
    return value


def row_line(row: dict[str, Any]) -> bytes:
    """One row as one canonical JSON line (sorted keys, no spaces): equal rows, equal bytes."""
    encoded = {name: encode_value(v) for name, v in row.items()}
    return json.dumps(encoded, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def secret_key_id(key: bytes) -> str:
    """A fingerprint of the data folder's secret key that does not reveal it (HMAC under the
    key), so a restore can tell whether the local key opens the backup's sealed values."""
    return hmac.new(key.strip(), b"moorage backup: secret key id", hashlib.sha256).hexdigest()[:32]


# ---- the manifest ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableEntry:
    name: str
    member: str
    rows: int
    sha256: str
    columns: list[str]


@dataclass(slots=True)
class Manifest:
    revision: str
    dialect: str
    moorage_version: str
    created_at: str
    tables: list[TableEntry] = field(default_factory=list)
    secret_key_id: str | None = None
    secret_key_sha256: str | None = None  # the member's hash, when the key is included
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        doc = {
            "format": "moorage-backup",
            "formatVersion": self.format_version,
            "revision": self.revision,
            "dialect": self.dialect,
            "moorageVersion": self.moorage_version,
            "createdAt": self.created_at,
            "secretKeyId": self.secret_key_id,
            "secretKeyIncluded": self.secret_key_sha256 is not None,
            "secretKeySha256": self.secret_key_sha256,
            "tables": [
                {
                    "name": t.name,
                    "member": t.member,
                    "rows": t.rows,
                    "sha256": t.sha256,
                    "columns": t.columns,
                }
                for t in self.tables
            ],
        }
        return json.dumps(doc, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            doc = json.loads(raw)
            if doc.get("format") != "moorage-backup":
                raise BackupInvalid("not a moorage backup (its manifest names another format)")
            version = int(doc["formatVersion"])
            if version != FORMAT_VERSION:
                raise BackupInvalid(
                    f"backup format version {version}; this moorage reads version "
                    f"{FORMAT_VERSION}: restore it with the moorage version that made it "
                    f"({doc.get('moorageVersion', 'unknown')})"
                )
            tables = [
                TableEntry(
                    name=str(t["name"]),
                    member=str(t["member"]),
                    rows=int(t["rows"]),
                    sha256=str(t["sha256"]),
                    columns=[str(c) for c in t["columns"]],
                )
                for t in doc["tables"]
            ]
            return cls(
                revision=str(doc["revision"]),
                dialect=str(doc["dialect"]),
                moorage_version=str(doc["moorageVersion"]),
                created_at=str(doc["createdAt"]),
                tables=tables,
                secret_key_id=doc.get("secretKeyId"),
                secret_key_sha256=doc.get("secretKeySha256"),
                format_version=version,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupInvalid(f"the backup's manifest is unreadable: {exc}") from exc


class HashingWriter(io.RawIOBase):
    """Counts and hashes what passes through to ``inner`` (a zip member being written)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.sha256 = hashlib.sha256()
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sha256.update(chunk)
        self.lines += chunk.count(b"\n")
        self.inner.write(chunk)
        return len(chunk)


# ---- encryption ------------------------------------------------------------------------------

MAGIC = b"MOORBKE1"  # an encrypted moorage backup, framing version 1 (a zip starts "PK")
SEGMENT = 1 << 20
_SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P = 17, 8, 1  # 128 MiB, about a second
_HEADER = struct.Struct(">8sBBB16s7s")  # magic, log2(n), r, p, salt, nonce prefix
_FRAME = struct.Struct(">BI")  # last flag, ciphertext length


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _derive(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int) -> AESGCM:
    if not passphrase:
        raise BackupRefused("the passphrase is empty")
    key = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase)
    return AESGCM(key)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class EncryptingWriter(io.RawIOBase):
    """A write-only stream that seals what it is given into ``out`` (not seekable: zipfile
    writes data descriptors). ``close`` seals the last segment; nothing is readable before."""

    def __init__(self, out: IO[bytes], passphrase: bytes) -> None:
        salt, prefix = os.urandom(16), os.urandom(7)
        self._header = _HEADER.pack(MAGIC, _SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P, salt, prefix)
        self._aead = _derive(passphrase, salt, _SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P)
        self._prefix = prefix
        self._out = out
        self._buffer = bytearray()
        self._counter = 0
        self._written = 0
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._buffer += chunk
        self._written += len(chunk)
        while len(self._buffer) > SEGMENT:  # keep at least one byte: the last segment is sealed
            self._seal(bytes(self._buffer[:SEGMENT]), last=False)
            del self._buffer[:SEGMENT]
        return len(chunk)

    def _seal(self, plain: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), plain, self._header)
        self._out.write(_FRAME.pack(1 if last else 0, len(sealed)))
        self._out.write(sealed)
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
        super().close()


def decrypt_segments(source: IO[bytes], passphrase: bytes) -> Iterator[bytes]:
    """The plaintext of an encrypted backup, a segment at a time, every segment opened (so
    authenticated) before it is yielded; a wrong passphrase, a damaged or truncated file is
    ``BackupInvalid``."""
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise BackupInvalid("the encrypted backup is truncated (no complete header)")
    magic, log2_n, r, p, salt, prefix = _HEADER.unpack(header)
    if magic != MAGIC or not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise BackupInvalid("not an encrypted moorage backup (unknown header)")
    aead = _derive(passphrase, salt, log2_n, r, p)
    counter = 0
    while True:
        frame = source.read(_FRAME.size)
        if len(frame) != _FRAME.size:
            raise BackupInvalid("the encrypted backup is truncated")
        flag, length = _FRAME.unpack(frame)
        if flag not in (0, 1) or length > SEGMENT + 16:
            raise BackupInvalid("the encrypted backup is damaged (bad segment frame)")
        sealed = source.read(length)
        if len(sealed) != length:
            raise BackupInvalid("the encrypted backup is truncated")
        try:
            plain = aead.decrypt(_nonce(prefix, counter, flag == 1), sealed, header)
        except InvalidTag as exc:
            what = "wrong passphrase, or the file is damaged" if counter == 0 else "damaged"
            raise BackupInvalid(f"the encrypted backup cannot be opened: {what}") from exc
        yield plain
        counter += 1
        if flag == 1:
            if source.read(1):
                raise BackupInvalid("the encrypted backup has data after its last segment")
            return
