"""DTR's pruning policies (``responses.PruningPolicy``, its rules ``ruleengine.Rule``) and the
tags a dry run would prune (``responses.ThinTag``, plus Moorage's ``updatedAt``); the JSON Schema
of DTR's forms (``forms.CreatePruningPolicy``, ``forms.UpdatePruningPolicy``) for the OpenAPI
document, written out because the routes read the body by hand (DTR's error code for any bad
form) and a nested pydantic schema would carry ``$defs`` an OpenAPI operation cannot resolve."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel, rfc3339
from moorage.registry import pruning


class PruningRule(WireModel):
    field: str
    operator: str
    values: list[str]


class PruningPolicy(WireModel):
    id: str
    enabled: bool
    rules: list[PruningRule]
    repository: str  # namespace/name
    # RFC 3339 of the last run in which the policy pruned a tag; "" when it never has (DTR's
    # definition types it a plain string).
    last_pruned_at: str = Field(serialization_alias="lastPrunedAt")

    @classmethod
    def of(cls, policy: pruning.Policy, repository: str) -> PruningPolicy:
        return cls(
            id=policy.id,
            enabled=policy.enabled,
            rules=[
                PruningRule(field=r.field, operator=r.operator, values=list(r.values))
                for r in policy.rules
            ],
            repository=repository,
            last_pruned_at=rfc3339(policy.last_pruned_at) if policy.last_pruned_at else "",
        )


class ThinTag(WireModel):
    """A tag a pruning dry run would remove."""

    name: str
    digest: str
    updated_at: Timestamp = Field(serialization_alias="updatedAt")

    @classmethod
    def of(cls, tag: pruning.TagFacts) -> ThinTag:
        return cls(name=tag.name, digest=tag.digest, updated_at=tag.updated_at)


_RULE_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "field": {"type": "string", "example": "tag"},
        "operator": {"type": "string", "example": "sw"},
        "values": {"type": "array", "items": {"type": "string"}, "example": ["dev-"]},
    },
}
_UPDATE_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "enabled": {"type": "boolean"},
        "rules": {"type": "array", "items": _RULE_FORM},
    },
}
_CREATE_FORM: dict[str, Any] = {**_UPDATE_FORM, "required": ["rules", "enabled"]}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


CREATE_BODY = _body(_CREATE_FORM)
UPDATE_BODY = _body(_UPDATE_FORM)
TEST_BODY = _body(_CREATE_FORM, required=False)  # Moorage's: no body, the stored policies
REPLACE_BODY = _body({"type": "array", "items": _CREATE_FORM})
