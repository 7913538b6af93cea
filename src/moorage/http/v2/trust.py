"""The Notary server API on the registry's own host (Docker Content Trust), as DTR serves it.

``/v2/<gun>/_trust/tuf/``: ``GET <role>.json``, ``<version>.<role>.json``,
``<role>.<sha256>.json`` (role ``root``, ``targets``, ``targets/<name>``..., ``snapshot``,
``timestamp``); ``POST`` (multipart, one file per role: a publish); ``DELETE``;
``GET|POST {timestamp,snapshot}.key``; the changefeed at ``/v2/<gun>/_trust/changefeed`` and
``/v2/_trust/changefeed``. The GUN in the path is the client's (``<registry host>/<repo>``);
``moorage.trust.gun`` maps it to its repository, and every handler authorizes on that
repository with the same ``authorize`` as the rest of /v2: pull reads, push publishes (and
has the server make its first keys), admin (``*``) rotates the server's keys and deletes, as
Notary's server asks and its client requests tokens. The global changefeed needs a signed-in caller
and lists only repositories the caller may pull. Errors use Notary's codes in the /v2 envelope.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moorage.auth.secretbox import SecretBox
from moorage.db import site_settings
from moorage.errors import MoorageError, NameUnknown, Unsupported
from moorage.http.authz import authorize, visible
from moorage.http.scopes import CATALOG, Access
from moorage.http.services import services
from moorage.http.v2 import trust_upload
from moorage.registry import repositories
from moorage.trust import gun as guns
from moorage.trust import service
from moorage.trust.errors import InvalidParams, MetadataNotFound
from moorage.trust.metadata import valid_role

Handler = Callable[[Request], Awaitable[Response]]
RouteFactory = Callable[[str, dict[str, Handler]], Route]

_ROLE = r"root|targets(?:/[^/\s]+)*|snapshot|timestamp"
_CURRENT = re.compile(rf"(?P<role>{_ROLE})\.json")
_BY_VERSION = re.compile(rf"(?P<version>[1-9]*[0-9]+)\.(?P<role>{_ROLE})\.json")
_BY_CHECKSUM = re.compile(rf"(?P<role>{_ROLE})\.(?P<checksum>[a-fA-F0-9]{{64}})\.json")
_KEY = re.compile(r"(?P<role>snapshot|timestamp)\.key")
CURRENT_CACHE = "public, max-age=300, must-revalidate"  # notary.CurrentMetadataCacheMaxAge
CONSISTENT_CACHE = "public, max-age=2592000"  # notary.ConsistentMetadataCacheMaxAge
DEFAULT_PAGE = 100  # notary.DefaultPageSize
MAX_PAGE = 1000


def _trust(request: Request) -> service.Trust:
    ctx = services(request).registry
    return service.Trust(ctx.db, SecretBox.in_data_folder(ctx.settings.data))


def _gun(request: Request) -> guns.Gun:
    settings = services(request).settings
    hosts = guns.own_hosts(request.url.netloc, settings.public_url)
    return guns.parse(request.path_params["gun"], hosts)


async def _authorize(request: Request, gun: guns.Gun, *actions: str) -> None:
    """``authorize`` on the GUN's repository. A bearer token granting ``*`` there grants every
    action, as Docker's token authorization reads it: the notary client asks for ``*`` alone
    when it rotates a server key, then publishes the new root with that token."""
    try:
        _, token_access = await services(request).authorizer.principal(request)
    except MoorageError:
        token_access = None  # ``authorize`` answers it, with its challenge
    for entry in token_access or ():
        if (
            isinstance(entry, dict)
            and entry.get("type") == "repository"
            and entry.get("name") == gun.repository
            and "*" in (entry.get("actions") or ())
        ):
            actions = ("*",)
    await authorize(request, Access.repository(gun.repository, *actions))
    if (
        request.method != "GET"
        and (await site_settings.load(services(request).db)).read_only_registry
    ):
        # also for a ``*`` token minted before read-only mode was switched on
        raise Unsupported("the registry is in read-only mode")


async def _require_repository(request: Request, gun: guns.Gun) -> None:
    """Trust data is kept for repositories that exist (so none waits for a name's owner)."""
    async with services(request).db.read() as conn:
        if await repositories.find(conn, gun.repository) is None:
            raise NameUnknown(
                f"repository {gun.repository} does not exist: push to it first",
                detail={"name": gun.repository},
            )


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")).encode(), media_type="application/json")


# ---- metadata ------------------------------------------------------------------------------


async def role_get(request: Request) -> Response:
    gun = _gun(request)
    await _authorize(request, gun, "pull")
    file = request.path_params["file"]
    trust = _trust(request)
    # As Notary's router: by checksum first (a delegation's name may not hold a dot, but the
    # role pattern alone would take ``targets/ci.<sha256>`` for a name), then version, current.
    if m := _BY_CHECKSUM.fullmatch(file):
        found = await service.read(trust, gun, m["role"], checksum=m["checksum"])
        cache = CONSISTENT_CACHE
    elif m := _BY_VERSION.fullmatch(file):
        found = await service.read(trust, gun, m["role"], version=int(m["version"]))
        cache = CONSISTENT_CACHE
    elif (m := _CURRENT.fullmatch(file)) and valid_role(m["role"]):
        found = await service.read(trust, gun, m["role"])
        cache = CURRENT_CACHE
    else:
        raise MetadataNotFound(detail={"file": file[:200]})
    modified = found.created_at
    if modified.tzinfo is None:  # SQLite hands back naive UTC
        modified = modified.replace(tzinfo=dt.UTC)
    headers = {"Cache-Control": cache, "Last-Modified": format_datetime(modified, usegmt=True)}
    return Response(found.payload, media_type="application/json", headers=headers)


async def publish(request: Request) -> Response:
    gun = _gun(request)
    await _authorize(request, gun, "pull", "push")
    await _require_repository(request, gun)
    uploads = await trust_upload.read_uploads(request)
    await service.publish(_trust(request), gun, uploads)
    return Response(b"", status_code=200)


async def delete(request: Request) -> Response:
    gun = _gun(request)
    await _authorize(request, gun, "*")
    await service.delete(_trust(request), gun)
    return Response(b"", status_code=200)


# ---- server keys ---------------------------------------------------------------------------


def _key_role(request: Request) -> str:
    m = _KEY.fullmatch(request.path_params["file"])
    if m is None:
        raise MetadataNotFound(detail={"file": request.path_params["file"][:200]})
    return m["role"]


async def key_get(request: Request) -> Response:
    gun = _gun(request)
    role = _key_role(request)
    await _authorize(request, gun, "pull", "push")
    await _require_repository(request, gun)
    key = await service.get_key(_trust(request), gun, role)
    return _key_response(key.to_json())


async def key_rotate(request: Request) -> Response:
    """A new server key: admin (``*``), as Notary's server requires and the notary client asks
    for (``key rotate <gun> snapshot -r`` requests a token for ``*``)."""
    gun = _gun(request)
    role = _key_role(request)
    await _authorize(request, gun, "*")
    await _require_repository(request, gun)
    key = await service.rotate_key(_trust(request), gun, role)
    return _key_response(key.to_json())


def _key_response(doc: dict[str, Any]) -> Response:
    body = {
        "keytype": doc["keytype"],
        "keyval": {"public": doc["keyval"]["public"], "private": None},
    }
    return Response(json.dumps(body, separators=(",", ":")).encode(), media_type="application/json")


# ---- changefeed ----------------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidParams(f"invalid {name} parameter: {raw[:20]}") from exc
    if abs(value) > 2**31 - 1:
        raise InvalidParams(f"invalid {name} parameter: out of range")
    return value


def _feed(changes: list[Any]) -> Response:
    records = [
        {
            "ID": str(c.id),
            "CreatedAt": c.created_at.isoformat().replace("+00:00", "Z"),
            "GUN": c.gun,
            "Version": c.version,
            "SHA256": c.sha256,
            "Category": c.category,
        }
        for c in changes
    ]
    return _json({"count": len(records), "records": records})


def _page(request: Request) -> tuple[int, int]:
    change_id = _int_param(request, "change_id", 0)
    records = _int_param(request, "records", DEFAULT_PAGE) or DEFAULT_PAGE
    return change_id, max(-MAX_PAGE, min(MAX_PAGE, records))


async def gun_changefeed(request: Request) -> Response:
    gun = _gun(request)
    await _authorize(request, gun, "pull")
    change_id, records = _page(request)
    return _feed(await service.changes(_trust(request), change_id, records, gun=gun.name))


async def changefeed(request: Request) -> Response:
    await authorize(request, CATALOG)
    change_id, records = _page(request)
    condition = await visible(request)
    return _feed(await service.changes(_trust(request), change_id, records, visible=condition))


def routes(route: RouteFactory) -> list[Route]:
    """The Notary routes, made by the /v2 table's ``route`` (its error mapping and headers)."""
    return [
        route("/v2/_trust/changefeed", {"GET": changefeed}),
        route("/v2/{gun:path}/_trust/changefeed", {"GET": gun_changefeed}),
        route("/v2/{gun:path}/_trust/tuf/", {"POST": publish, "DELETE": delete}),
        route("/v2/{gun:path}/_trust/tuf/{file:path}", {"GET": _get_file, "POST": key_rotate}),
    ]


async def _get_file(request: Request) -> Response:
    if _KEY.fullmatch(request.path_params["file"]):
        return await key_get(request)
    return await role_get(request)
