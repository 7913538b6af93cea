"""eNZi's bulk account operations (``PATCH /enzi/v0/accounts``, ``forms.BulkOperations``).

Each operation names an account by name or id (``ref``) and runs as its single-account route
would for a system administrator (the only caller allowed): ``activate``, ``deactivate``,
``promote`` (a system administrator), ``demote``, ``delete``, and ``update`` with ``value`` an
``forms.UpdateAccount`` in JSON. An operation that fails does not stop the others: its result
carries eNZi's error object. UCP 3.1's Swagger names no operations, so these names are
Moorage's reading of UCP's user list actions.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from moorage.auth import accounts
from moorage.auth.levels import Principal
from moorage.db.engine import Database
from moorage.errors import InvalidInput, MoorageError
from moorage.http.api.models.enzi_configs import BulkError, BulkResult, BulkResults
from moorage.services.accounts import change_account
from moorage.services.enzi_members import resolve_account

MAX_OPERATIONS = 1000
_FLAGS: dict[str, dict[str, Any]] = {
    "activate": {"isActive": True},
    "deactivate": {"isActive": False},
    "promote": {"isAdmin": True},
    "demote": {"isAdmin": False},
}
_UPDATABLE = {"fullName", "isActive", "isAdmin"}


class BulkOperation(BaseModel):
    """eNZi's ``forms.BulkOperation``."""

    model_config = ConfigDict(extra="forbid")

    op: str
    ref: str = ""
    value: str = ""


class BulkOperations(BaseModel):
    """eNZi's ``forms.BulkOperations``."""

    model_config = ConfigDict(extra="forbid")

    operations: list[BulkOperation] = Field(max_length=MAX_OPERATIONS)


async def _one(db: Database, principal: Principal, operation: BulkOperation) -> None:
    if operation.op not in (*_FLAGS, "update", "delete"):
        raise InvalidInput(
            "op is one of activate, deactivate, promote, demote, update, delete",
            detail={"op": operation.op[:64]},
        )
    account = await resolve_account(db, operation.ref)
    if operation.op == "delete":
        if principal.account_id == account.id:
            raise InvalidInput("administrators cannot delete their own account")
        await accounts.remove(db, account.name)
        return
    if operation.op == "update":
        try:
            changes = json.loads(operation.value or "{}")
        except ValueError:
            changes = None
        if not isinstance(changes, dict) or set(changes) - _UPDATABLE:
            raise InvalidInput("value is a forms.UpdateAccount (fullName, isActive, isAdmin)")
        changes = {k: v for k, v in changes.items() if v is not None}
    else:
        changes = _FLAGS[operation.op]
    if account.is_org and set(changes) - {"fullName"}:
        raise InvalidInput("an organization is neither active nor an administrator")
    await change_account(db, principal, account.name, changes)


async def run_bulk(db: Database, principal: Principal, body: BulkOperations) -> BulkResults:
    results: list[BulkResult] = []
    for operation in body.operations:
        try:
            await _one(db, principal, operation)
        except MoorageError as exc:
            error = BulkError(
                code=exc.api_code or exc.code,
                message=exc.message,
                detail=exc.detail if exc.detail is not None else {},
            )
            results.append(
                BulkResult(op=operation.op, ref=operation.ref, success=False, error=error)
            )
        else:
            results.append(BulkResult(op=operation.op, ref=operation.ref, success=True))
    return BulkResults(results=results)
