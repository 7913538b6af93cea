"""A client of DTR's ``/api/v0`` and eNZi's ``/enzi/v0`` (DTR, MSR, Moorage): repositories and
their settings, organizations, teams and the team grants on repositories and namespaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from moorage.importer.registry_client import RegistryAnswer
from moorage.importer.transport import RemoteUnreachable
from moorage.remote import outbound

PAGE = 100
SETTINGS = ("visibility", "shortDescription", "longDescription", "scanOnPush", "tagLimit")


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    namespace: str
    name: str
    settings: dict[str, Any]  # DTR's names: visibility, shortDescription, ..., immutableTags

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Grant:
    team: str
    level: str  # read-only | read-write | admin


class DtrApi:
    """One DTR-API server over an (already guarded, Basic-authenticated) client."""

    def __init__(self, http: httpx.AsyncClient, name: str) -> None:
        self.http = http
        self.name = name

    async def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            return await self.http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise RemoteUnreachable(
                f"the {self.name} API did not answer {method} {url}: {type(exc).__name__}"
            ) from exc

    async def _json(self, url: str, **kw: Any) -> Any:
        r = await self._send("GET", url, **kw)
        if r.status_code != 200:
            raise _refused(r, f"GET {url} on the {self.name}")
        return r.json()

    async def has_api(self) -> bool:
        try:
            r = await self.http.get("/api/v0/repositories", params={"pageSize": 1})
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        try:
            return "repositories" in r.json()
        except ValueError:
            return False

    async def site_proxies(self) -> outbound.Proxies | None:
        """The site's ``httpProxy``, ``httpsProxy`` and ``noProxy`` (``GET /api/v0/meta/settings``,
        which needs an administrator); None when they cannot be read (another user, no such
        API, an answer without them)."""
        r = await self._send("GET", "/api/v0/meta/settings")
        if r.status_code != 200:
            return None
        try:
            body = r.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        values = [body.get(key, "") for key in ("httpProxy", "httpsProxy", "noProxy")]
        if not all(isinstance(v, str) for v in values):
            return None
        return outbound.Proxies(*values)

    # ---- reading (the source) ---------------------------------------------------------------

    async def repositories(self) -> list[RepositoryInfo]:
        found: list[RepositoryInfo] = []
        start = ""
        while True:
            params: dict[str, Any] = {"pageSize": PAGE}
            if start:
                params["pageStart"] = start
            r = await self._send("GET", "/api/v0/repositories", params=params)
            if r.status_code != 200:
                raise _refused(r, f"listing the repositories of the {self.name}")
            found.extend(_info(item) for item in r.json().get("repositories") or [])
            start = r.headers.get("X-Next-Page-Start", "")
            if not start:
                return found

    async def repository(self, full_name: str) -> RepositoryInfo | None:
        r = await self._send("GET", f"/api/v0/repositories/{full_name}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise _refused(r, f"reading {full_name} on the {self.name}")
        return _info(r.json())

    async def is_org(self, account: str) -> bool | None:
        """True for an organization, False for a user, None when there is no such account."""
        r = await self._send("GET", f"/enzi/v0/accounts/{account}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise _refused(r, f"reading the account {account} on the {self.name}")
        return bool(r.json().get("isOrg"))

    async def teams(self, org: str) -> list[Team]:
        """The organization's teams (every page)."""
        found: list[Team] = []
        start = ""
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if start:
                params["start"] = start
            body = await self._json(f"/enzi/v0/accounts/{org}/teams", params=params)
            for t in body.get("teams") or []:
                found.append(
                    Team(str(t.get("id", "")), str(t["name"]), str(t.get("description") or ""))
                )
            start = str(body.get("nextPageStart") or "")
            if not start or not body.get("teams"):
                return found

    async def _members(self, url: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start = ""
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if start:
                params["start"] = start
            body = await self._json(url, params=params)
            found.extend(m for m in body.get("members") or [] if isinstance(m, dict))
            start = str(body.get("nextPageStart") or "")
            if not start or not body.get("members"):
                return found

    async def org_members(self, org: str) -> list[tuple[str, bool]]:
        """(user name, is an owner) of the organization's members."""
        members = await self._members(f"/enzi/v0/accounts/{org}/members")
        return [(str(m["member"]["name"]), bool(m.get("isAdmin"))) for m in members]

    async def team_members(self, org: str, team: str) -> list[str]:
        members = await self._members(f"/enzi/v0/accounts/{org}/teams/{team}/members")
        return [str(m["member"]["name"]) for m in members]

    async def add_org_member(self, org: str, user: str, *, owner: bool) -> None:
        r = await self._send(
            "PUT", f"/enzi/v0/accounts/{org}/members/{user}", json={"isAdmin": owner}
        )
        if r.status_code not in (200, 201):
            raise _refused(r, f"adding {user} to {org} on the {self.name}")

    async def add_team_member(self, org: str, team: str, user: str) -> None:
        r = await self._send("PUT", f"/enzi/v0/accounts/{org}/teams/{team}/members/{user}")
        if r.status_code not in (200, 201):
            raise _refused(r, f"adding {user} to {org}/{team} on the {self.name}")

    async def repository_grants(self, full_name: str, teams: list[Team]) -> list[Grant]:
        body = await self._json(
            f"/api/v0/repositories/{full_name}/teamAccess", params={"pageSize": 1000}
        )
        return _grants(body, teams)

    async def namespace_grants(self, namespace: str, teams: list[Team]) -> list[Grant]:
        body = await self._json(
            f"/api/v0/repositoryNamespaces/{namespace}/teamAccess", params={"pageSize": 1000}
        )
        return _grants(body, teams)

    # ---- writing (the target) ---------------------------------------------------------------

    async def ensure_org(self, org: str) -> bool:
        """Create the organization when missing; True when it was created."""
        if await self.is_org(org) is not None:
            return False
        r = await self._send("POST", "/enzi/v0/accounts", json={"name": org, "isOrg": True})
        if r.status_code not in (200, 201):
            raise _refused(r, f"creating the organization {org} on the {self.name}")
        return True

    async def ensure_team(self, org: str, team: str, description: str) -> bool:
        r = await self._send("GET", f"/enzi/v0/accounts/{org}/teams/{team}")
        if r.status_code == 200:
            return False
        r = await self._send(
            "POST",
            f"/enzi/v0/accounts/{org}/teams",
            json={"name": team, "description": description},
        )
        if r.status_code not in (200, 201):
            raise _refused(r, f"creating the team {org}/{team} on the {self.name}")
        return True

    async def ensure_repository(
        self, info: RepositoryInfo, *, immutable: bool, create_only: bool = False
    ) -> bool:
        """Create the repository or update its settings (``immutableTags`` only when
        ``immutable``: set last, after the tags are in; an existing one left alone with
        ``create_only``); True when it was created."""
        settings = {k: v for k, v in info.settings.items() if k in SETTINGS}
        if immutable:
            settings["immutableTags"] = bool(info.settings.get("immutableTags"))
        existing = await self._send("GET", f"/api/v0/repositories/{info.full_name}")
        if existing.status_code == 404:
            body = {"name": info.name, **settings}
            r = await self._send("POST", f"/api/v0/repositories/{info.namespace}", json=body)
            if r.status_code not in (200, 201):
                raise _refused(r, f"creating {info.full_name} on the {self.name}")
            return True
        if existing.status_code != 200:
            raise _refused(existing, f"reading {info.full_name} on the {self.name}")
        if create_only:
            return False
        r = await self._send("PATCH", f"/api/v0/repositories/{info.full_name}", json=settings)
        if r.status_code != 200:
            raise _refused(r, f"updating {info.full_name} on the {self.name}")
        return False

    async def grant_repository(self, full_name: str, grant: Grant) -> None:
        r = await self._send(
            "PUT",
            f"/api/v0/repositories/{full_name}/teamAccess/{grant.team}",
            json={"accessLevel": grant.level},
        )
        if r.status_code != 200:
            raise _refused(r, f"granting {grant.team} {grant.level} on {full_name}")

    async def grant_namespace(self, namespace: str, grant: Grant) -> None:
        r = await self._send(
            "PUT",
            f"/api/v0/repositoryNamespaces/{namespace}/teamAccess/{grant.team}",
            json={"accessLevel": grant.level},
        )
        if r.status_code != 200:
            raise _refused(r, f"granting {grant.team} {grant.level} on the namespace {namespace}")


def _info(item: dict[str, Any]) -> RepositoryInfo:
    settings = {k: item[k] for k in (*SETTINGS, "immutableTags") if k in item}
    return RepositoryInfo(str(item["namespace"]), str(item["name"]), settings)


def _grants(body: dict[str, Any], teams: list[Team]) -> list[Grant]:
    """The grants of a ``teamAccessList``; a team DTR names by id only (its ``responses.Team``
    has ``id`` and ``clientUserIsMember``) is found among the organization's teams."""
    by_id = {t.id: t.name for t in teams if t.id}
    found = []
    for entry in body.get("teamAccessList") or []:
        team = entry.get("team") or {}
        name = team.get("name") or by_id.get(str(team.get("id", "")))
        if name and entry.get("accessLevel"):
            found.append(Grant(str(name), str(entry["accessLevel"])))
    return found


def _refused(response: httpx.Response, what: str) -> RegistryAnswer:
    try:
        errors = response.json().get("errors") or []
        said = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        said = ""
    return RegistryAnswer(
        f"{what}: answered {response.status_code}" + (f" ({said[:200]})" if said else ""),
        detail={"status": response.status_code},
    )
