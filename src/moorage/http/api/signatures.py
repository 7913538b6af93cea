"""``/api/v0/repositories/{ns}/{repo}/signatureTrust`` and
``/api/v0/repositoryNamespaces/{ns}/signatureTrust``: the cosign public keys and Notation root
certificates a repository, or every repository of a namespace, trusts (Moorage's own: DTR had
only Notary).

Only administrators of the repository (or namespace) list, add or remove them: whoever could
add a key could make their own signatures count. A repository the caller may not see answers
404 as a missing one; below admin, 403. A body that is no PEM key or certificate is 400
``INVALID_SIGNATURE_TRUST`` in DTR's envelope; the same one twice, 409. ``DELETE`` names the
entry by ``fingerprint`` (a key id or a certificate's SHA-256).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth.levels import Level, Principal
from moorage.db.engine import Database, utcnow
from moorage.errors import Denied, NoSuchAccount
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.signatures import SignatureTrust
from moorage.services.access import namespace_level, repository_level
from moorage.trust.signatures import trust_stores
from moorage.trust.signatures.trust_stores import MAX_PEM, REPOSITORY, Scope

router = APIRouter(tags=["signatures"])

REPO = "/repositories/{namespace}/{repo}/signatureTrust"
NAMESPACE = "/repositoryNamespaces/{namespace}/signatureTrust"
Fingerprint = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[0-9a-fA-F]+$")]


class NewSignatureTrust(BaseModel):
    """A PEM public key (cosign) or certificate (a Notation root); ``kind``, when given, must
    be what the PEM holds."""

    model_config = ConfigDict(extra="forbid")

    pem: str = Field(min_length=1, max_length=MAX_PEM)
    kind: Literal["publicKey", "certificate"] | None = None


async def _repository(db: Database, principal: Principal, namespace: str, repo: str) -> Scope:
    name = f"{namespace}/{repo}"
    level, details = await repository_level(db, principal, name)
    if level < Level.ADMIN:
        raise Denied(f"only administrators of {name} may manage its signature trust")
    return Scope(REPOSITORY, name, details.id)


async def _namespace(db: Database, principal: Principal, namespace: str) -> Scope:
    scope = await trust_stores.namespace_scope(db, namespace)
    if scope is None:
        raise NoSuchAccount(detail={"name": namespace})
    if await namespace_level(db, principal, namespace) < Level.ADMIN:
        raise Denied(f"only administrators of {namespace} may manage its signature trust")
    return scope


@router.get(REPO)
async def list_repository_trust(
    namespace: str, repo: str, db: Db, principal: SignedIn
) -> list[SignatureTrust]:
    """The repository's own entries, then its namespace's (``scope`` tells which)."""
    scope = await _repository(db, principal, namespace, repo)
    found = await trust_stores.entries(db, scope)
    inherited = await trust_stores.namespace_scope(db, namespace)
    if inherited is not None:
        found += await trust_stores.entries(db, inherited)
    return [SignatureTrust.of(e) for e in found]


@router.post(REPO, status_code=201)
async def add_repository_trust(
    namespace: str, repo: str, body: NewSignatureTrust, db: Db, principal: SignedIn
) -> SignatureTrust:
    scope = await _repository(db, principal, namespace, repo)
    entry = await trust_stores.add(
        db, scope, body.pem, kind=body.kind, by=principal.name, now=utcnow()
    )
    return SignatureTrust.of(entry)


@router.delete(REPO, status_code=204)
async def remove_repository_trust(
    namespace: str, repo: str, fingerprint: Fingerprint, db: Db, principal: SignedIn
) -> Response:
    scope = await _repository(db, principal, namespace, repo)
    await trust_stores.remove(db, scope, fingerprint)
    return Response(status_code=204)


@router.get(NAMESPACE)
async def list_namespace_trust(namespace: str, db: Db, principal: SignedIn) -> list[SignatureTrust]:
    scope = await _namespace(db, principal, namespace)
    return [SignatureTrust.of(e) for e in await trust_stores.entries(db, scope)]


@router.post(NAMESPACE, status_code=201)
async def add_namespace_trust(
    namespace: str, body: NewSignatureTrust, db: Db, principal: SignedIn
) -> SignatureTrust:
    scope = await _namespace(db, principal, namespace)
    entry = await trust_stores.add(
        db, scope, body.pem, kind=body.kind, by=principal.name, now=utcnow()
    )
    return SignatureTrust.of(entry)


@router.delete(NAMESPACE, status_code=204)
async def remove_namespace_trust(
    namespace: str, fingerprint: Fingerprint, db: Db, principal: SignedIn
) -> Response:
    scope = await _namespace(db, principal, namespace)
    await trust_stores.remove(db, scope, fingerprint)
    return Response(status_code=204)
