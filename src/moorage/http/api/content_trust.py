"""``POST /api/v0/repositories/{ns}/{repo}/contentTrust/migrate``: attach to every tag whose
Docker Content Trust (Notary) signature matches the manifest it names a referrer recording
that signature chain (``trust.signatures.dct_records``; the format in docs/signatures.md).

Only administrators of the repository run it, as for its ``signatureTrust``: a repository the
caller may not see answers 404 as a missing one; below admin, 403. Running it again writes
nothing new (the records it would write exist: ``alreadyMigrated``). The request gate refuses
it while the registry is read-only, as every unsafe method.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from moorage.auth.levels import Level
from moorage.db.engine import utcnow
from moorage.errors import Denied
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.content_trust import ContentTrustMigration
from moorage.http.services import services
from moorage.services.access import repository_level
from moorage.trust.signatures import dct_records

router = APIRouter(tags=["signatures"])


@router.post("/repositories/{namespace}/{repo}/contentTrust/migrate")
async def migrate_content_trust(
    namespace: str, repo: str, request: Request, db: Db, principal: SignedIn
) -> ContentTrustMigration:
    """Migrate the repository's Docker Content Trust signatures to OCI referrers."""
    name = f"{namespace}/{repo}"
    level, details = await repository_level(db, principal, name)
    if level < Level.ADMIN:
        raise Denied(f"only administrators of {name} may migrate its content trust")
    outcomes = await dct_records.migrate(
        services(request).registry, name, details.id, actor=principal.name, now=utcnow()
    )
    return ContentTrustMigration.of(name, outcomes)
