"""``/enzi/v0/accounts/{accountNameOrID}/publicKeys``: users' signing keys (content trust).

As eNZi: any signed-in user lists an account's keys; adding, relabelling and removing them is
for system administrators, the user itself, or an owner of the organization. A key's ID is
the SHA-256 (hex) of its DER bytes; the key must be a PEM-encoded public key."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from moorage.auth import accounts
from moorage.errors import InvalidParameters
from moorage.http.api.common import Db, SignedIn
from moorage.http.api.models.accounts import (
    Account,
    AccountPublicKey,
    AccountPublicKeys,
    Certificate,
    MemberOrg,
    MemberOrgs,
)
from moorage.services import accounts as service

router = APIRouter(tags=["public_keys"])


class CertificateForm(BaseModel):
    """eNZi's ``forms.Certificate``."""

    model_config = ConfigDict(extra="forbid")

    label: str
    cert: str


class NewPublicKey(BaseModel):
    """eNZi's ``forms.CreateAccountPublicKey``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    public_key: str = Field(alias="publicKey")
    label: str = ""
    certificates: list[CertificateForm] = []


class PublicKeyChanges(BaseModel):
    """eNZi's ``forms.UpdateAccountPublicKey``."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    certificates: list[CertificateForm] | None = None


def _wire(key: service.PublicKey) -> AccountPublicKey:
    return AccountPublicKey(
        id=key.key_id,
        account_id=str(key.account_id),
        public_key=key.public_key,
        label=key.label,
        certificates=[Certificate(label=c["label"], cert=c["cert"]) for c in key.certificates],
    )


@router.get("/accounts/{accountNameOrID}/publicKeys")
async def list_public_keys(
    accountNameOrID: str,
    db: Db,
    principal: SignedIn,
    start: str = "",
    limit: int = Query(10, ge=1, le=1000),
) -> AccountPublicKeys:
    account = await service.resolve_account(db, accountNameOrID)
    keys, next_start = await service.list_public_keys(db, account, start, limit)
    return AccountPublicKeys(
        account_public_keys=[_wire(k) for k in keys], next_page_start=next_start
    )


@router.post("/accounts/{accountNameOrID}/publicKeys", status_code=201)
async def add_public_key(
    accountNameOrID: str,
    body: NewPublicKey,
    db: Db,
    principal: SignedIn,
) -> AccountPublicKey:
    account = await service.resolve_account(db, accountNameOrID)
    await service.require_account_manager(db, principal, account)
    key = await service.add_public_key(
        db,
        account,
        body.public_key,
        body.label,
        [c.model_dump() for c in body.certificates],
    )
    return _wire(key)


@router.patch("/accounts/{accountNameOrID}/publicKeys/{keyID}")
async def change_public_key(
    accountNameOrID: str,
    keyID: str,
    body: PublicKeyChanges,
    db: Db,
    principal: SignedIn,
) -> AccountPublicKey:
    account = await service.resolve_account(db, accountNameOrID)
    await service.require_account_manager(db, principal, account)
    certs = None if body.certificates is None else [c.model_dump() for c in body.certificates]
    return _wire(await service.change_public_key(db, account, keyID, body.label, certs))


@router.delete("/accounts/{accountNameOrID}/publicKeys/{keyID}", status_code=204)
async def remove_public_key(
    accountNameOrID: str,
    keyID: str,
    db: Db,
    principal: SignedIn,
) -> Response:
    account = await service.resolve_account(db, accountNameOrID)
    await service.require_account_manager(db, principal, account)
    await service.remove_public_key(db, account, keyID)
    return Response(status_code=204)


@router.get("/accounts/{userNameOrID}/organizations")
async def list_member_orgs(
    userNameOrID: str,
    db: Db,
    principal: SignedIn,
    start: str = "",
    limit: int = Query(10, ge=1, le=1000),
) -> MemberOrgs:
    """eNZi's organizations of a user, in ascending organization ID from ``start``: for the
    user and system administrators (kept beside the keys: accounts.py is near its size)."""
    if start and (not start.isdigit() or len(start) > 12):
        raise InvalidParameters("start is an organization ID", detail={"start": start[:64]})
    user = await service.resolve_account(db, userNameOrID)
    orgs = sorted(await service.member_orgs(db, principal, user), key=lambda o: o[0].id)
    orgs = [o for o in orgs if o[0].id >= int(start or 0)]
    page, rest = orgs[:limit], orgs[limit:]
    wire = []
    for org, owner in page:
        members, teams = await accounts.org_counts(db, org.id)
        shown = Account.seen_by(org, principal)
        wire.append(
            MemberOrg(
                org=shown.model_copy(update={"members_count": members, "teams_count": teams}),
                is_admin=owner,
            )
        )
    return MemberOrgs(member_orgs=wire, next_page_start=str(rest[0][0].id) if rest else "")
