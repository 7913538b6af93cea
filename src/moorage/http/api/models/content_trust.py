"""The answer of ``POST /api/v0/repositories/{ns}/{repo}/contentTrust/migrate`` (Moorage's
own: DTR never moved Notary signatures anywhere): which tags got a referrer recording their
Notary signature (``trust.signatures.dct_records``) and which were skipped, and why."""

from __future__ import annotations

from pydantic import Field

from moorage.http.api.models.wire import WireModel
from moorage.trust.signatures.dct_records import MIGRATED, Outcome


class MigratedTag(WireModel):
    """A tag whose Notary signature by ``role`` of ``gun`` now also lives in the referrer
    ``referrer`` (an OCI manifest digest) of the manifest ``digest``."""

    tag: str
    digest: str
    gun: str
    role: str
    referrer: str


class SkippedTag(WireModel):
    """A tag (and, when a role lists it, the GUN and role) left as it was: ``reason``
    noTarget (no Notary role lists the tag), digestMismatch (the role signs another manifest
    than the one the tag names now), alreadyMigrated (the record exists: ``referrer``) or
    notVerified (the stored chain does not verify now: expired, for instance)."""

    tag: str
    digest: str
    reason: str
    message: str
    gun: str
    role: str
    referrer: str


class ContentTrustMigration(WireModel):
    repository: str
    migrated: list[MigratedTag]
    skipped: list[SkippedTag]
    migrated_count: int = Field(serialization_alias="migratedCount")

    @classmethod
    def of(cls, repository: str, outcomes: list[Outcome]) -> ContentTrustMigration:
        done = [
            MigratedTag(tag=o.tag, digest=o.digest, gun=o.gun, role=o.role, referrer=o.referrer)
            for o in outcomes
            if o.status == MIGRATED
        ]
        skipped = [
            SkippedTag(
                tag=o.tag,
                digest=o.digest,
                reason=o.reason,
                message=o.message,
                gun=o.gun,
                role=o.role,
                referrer=o.referrer,
            )
            for o in outcomes
            if o.status != MIGRATED
        ]
        return cls(repository=repository, migrated=done, skipped=skipped, migrated_count=len(done))
