"""eNZi's bulk account results, a team's SAML group link and its jobs (``/enzi/v0``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import WireModel, optional


class GroupLinkOpts(WireModel):
    """eNZi's ``responses.GroupLinkOpts`` (stored; Moorage has no SAML to apply it)."""

    enable_link: bool = Field(serialization_alias="enableLink")
    group_name: str = Field(serialization_alias="groupName")


class BulkError(WireModel):
    """eNZi's ``errors.APIError`` (``detail``: ``{}`` when there is none)."""

    code: str
    message: str
    detail: Any


class BulkResult(WireModel):
    """eNZi's ``responses.BulkResult``: one operation of a bulk request."""

    op: str
    ref: str = ""
    success: bool
    error: BulkError | None = optional()


class BulkResults(WireModel):
    """eNZi's ``responses.BulkResults`` (one result per operation, in the request's order)."""

    results: list[BulkResult]


class EnziJob(WireModel):
    """An eNZi worker job (``/enzi/v0/jobs``; UCP 3.1's Swagger defines no shape for it):
    ``action`` is eNZi's name (``ldap-sync``)."""

    id: str
    action: str
    worker_id: str = Field(serialization_alias="workerID")
    status: str
    scheduled_at: dt.datetime = Field(serialization_alias="scheduledAt")
    last_updated: dt.datetime = Field(serialization_alias="lastUpdated")


class EnziJobs(WireModel):
    jobs: list[EnziJob]
    next_page_start: str = Field("", serialization_alias="nextPageStart")
