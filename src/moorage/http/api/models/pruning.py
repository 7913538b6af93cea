"""DTR's pruning policies and the tags a dry run would prune."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel
from moorage.registry import pruning


class PruningRule(WireModel):
    field: str
    operator: str
    values: list[str]


class PruningPolicy(WireModel):
    id: str
    enabled: bool
    rules: list[PruningRule]

    @classmethod
    def of(cls, policy: pruning.Policy) -> PruningPolicy:
        return cls(
            id=policy.id,
            enabled=policy.enabled,
            rules=[
                PruningRule(field=r.field, operator=r.operator, values=list(r.values))
                for r in policy.rules
            ],
        )


class PrunableTag(WireModel):
    """A tag a pruning dry run would remove."""

    name: str
    updated_at: Timestamp = Field(serialization_alias="updatedAt")

    @classmethod
    def of(cls, found: tuple[str, dt.datetime]) -> PrunableTag:
        return cls(name=found[0], updated_at=found[1])
