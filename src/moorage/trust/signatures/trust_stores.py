"""The signature trust store: cosign public keys and Notation root certificates registered by
an administrator for one repository or a whole namespace (``db/signature_tables.py``).

A repository trusts its own entries and its namespace's. What a PEM holds decides its kind: a
``PUBLIC KEY`` is a cosign key (its fingerprint the key id, SHA-256 of the DER
SubjectPublicKeyInfo), a ``CERTIFICATE`` a Notation root (its fingerprint the SHA-256 of the
DER certificate, as Notation's thumbprints). Nothing that does not parse is stored: a bad PEM
is ``TrustMaterialInvalid`` (400).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from moorage.auth import accounts
from moorage.db import tables as t
from moorage.db.engine import Connection, Database
from moorage.db.signature_tables import MAX_SUBJECT, signature_trust
from moorage.errors import Conflict, InvalidInput, NotFound
from moorage.trust.signatures import cosign, notation

PUBLIC_KEY, CERTIFICATE = "publicKey", "certificate"
KINDS = (PUBLIC_KEY, CERTIFICATE)
REPOSITORY, NAMESPACE = "repository", "namespace"
MAX_PEM = 16 * 1024


class TrustMaterialInvalid(InvalidInput):
    code, default_message = "INVALID_SIGNATURE_TRUST", "not a usable public key or certificate"


class TrustEntryExists(Conflict):
    code, default_message = "SIGNATURE_TRUST_EXISTS", "this key or certificate is already trusted"


class NoSuchTrustEntry(NotFound):
    code, default_message = "NO_SUCH_SIGNATURE_TRUST", "no such trusted key or certificate"


@dataclass(frozen=True, slots=True)
class Scope:
    """Who the entries belong to: a repository (by id) or a namespace (an account, by id)."""

    kind: str  # REPOSITORY | NAMESPACE
    name: str
    id: int

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    fingerprint: str
    subject: str
    pem: str
    scope: str  # REPOSITORY | NAMESPACE
    created_at: dt.datetime
    created_by: str | None


@dataclass(frozen=True, slots=True)
class Material:
    """What a repository trusts: cosign keys and Notation roots, its own and its namespace's."""

    keys: tuple[cosign.TrustedKey, ...]
    roots: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class _Parsed:
    kind: str
    fingerprint: str
    subject: str
    pem: str


def parse(pem: str, kind: str | None = None) -> _Parsed:
    """The kind, fingerprint and subject of a PEM; ``TrustMaterialInvalid`` with the reason."""
    text = pem.strip()
    if len(text) > MAX_PEM:
        raise TrustMaterialInvalid(f"a PEM of at most {MAX_PEM} characters")
    found = CERTIFICATE if "-----BEGIN CERTIFICATE-----" in text else PUBLIC_KEY
    if kind is not None and kind != found:
        raise TrustMaterialInvalid(f"kind {kind} but the PEM holds a {found}")
    data = text.encode("ascii", "replace") + b"\n"
    try:
        if found == PUBLIC_KEY:
            key = cosign.load_public_key(data)
            normal = key.key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return _Parsed(PUBLIC_KEY, key.key_id, cosign.describe(key.key), normal.decode())
        cert = notation.load_certificate(data)
    except ValueError as exc:
        raise TrustMaterialInvalid(str(exc)) from exc
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return _Parsed(CERTIFICATE, fingerprint, notation.subject_of(cert)[:MAX_SUBJECT], cert_pem)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _scope_columns(scope: Scope) -> dict[str, object]:
    if scope.kind == REPOSITORY:
        return {"repository_id": scope.id, "namespace_id": None}
    return {"repository_id": None, "namespace_id": scope.id}


def _entry(row: object) -> Entry:
    return Entry(
        kind=row.kind,  # type: ignore[attr-defined]
        fingerprint=row.fingerprint,  # type: ignore[attr-defined]
        subject=row.subject,  # type: ignore[attr-defined]
        pem=row.pem,  # type: ignore[attr-defined]
        scope=REPOSITORY if row.repository_id is not None else NAMESPACE,  # type: ignore[attr-defined]
        created_at=_utc(row.created_at),  # type: ignore[attr-defined]
        created_by=row.created_by,  # type: ignore[attr-defined]
    )


async def namespace_scope(db: Database, namespace: str) -> Scope | None:
    """The namespace (an account) as a scope; None when no account has that name."""
    async with db.read() as conn:
        account = await accounts.find(conn, namespace)
    return None if account is None else Scope(NAMESPACE, namespace, account.id)


async def add(
    db: Database,
    scope: Scope,
    pem: str,
    *,
    kind: str | None = None,
    by: str | None,
    now: dt.datetime,
) -> Entry:
    parsed = parse(pem, kind)
    values = {
        "scope": scope.key,
        **_scope_columns(scope),
        "kind": parsed.kind,
        "fingerprint": parsed.fingerprint,
        "subject": parsed.subject,
        "pem": parsed.pem,
        "created_at": now,
        "created_by": by,
    }
    try:
        async with db.write() as conn:
            await conn.execute(insert(signature_trust).values(**values))
    except IntegrityError as exc:
        raise TrustEntryExists(detail={"fingerprint": parsed.fingerprint}) from exc
    return Entry(parsed.kind, parsed.fingerprint, parsed.subject, parsed.pem, scope.kind, now, by)


async def entries(db: Database, scope: Scope) -> list[Entry]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(signature_trust)
            .where(signature_trust.c.scope == scope.key)
            .order_by(signature_trust.c.id)
        )
        return [_entry(r) for r in rows]


async def remove(db: Database, scope: Scope, fingerprint: str) -> None:
    async with db.write() as conn:
        done = await conn.execute(
            delete(signature_trust).where(
                signature_trust.c.scope == scope.key,
                signature_trust.c.fingerprint == fingerprint.lower(),
            )
        )
    if not done.rowcount:
        raise NoSuchTrustEntry(detail={"fingerprint": fingerprint[:64]})


async def material(conn: Connection, repository_id: int, namespace: str) -> Material:
    """Everything ``repository_id`` trusts, its own entries and its namespace's."""
    owner = select(t.accounts.c.id).where(t.accounts.c.name == namespace).scalar_subquery()
    rows = await conn.execute(
        select(signature_trust.c.kind, signature_trust.c.pem).where(
            or_(
                signature_trust.c.repository_id == repository_id,
                signature_trust.c.namespace_id == owner,
            )
        )
    )
    keys: list[cosign.TrustedKey] = []
    roots: list[x509.Certificate] = []
    for row in rows:
        data = row.pem.encode()
        try:
            if row.kind == PUBLIC_KEY:
                keys.append(cosign.load_public_key(data))
            else:
                roots.append(notation.load_certificate(data))
        except ValueError:
            continue  # parsed when stored; unusable now (a library's stricter rules): skipped
    return Material(tuple(keys), tuple(roots))
