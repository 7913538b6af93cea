"""Notary server errors (server/errors/errors.go): the codes and statuses its clients expect,
in the same ``{"errors":[{"code","message","detail"}]}`` envelope as the rest of /v2.

``InvalidUpdate`` carries Notary's serializable validation error as its detail
(``{"Name": "ErrBadRoot", "Error": {"Msg": ...}}``), which the notary client turns back into
its own error type.
"""

from __future__ import annotations

from typing import Any

from moorage.errors import MoorageError


class TrustError(MoorageError):
    """An error of the Notary server API."""


class MalformedUpload(TrustError):
    code, status = "MALFORMED_UPLOAD", 400
    default_message = "The body of your request is malformed."


class NoFilename(TrustError):
    code, status = "NO_FILENAME", 400
    default_message = "No file/role name provided."


class InvalidRole(TrustError):
    code, status = "INVALID_ROLE", 400
    default_message = "The role you are attempting to operate on is invalid."


class MalformedJSON(TrustError):
    code, status = "MALFORMED_JSON", 400
    default_message = "JSON sent by the client could not be parsed by the server"


class OldVersion(TrustError):
    code, status = "VERSION", 400
    default_message = "A newer version of metadata is already available."


class MetadataNotFound(TrustError):
    code, status = "METADATA_NOT_FOUND", 404
    default_message = "You have requested metadata that does not exist."


class InvalidGUN(TrustError):
    code, status = "INVALID_GUN", 400
    default_message = "The server does not support actions on images of this name."


class InvalidParams(TrustError):
    code, status = "INVALID_PARAMETERS", 400
    default_message = "The parameters provided are not valid."


class InvalidUpdate(TrustError):
    """An update that parsed but failed validation; ``kind`` is Notary's error type name
    (ErrValidation, ErrBadHierarchy, ErrBadRoot, ErrBadTargets, ErrBadSnapshot)."""

    code, status = "INVALID_UPDATE", 400
    default_message = "Update sent by the client is invalid."

    def __init__(self, kind: str, reason: str, *, missing: str | None = None) -> None:
        error: dict[str, Any] = {"Msg": reason}
        if missing is not None:
            error["Missing"] = missing
        super().__init__(
            f"{self.default_message} {kind}: {reason}", detail={"Name": kind, "Error": error}
        )
        self.kind = kind
        self.reason = reason


def bad_root(reason: str) -> InvalidUpdate:
    return InvalidUpdate("ErrBadRoot", reason)


def bad_targets(reason: str) -> InvalidUpdate:
    return InvalidUpdate("ErrBadTargets", reason)


def bad_snapshot(reason: str) -> InvalidUpdate:
    return InvalidUpdate("ErrBadSnapshot", reason)


def bad_hierarchy(missing: str, reason: str) -> InvalidUpdate:
    return InvalidUpdate("ErrBadHierarchy", reason, missing=missing)


def invalid(reason: str) -> InvalidUpdate:
    return InvalidUpdate("ErrValidation", reason)
