"""``moorage import``: repositories and tags from a source registry into this Moorage, over
HTTP (a client of both registries; never of a database), then, from a source with DTR's API,
each repository's settings and the teams' grants.

Order per repository: the namespace (an organization is created when missing, a user cannot
be: reported), the repository with its settings but not ``immutableTags``, every tag, then
``immutableTags`` and the grants (teams created when missing). Each tag is recorded in the
state file with its digest once copied; a tag the state file holds at the digest the source
still has is skipped. ``verify`` compares every tag's digest on both sides.

The source is reached through the site's proxies (``httpProxy``, ``httpsProxy``, ``noProxy``:
``remote.outbound.Proxies``, asked for the guard's checked address, never the name), read from
the target's ``/api/v0/meta/settings`` (an administrator's) unless the plan names proxies; the
target, the site itself, is reached directly. When the target's settings cannot be read the
source is reached directly, and the log says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from moorage.errors import MoorageError
from moorage.importer.dtr_api import DtrApi, RepositoryInfo, Team
from moorage.importer.images import CopyCounts, copy_tag
from moorage.importer.registry_client import RegistryClient
from moorage.importer.state import ImportState
from moorage.importer.transport import Credentials, base_url, make_client
from moorage.remote import outbound

Log = Callable[[str], None]


@dataclass(frozen=True)
class Endpoint:
    """One registry: where, as whom, which CA."""

    url: str
    credentials: Credentials
    ca_pem: str = ""
    skip_verify: bool = False


@dataclass(frozen=True)
class ImportPlan:
    source: Endpoint
    target: Endpoint
    guard: outbound.Guard
    repositories: tuple[str, ...] = ()  # empty: every repository the source lists
    state_file: Path | None = None
    settings: bool = True  # copy settings and grants when the source has DTR's API
    proxies: outbound.Proxies | None = None  # to the source; None: the target's site settings


@dataclass
class ImportReport:
    tags_copied: int = 0
    tags_skipped: int = 0
    repositories: int = 0
    created: list[str] = field(default_factory=list)  # orgs, teams, repositories made
    problems: list[str] = field(default_factory=list)
    counts: CopyCounts = field(default_factory=CopyCounts)
    mismatches: list[str] = field(default_factory=list)  # verify


@dataclass
class _Side:
    registry: RegistryClient
    api: DtrApi


@contextlib.asynccontextmanager
async def _side(
    endpoint: Endpoint,
    guard: outbound.Guard,
    name: str,
    proxies: outbound.Proxies | None = None,
) -> AsyncIterator[_Side]:
    url = base_url(endpoint.url)
    ca, skip = endpoint.ca_pem, endpoint.skip_verify
    creds = endpoint.credentials
    async with (
        make_client(url, creds, guard, ca_pem=ca, skip_verify=skip, proxies=proxies) as v2,
        make_client(url, creds, guard, ca_pem=ca, skip_verify=skip, proxies=proxies) as api,
    ):
        if creds.given:
            api.auth = httpx.BasicAuth(creds.username, creds.secret)
        yield _Side(RegistryClient(v2, name), DtrApi(api, name))


def _shown(proxy: str) -> str:
    """A proxy URL without its user name and password (the log is not the place for them)."""
    url = httpx.URL(proxy)
    return str(url.copy_with(userinfo=b"")) if url.userinfo else proxy


async def _source_proxies(plan: ImportPlan, target: _Side, log: Log) -> outbound.Proxies | None:
    proxies = plan.proxies
    if proxies is None:
        proxies = await target.api.site_proxies()
        if proxies is None:
            log("the target's proxy settings cannot be read (an administrator's): no proxy")
            return None
    hops = [f"{k} {_shown(v)}" for k, v in (("http", proxies.http), ("https", proxies.https)) if v]
    if hops:
        bypass = f", not for {proxies.no_proxy}" if proxies.no_proxy else ""
        log(f"to the source through the proxies: {', '.join(hops)}{bypass}")
    return proxies


@contextlib.asynccontextmanager
async def _sides(plan: ImportPlan, log: Log) -> AsyncIterator[tuple[_Side, _Side]]:
    """The source (through the proxies) and the target (directly)."""
    async with _side(plan.target, plan.guard, "target") as target:
        proxies = await _source_proxies(plan, target, log)
        async with _side(plan.source, plan.guard, "source", proxies) as source:
            yield source, target


async def _source_repositories(plan: ImportPlan, source: _Side, dtr: bool) -> list[str]:
    if plan.repositories:
        return list(plan.repositories)
    if dtr:
        return [r.full_name for r in await source.api.repositories()]
    return await source.registry.catalog()


async def run_import(plan: ImportPlan, log: Log) -> ImportReport:
    report = ImportReport()
    state = ImportState.load(plan.state_file)
    async with _sides(plan, log) as (source, target):
        dtr = plan.settings and await source.api.has_api()
        log(f"source: {'DTR API' if dtr else 'registry v2 only'}")
        names = await _source_repositories(plan, source, dtr)
        log(f"{len(names)} repositories to import")
        for name in names:
            try:
                await _import_repository(name, source, target, dtr, state, report, log)
            except MoorageError as exc:
                report.problems.append(f"{name}: {exc.message}")
                log(f"{name}: NOT imported: {exc.message}")
    return report


async def _import_repository(
    name: str,
    source: _Side,
    target: _Side,
    dtr: bool,
    state: ImportState,
    report: ImportReport,
    log: Log,
) -> None:
    info = await source.api.repository(name) if dtr else None
    if info is not None and name not in state.settings:
        await _prepare(info, source, target, report, log)
    elif info is None and name.count("/") == 1 and name not in state.settings:
        await _plain(name, target, state, report, log)
    tags = await source.registry.tags(name)
    report.repositories += 1
    for tag in tags:
        digest = await source.registry.manifest_digest(name, tag)
        if digest is None:
            continue  # untagged since the listing
        if state.done(name, tag, digest):
            report.tags_skipped += 1
            continue
        try:
            copied = await copy_tag(
                source.registry, target.registry, name, name, tag, report.counts
            )
        except MoorageError as exc:
            report.problems.append(f"{name}:{tag}: {exc.message}")
            log(f"{name}:{tag}: NOT copied: {exc.message}")
            continue
        state.record_tag(name, tag, copied)
        report.tags_copied += 1
        log(f"{name}:{tag} {copied}")
    if info is not None and name not in state.settings:
        await _finish(info, source, target, state, report, log)


async def _prepare(
    info: RepositoryInfo, source: _Side, target: _Side, report: ImportReport, log: Log
) -> None:
    """The namespace and the repository (settings but immutability) on the target."""
    kind = await source.api.is_org(info.namespace)
    if kind and await target.api.ensure_org(info.namespace):
        report.created.append(f"organization {info.namespace}")
        log(f"created the organization {info.namespace}")
    elif not kind and await target.api.is_org(info.namespace) is None:
        raise MoorageError(
            f"the user {info.namespace} does not exist on the target: create the account "
            "(or let it sign in through LDAP) and run the import again"
        )
    if await target.api.ensure_repository(info, immutable=False):
        report.created.append(f"repository {info.full_name}")
        log(f"created the repository {info.full_name}")


async def _plain(
    name: str, target: _Side, state: ImportState, report: ImportReport, log: Log
) -> None:
    """A repository of a source without DTR's API: made on the target (private, Moorage's
    defaults) when missing, in an organization made when its namespace is no account."""
    namespace, short = name.split("/")
    if await target.api.is_org(namespace) is None and await target.api.ensure_org(namespace):
        report.created.append(f"organization {namespace}")
        log(f"created the organization {namespace}")
    if await target.api.ensure_repository(
        RepositoryInfo(namespace, short, {"visibility": "private"}),
        immutable=False,
        create_only=True,
    ):
        report.created.append(f"repository {name}")
        log(f"created the repository {name}")
    state.record_settings(name)


async def _finish(
    info: RepositoryInfo,
    source: _Side,
    target: _Side,
    state: ImportState,
    report: ImportReport,
    log: Log,
) -> None:
    """Immutability, then (an organization's namespace) its teams, members and grants."""
    await target.api.ensure_repository(info, immutable=True)
    if await source.api.is_org(info.namespace):
        teams = await source.api.teams(info.namespace)
        if info.namespace not in state.namespaces:
            await _organization(info.namespace, teams, source, target, report, log)
            state.record_namespace(info.namespace)
        for grant in await source.api.repository_grants(info.full_name, teams):
            await target.api.grant_repository(info.full_name, grant)
    state.record_settings(info.full_name)
    log(f"{info.full_name}: settings and grants copied")


async def _organization(
    org: str,
    teams: list[Team],
    source: _Side,
    target: _Side,
    report: ImportReport,
    log: Log,
) -> None:
    """Every team of the organization, the members who have an account on the target (the
    others reported), and the grants on the organization's namespace."""
    present: dict[str, bool] = {}

    async def exists(user: str) -> bool:
        if user not in present:
            present[user] = await target.api.is_org(user) is False
            if not present[user]:
                report.problems.append(f"{org}: the user {user} is not on the target: not a member")
        return present[user]

    for user, owner in await source.api.org_members(org):
        if await exists(user):
            await target.api.add_org_member(org, user, owner=owner)
    for team in teams:
        if await target.api.ensure_team(org, team.name, team.description):
            report.created.append(f"team {org}/{team.name}")
        for user in await source.api.team_members(org, team.name):
            if await exists(user):
                await target.api.add_team_member(org, team.name, user)
    for grant in await source.api.namespace_grants(org, teams):
        await target.api.grant_namespace(org, grant)
    log(f"{org}: teams, members and namespace grants copied")


async def verify(plan: ImportPlan, log: Log) -> ImportReport:
    """Every tag of every source repository: the same digest on the target."""
    report = ImportReport()
    async with _sides(plan, log) as (source, target):
        dtr = plan.settings and await source.api.has_api()
        for name in await _source_repositories(plan, source, dtr):
            report.repositories += 1
            for tag in await source.registry.tags(name):
                want = await source.registry.manifest_digest(name, tag)
                have = await target.registry.manifest_digest(name, tag)
                if want is None:
                    continue
                if have != want:
                    report.mismatches.append(f"{name}:{tag}: source {want}, target {have}")
                    log(f"{name}:{tag}: MISMATCH source {want}, target {have or 'missing'}")
                else:
                    report.tags_copied += 1
    return report
