"""Moorage's signature objects (no DTR counterpart: DTR knew only Notary): a tag's
``signatures`` (one per signature found, ``trust.signatures.view``) and the entries of a
repository's or namespace's ``signatureTrust`` (``trust.signatures.trust_stores``)."""

from __future__ import annotations

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel
from moorage.trust.signatures.trust_stores import Entry
from moorage.trust.signatures.verdict import Verdict


class Signature(WireModel):
    """One signature of a manifest: ``kind`` notary, notary-referrer (a Docker Content Trust
    chain moved to a referrer, docs/signatures.md), cosign or notation; ``signers`` the Notary
    roles, cosign key ids (SHA-256 of the key's DER SubjectPublicKeyInfo) or Notation
    certificate subjects; ``reason`` why it is not verified (empty when it is); ``source``
    where it was found (a signature manifest's digest, or the GUN and role)."""

    kind: str
    signers: list[str]
    verified: bool
    reason: str
    source: str

    @staticmethod
    def fields(verdict: Verdict) -> dict[str, object]:
        return {
            "kind": verdict.kind,
            "signers": list(verdict.signers),
            "verified": verdict.verified,
            "reason": verdict.reason,
            "source": verdict.source,
        }


class SignatureTrust(WireModel):
    """A trusted cosign public key (``kind`` publicKey, ``fingerprint`` its key id) or Notation
    root certificate (``certificate``, the SHA-256 of its DER); ``scope`` repository or
    namespace (a repository's list shows its namespace's entries too)."""

    kind: str
    fingerprint: str
    subject: str
    pem: str
    scope: str
    created_at: Timestamp = Field(serialization_alias="createdAt")
    created_by: str = Field(serialization_alias="createdBy")

    @classmethod
    def of(cls, entry: Entry) -> SignatureTrust:
        return cls(
            kind=entry.kind,
            fingerprint=entry.fingerprint,
            subject=entry.subject,
            pem=entry.pem,
            scope=entry.scope,
            created_at=entry.created_at,
            created_by=entry.created_by or "",
        )
