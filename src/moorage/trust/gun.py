"""A GUN (Globally Unique Name) and the registry repository it names.

Notary's clients put the whole GUN in the path: the notary CLI and ``docker trust`` both call
``/v2/<registry host>/<namespace>/<repo>/_trust/tuf/...`` and ask the token service for
``repository:<registry host>/<namespace>/<repo>:...`` (the root certificate's common name is
that GUN too). A GUN whose first component is one of this registry's own host names names the
repository after it; a GUN without a host (``team/app``, as some scripts use) names the
repository itself. Any other host is not this registry's: ``INVALID_GUN``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from moorage.errors import MoorageError
from moorage.oci.names import validate_name
from moorage.trust.errors import InvalidGUN

MAX_GUN = 512


@dataclass(frozen=True, slots=True)
class Gun:
    name: str  # as the client spells it (the CN of its root certificate)
    repository: str  # the registry repository it names


def _looks_like_host(component: str) -> bool:
    """docker's rule for the first component of a reference: a domain or host:port."""
    return "." in component or ":" in component or component == "localhost"


def own_hosts(netloc: str, public_url: str | None) -> set[str]:
    """The host names a GUN may start with: the one the client used, and ``public_url``'s."""
    hosts = {netloc.lower()}
    if public_url:
        rest = public_url.split("://", 1)[-1]
        hosts.add(rest.split("/", 1)[0].lower())
    hosts.discard("")
    return hosts


def parse(name: str, hosts: Iterable[str]) -> Gun:
    """The GUN of a request path and its repository; ``INVALID_GUN`` for anything else."""
    if not name or len(name) > MAX_GUN or "*" in name:
        raise InvalidGUN(detail={"gun": name[:MAX_GUN]})
    first, sep, rest = name.partition("/")
    repository = name
    if sep and "/" in rest and first.lower() in {h.lower() for h in hosts}:
        repository = rest
    elif sep and _looks_like_host(first) and ":" in first:
        raise InvalidGUN(f"{first} is not this registry", detail={"gun": name})
    try:
        validate_name(repository)
    except MoorageError as exc:
        raise InvalidGUN(detail={"gun": name}) from exc
    return Gun(name, repository)


def scope_repository(name: str, hosts: Iterable[str]) -> str:
    """The repository a token scope names: a GUN of this registry's host names its repository
    (how the notary CLI and docker trust ask); any other name is left as it is."""
    first, sep, rest = name.partition("/")
    if sep and "/" in rest and first.lower() in {h.lower() for h in hosts}:
        return rest
    return name
