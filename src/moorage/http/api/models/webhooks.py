"""DTR's webhook objects (``/webhooks``) ."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import Timestamp, WireModel
from moorage.webhooks import delivery, hooks

# DTR's zero time: what it sends for a hook never delivered (Go's zero ``time.Time``).
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


class Webhook(WireModel):
    """DTR's ``responses.Webhook``. Moorage adds ``authenticated`` (an HMAC secret is set; the
    secret is never sent), ``inactiveReason`` and ``createdBy`` (the author's name)."""

    id: str
    type: str
    key: str
    endpoint: str
    author_id: str = Field(serialization_alias="authorID")
    created_at: Timestamp = Field(serialization_alias="createdAt")
    last_successful_at: Timestamp = Field(serialization_alias="lastSuccessfulAt")
    inactive: bool
    tls_cert: str = Field(serialization_alias="tlsCert")
    skip_tls_verification: bool = Field(serialization_alias="skipTLSVerification")
    authenticated: bool
    inactive_reason: str = Field(serialization_alias="inactiveReason")
    created_by: str = Field(serialization_alias="createdBy")

    @classmethod
    def of(cls, hook: hooks.Webhook) -> Webhook:
        return cls(
            id=hook.id,
            type=hook.type,
            key=hook.key,
            endpoint=hook.endpoint,
            author_id="" if hook.created_by_id is None else str(hook.created_by_id),
            created_at=hook.created_at,
            last_successful_at=hook.last_successful_at or NEVER,
            inactive=not hook.active,
            tls_cert=hook.tls_cert or "",
            skip_tls_verification=hook.skip_tls_verification,
            authenticated=hook.secret_sealed is not None,
            inactive_reason="" if hook.active else (hook.inactive_reason or ""),
            created_by=hook.created_by or "",
        )


class WebhookTest(WireModel):
    response_code: int | None = Field(serialization_alias="responseCode")
    error: str
    delivered: bool

    @classmethod
    def of(cls, outcome: delivery.SampleOutcome) -> WebhookTest:
        return cls(
            response_code=outcome.response_code, error=outcome.error, delivered=outcome.delivered
        )


class DeliveryAttempt(WireModel):
    attempt: int
    status: str
    response_code: int | None = Field(serialization_alias="responseCode")
    error: str
    at: Timestamp


class Delivery(WireModel):
    id: str
    webhook_id: str = Field(serialization_alias="webhookID")
    event_id: str = Field(serialization_alias="eventID")
    status: str
    attempts: int
    response_code: int | None = Field(serialization_alias="responseCode")
    error: str
    created_at: Timestamp = Field(serialization_alias="createdAt")
    updated_at: Timestamp = Field(serialization_alias="updatedAt")
    payload: dict[str, Any]
    history: list[DeliveryAttempt]

    @classmethod
    def of(cls, found: delivery.Delivery) -> Delivery:
        return cls(
            id=found.id,
            webhook_id=found.webhook_id,
            event_id=found.event_id,
            status=found.status,
            attempts=found.attempts,
            response_code=found.response_code,
            error=found.error,
            created_at=found.created_at,
            updated_at=found.updated_at,
            payload=found.payload,
            history=[
                DeliveryAttempt(
                    attempt=a.attempt,
                    status=a.status,
                    response_code=a.response_code,
                    error=a.error,
                    at=a.at,
                )
                for a in found.history
            ],
        )
