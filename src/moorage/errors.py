"""One error tree for the whole registry.

Domain code raises these; the HTTP edge maps each to its wire format (the OCI
``{"errors": [...]}`` envelope on ``/v2``, DTR's envelope on ``/api/v0``).
Every error carries its protocol code and HTTP status, so the edge never
guesses. Errors carry facts, never headers: where an upload stands (``RangeInvalid.upload``),
what token to ask for (``Unauthorized.challenge``), when to try again
(``TooManyRequests.retry_after``); the HTTP edge (``moorage.http.headers``) turns them into
``Location``, ``Range``, ``Docker-Upload-UUID``, ``WWW-Authenticate`` and ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class UploadProgress:
    """Where a blob upload stands: what a client needs to resume it."""

    repository: str
    upload_id: str
    offset: int  # bytes stored so far


@dataclass(frozen=True, slots=True)
class TokenChallenge:
    """What a refused caller should ask the token service for (Docker token protocol): the
    service's URL (``realm``) and name, the scopes (``type:name:actions``) and, for a token
    that was offered, why it failed (``invalid_token``, ``insufficient_scope``)."""

    realm: str
    service: str
    scopes: tuple[str, ...] = ()
    error: str | None = None


class MoorageError(Exception):
    """Base of every error Moorage raises on purpose."""

    code = "UNKNOWN"
    status = 500
    default_message = "unknown error"
    # The code DTR's /api/v0 envelope uses for the same condition, when it differs.
    api_code: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message)


class RegistryError(MoorageError):
    """Errors of the OCI distribution API (codes from the specification)."""


class BlobUnknown(RegistryError):
    code, status, default_message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    code, status, default_message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not start where the upload ends (416)."""

    status = 416
    default_message = "requested range not satisfiable"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        upload: UploadProgress | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.upload = upload  # None: the request named no upload the client could resume


class BlobUploadUnknown(RegistryError):
    code, status, default_message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code, status, default_message = (
        "DIGEST_INVALID",
        400,
        "provided digest did not match uploaded content",
    )


class ManifestBlobUnknown(RegistryError):
    code, status, default_message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a manifest or blob unknown to registry",
    )


class ManifestInvalid(RegistryError):
    code, status, default_message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestTooLarge(ManifestInvalid):
    status = 413
    default_message = "manifest too large"


class ManifestUnknown(RegistryError):
    code, status, default_message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class NameInvalid(RegistryError):
    code, status, default_message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(RegistryError):
    code, status, default_message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(RegistryError):
    code, status, default_message = (
        "SIZE_INVALID",
        400,
        "provided length did not match content length",
    )


class RequestTooLarge(SizeInvalid):
    """A request body over the configured limit, refused before or while it is read."""

    status = 413
    default_message = "request body too large"
    api_code = "REQUEST_TOO_LARGE"


class TagInvalid(RegistryError):
    code, status, default_message = "TAG_INVALID", 400, "manifest tag did not match URI"


class Unauthorized(RegistryError):
    code, status, default_message = "UNAUTHORIZED", 401, "authentication required"
    api_code = "NOT_AUTHENTICATED"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        challenge: TokenChallenge | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.challenge = challenge  # None: the edge's own challenge (Basic on the APIs)


class Denied(RegistryError):
    code, status, default_message = "DENIED", 403, "requested access to the resource is denied"
    api_code = "NOT_AUTHORIZED"


class Unsupported(RegistryError):
    code, status, default_message = "UNSUPPORTED", 405, "the operation is unsupported"


class ManifestUnsupported(Unsupported):
    """A manifest kind the registry refuses (Docker schema 1): a bad request, not a bad method."""

    status = 400
    default_message = "manifest type unsupported"


class TooManyRequests(RegistryError):
    code, status, default_message = "TOOMANYREQUESTS", 429, "too many requests"

    def __init__(
        self, message: str | None = None, *, detail: Any = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after  # seconds; None: no promise when it will pass


class SignInThrottled(TooManyRequests):
    """Too many failed sign-ins from this source: refused at once, before any secret is checked."""

    default_message = "too many failed sign-ins from this address: try again later"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, detail={"retryAfter": retry_after}, retry_after=retry_after)
        self.retry_after: int = retry_after


class PaginationNumberInvalid(RegistryError):
    code, status, default_message = (
        "PAGINATION_NUMBER_INVALID",
        400,
        "invalid number of results requested",
    )


class ConfigError(MoorageError):
    code, status, default_message = "CONFIG_INVALID", 500, "invalid configuration"


class DatabaseUnavailable(MoorageError):
    """The database cannot be reached (down, restarting, failing over): retry shortly."""

    code, status, default_message = "UNAVAILABLE", 503, "the database is unavailable; retry shortly"


class StorageError(MoorageError):
    code, status, default_message = "STORAGE_ERROR", 500, "storage error"


class StorageNotFound(StorageError):
    code, status, default_message = "STORAGE_NOT_FOUND", 404, "path not found in storage"


# ---- accounts, teams, repositories as managed through /api/v0 and /enzi/v0 ----------------


class NotFound(MoorageError):
    code, status, default_message = "NOT_FOUND", 404, "not found"


class NoSuchAccount(NotFound):
    code, default_message = "NO_SUCH_ACCOUNT", "no such account"


class NoSuchUser(NoSuchAccount):
    """DTR's code where a route names a user (``/accounts/{username}/settings``)."""

    api_code = "NO_SUCH_USER"


class NoSuchTeam(NotFound):
    code, default_message = "NO_SUCH_TEAM", "no such team"


class NoSuchRepository(NotFound):
    code, default_message = "NO_SUCH_REPOSITORY", "no such repository"


class NoSuchNamespaceTeamAccess(NotFound):
    code = "NO_SUCH_NAMESPACE_TEAM_ACCESS"
    default_message = "the team has no access grant in this namespace"


class NoSuchTag(NotFound):
    """DTR's answer for a tag (or digest) the repository does not hold."""

    code, default_message = "NO_SUCH_TAG", "no such tag in this repository"


class NoSuchManifest(NotFound):
    code, default_message = "NO_SUCH_MANIFEST", "no such manifest"


class NoSuchRef(NotFound):
    """DTR's answer for a tag or digest the repository does not hold (``tags/{reference}``,
    ``manifests/{reference}``, ``scansummary/repositories/.../{reference}``)."""

    code, default_message = "NO_SUCH_REF", "no such tag or digest in this repository"


class NoSuchToken(NotFound):
    code, default_message = "NO_SUCH_TOKEN", "no such access token"


class NoSuchMember(NotFound):
    code, default_message = "NO_SUCH_MEMBER", "no such member"


class Conflict(MoorageError):
    code, status, default_message = "CONFLICT", 409, "conflict"


class AccountExists(Conflict):
    code, default_message = "ACCOUNT_EXISTS", "an account with this name already exists"


class TeamExists(Conflict):
    code, default_message = "TEAM_EXISTS", "a team with this name already exists"


class RepositoryExists(Conflict):
    """DTR answers 400 ``REPOSITORY_EXISTS`` (not 409) when a repository is created twice."""

    code, status = "REPOSITORY_EXISTS", 400
    default_message = "a repository with this name already exists"


class InvalidInput(MoorageError):
    code, status, default_message = "INVALID_INPUT", 400, "invalid input"


class InvalidDigest(InvalidInput):
    code, default_message = "INVALID_DIGEST", "the given digest is invalid"


class InvalidPruningPolicy(InvalidInput):
    code, default_message = "INVALID_PRUNING_POLICY", "the given pruning policy is invalid"


class ScanningNotEnabled(InvalidInput):
    """DTR's answer to a scan request while the site setting ``scanningEnabled`` is off."""

    code, default_message = "SCANNING_NOT_ENABLED", "scanning is not enabled"


class NotImplementedYet(MoorageError):
    """A DTR endpoint of a capability Moorage does not have yet (mirroring, promotion,
    content caches)."""

    code, status, default_message = "NOT_IMPLEMENTED", 501, "not implemented in Moorage yet"


class InvalidParameters(InvalidInput):
    """A query parameter (a filter, a page start, a date) that cannot be read."""

    api_code = "INVALID_PARAMETERS"


class InvalidSettings(InvalidInput):
    code, default_message = "INVALID_SETTINGS", "invalid settings"


class InvalidUserSettings(InvalidInput):
    code, default_message = "INVALID_USER_SETTINGS", "invalid user settings"


# ---- scanning ---------------------------------------------------------------------------------


class ScanError(MoorageError):
    code, status, default_message = "SCAN_FAILED", 500, "the image could not be scanned"


class LayerInvalid(ScanError):
    """A layer blob that cannot be read as a (compressed) tar: corrupt, truncated, unsafe paths."""

    code, status, default_message = "LAYER_INVALID", 422, "layer is not a readable tar archive"


class VersionUnparseable(InvalidInput):
    """A version its ecosystem's rules cannot order: reported as such, never as "not affected"."""

    code, default_message = "VERSION_UNPARSEABLE", "version cannot be parsed"

    def __init__(self, version: str, scheme: str, reason: str) -> None:
        super().__init__(
            f"{scheme} version {version!r} cannot be parsed: {reason}",
            detail={"version": version, "scheme": scheme, "reason": reason},
        )
        self.version, self.scheme, self.reason = version, scheme, reason


class EcosystemUnknown(InvalidInput):
    code, default_message = "ECOSYSTEM_UNKNOWN", "unknown vulnerability ecosystem"


class AdvisoryInvalid(InvalidInput):
    """A vulnerability record that does not follow the OSV schema."""

    code, default_message = "ADVISORY_INVALID", "invalid OSV record"
