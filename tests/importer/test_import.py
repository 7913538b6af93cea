"""``moorage import`` from one Moorage (a DTR-API source) into another, both in this process
and served on loopback sockets, reached through the outbound guard (loopback allowed by the
plan's allow-list): tags and indexes by digest, blobs mounted or skipped, settings, orgs,
teams and grants; resumable through the state file; verifiable; refused without the
allow-list."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorage.cli.main import main
from moorage.errors import MoorageError
from moorage.importer.run import Endpoint, ImportPlan, ImportReport, run_import, verify
from moorage.importer.transport import Credentials
from moorage.remote import outbound
from tests.importer.images import push_image, push_index, push_referrer
from tests.importer.served import served
from tests.inprocess import ADMIN, ThreadedApp, threaded_app

LOOPBACK = outbound.Guard(allowed=[ipaddress.ip_network("127.0.0.0/8")], setting="test")
PASSWORD = "alice-password-123"


@pytest.fixture(scope="module")
def source_app(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    with threaded_app(tmp_path_factory.mktemp("source"), database_factory()) as app:
        yield app


@pytest.fixture(scope="module")
def target_app(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    with threaded_app(tmp_path_factory.mktemp("target"), database_factory()) as app:
        with app.client() as c:  # bob and frank have accounts on both sides, alice not
            for user in ("bob", "frank"):
                _ok(c.post("/enzi/v0/accounts", json={"name": user, "password": PASSWORD}))
        yield app


@pytest.fixture(scope="module")
def urls(source_app: ThreadedApp, target_app: ThreadedApp) -> Iterator[tuple[str, str]]:
    with served(source_app) as source, served(target_app) as target:
        yield source, target


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


@pytest.fixture(scope="module")
def images(source_app: ThreadedApp) -> dict[str, str]:
    """On the source: org acme (teams ro, rw), acme/app (private, immutable, described),
    acme/lib (public, an index), grants on both levels, and alice/tool of a user."""
    digests: dict[str, str] = {}
    with source_app.client() as c:
        _ok(c.post("/enzi/v0/accounts", json={"name": "acme", "isOrg": True}))
        for user in ("alice", "bob", "frank"):
            _ok(c.post("/enzi/v0/accounts", json={"name": user, "password": PASSWORD}))
        _ok(c.put("/enzi/v0/accounts/acme/members/frank", json={"isAdmin": True}))
        for team, about in (("ro", "readers"), ("rw", "writers"), ("idle", "no grants")):
            _ok(c.post("/enzi/v0/accounts/acme/teams", json={"name": team, "description": about}))
        _ok(c.put("/enzi/v0/accounts/acme/teams/ro/members/alice"))
        _ok(c.put("/enzi/v0/accounts/acme/teams/rw/members/bob"))
        _ok(
            c.post(
                "/api/v0/repositories/acme",
                json={
                    "name": "app",
                    "visibility": "private",
                    "shortDescription": "the app",
                    "longDescription": "all about the app",
                    "scanOnPush": True,
                },
            )
        )
        _ok(c.post("/api/v0/repositories/acme", json={"name": "lib", "visibility": "public"}))
        shared = b"a layer both repositories hold" * 64
        digests["acme/app:v1"] = push_image(c, "acme/app", "v1", layers=[shared])
        digests["acme/app:v2"] = push_image(c, "acme/app", "v2")
        digests["signature"] = push_referrer(c, "acme/app", digests["acme/app:v2"])
        digests["acme/lib:base"] = push_image(c, "acme/lib", "base", layers=[shared])
        digests["acme/lib:multi"] = push_index(c, "acme/lib", "multi")
        _ok(c.patch("/api/v0/repositories/acme/app", json={"immutableTags": True}))
        _ok(c.put("/api/v0/repositories/acme/app/teamAccess/ro", json={"accessLevel": "read-only"}))
        _ok(
            c.put(
                "/api/v0/repositoryNamespaces/acme/teamAccess/rw",
                json={"accessLevel": "read-write"},
            )
        )
        _ok(c.post("/api/v0/repositories/alice", json={"name": "tool"}))
        push_image(c, "alice/tool", "latest")
    return digests


def _plan(urls: tuple[str, str], state: Path | None = None, **kw: Any) -> ImportPlan:
    admin = Credentials(*ADMIN)
    return ImportPlan(
        source=Endpoint(urls[0], admin),
        target=Endpoint(urls[1], admin),
        guard=kw.pop("guard", LOOPBACK),
        state_file=state,
        **kw,
    )


def _run(plan: ImportPlan) -> tuple[ImportReport, list[str]]:
    lines: list[str] = []
    return asyncio.run(run_import(plan, lines.append)), lines


@pytest.fixture(scope="module")
def first_run(
    urls: tuple[str, str], images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[ImportReport, Path]:
    state = tmp_path_factory.mktemp("state") / "import.json"
    report, _ = _run(_plan(urls, state))
    return report, state


def test_every_tag_is_copied_by_digest(
    first_run: tuple[ImportReport, Path], images: dict[str, str], target_app: ThreadedApp
) -> None:
    report, _ = first_run
    tags = {ref: digest for ref, digest in images.items() if ":" in ref}
    assert report.tags_copied == len(tags), report.problems
    with target_app.client() as c:
        for ref, digest in tags.items():
            repo, tag = ref.split(":")
            r = c.get(
                f"/v2/{repo}/manifests/{tag}",
                headers={
                    "Accept": "application/vnd.oci.image.index.v1+json, "
                    "application/vnd.oci.image.manifest.v1+json"
                },
            )
            assert r.status_code == 200, (ref, r.text)
            assert r.headers["Docker-Content-Digest"] == digest, ref
        index = c.get(
            "/v2/acme/lib/manifests/multi",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        ).json()
        for child in index["manifests"]:
            r = c.get(
                f"/v2/acme/lib/manifests/{child['digest']}",
                headers={"Accept": child["mediaType"]},
            )
            assert r.status_code == 200, child
            for layer in r.json()["layers"]:
                assert c.head(f"/v2/acme/lib/blobs/{layer['digest']}").status_code == 200


def test_referrers_follow_their_subject(
    first_run: tuple[ImportReport, Path], images: dict[str, str], target_app: ThreadedApp
) -> None:
    report, _ = first_run
    assert report.counts.referrers == 1
    with target_app.client() as c:
        r = c.get(f"/v2/acme/app/referrers/{images['acme/app:v2']}")
        assert r.status_code == 200, r.text
        assert [d["digest"] for d in r.json()["manifests"]] == [images["signature"]]


def test_shared_blobs_are_mounted_not_uploaded_twice(
    first_run: tuple[ImportReport, Path],
) -> None:
    report, _ = first_run
    # the shared layer and the one config of every amd64 image live in both repositories
    assert report.counts.blobs_mounted >= 2, report.counts
    assert report.counts.blobs_uploaded > 0


def test_settings_orgs_teams_and_grants_are_copied(
    first_run: tuple[ImportReport, Path], target_app: ThreadedApp
) -> None:
    report, _ = first_run
    assert "organization acme" in report.created
    assert {"team acme/ro", "team acme/rw", "team acme/idle"} <= set(report.created)
    with target_app.client() as c:
        app = _ok(c.get("/api/v0/repositories/acme/app"))
        assert app["visibility"] == "private"
        assert app["immutableTags"] is True
        assert app["scanOnPush"] is True
        assert app["shortDescription"] == "the app"
        assert app["longDescription"] == "all about the app"
        assert _ok(c.get("/api/v0/repositories/acme/lib"))["visibility"] == "public"
        teams = {
            t["name"]: t["description"] for t in _ok(c.get("/enzi/v0/accounts/acme/teams"))["teams"]
        }
        assert teams == {"ro": "readers", "rw": "writers", "idle": "no grants"}
        members = _ok(c.get("/enzi/v0/accounts/acme/members"))["members"]
        owners = {m["member"]["name"]: m["isAdmin"] for m in members}
        assert owners.get("frank") is True and "alice" not in owners
        rw = _ok(c.get("/enzi/v0/accounts/acme/teams/rw/members"))["members"]
        assert [m["member"]["name"] for m in rw] == ["bob"]
        assert _ok(c.get("/enzi/v0/accounts/acme/teams/ro/members"))["members"] == []
        repo_access = _ok(c.get("/api/v0/repositories/acme/app/teamAccess"))["teamAccessList"]
        assert [(a["team"]["name"], a["accessLevel"]) for a in repo_access] == [("ro", "read-only")]
        ns_access = _ok(c.get("/api/v0/repositoryNamespaces/acme/teamAccess"))["teamAccessList"]
        assert [(a["team"]["name"], a["accessLevel"]) for a in ns_access] == [("rw", "read-write")]


def test_a_user_missing_on_the_target_is_reported(first_run: tuple[ImportReport, Path]) -> None:
    report, _ = first_run
    assert sorted(report.problems) == [
        "acme: the user alice is not on the target: not a member",
        "alice/tool: the user alice does not exist on the target: create the account "
        "(or let it sign in through LDAP) and run the import again",
    ], report.problems


def test_a_second_run_skips_what_is_done(
    urls: tuple[str, str], first_run: tuple[ImportReport, Path], images: dict[str, str]
) -> None:
    _, state = first_run
    report, _ = _run(_plan(urls, state))
    assert report.tags_copied == 0
    assert report.tags_skipped == len([ref for ref in images if ":" in ref])
    assert report.counts.blobs_uploaded == 0


def test_verify_compares_every_tag(
    urls: tuple[str, str], first_run: tuple[ImportReport, Path], source_app: ThreadedApp
) -> None:
    lines: list[str] = []
    plan = _plan(urls, repositories=("acme/app", "acme/lib"))
    report = asyncio.run(verify(plan, lines.append))
    assert report.mismatches == [] and report.tags_copied == 4
    with source_app.client() as c:
        push_image(c, "acme/lib", "base")  # the tag moves on the source
    report = asyncio.run(verify(plan, lines.append))
    assert len(report.mismatches) == 1 and report.mismatches[0].startswith("acme/lib:base")
    # and the next import copies just that one
    report, _ = _run(_plan(urls, first_run[1]))
    assert report.tags_copied == 1


def test_without_the_allow_list_nothing_is_reached(urls: tuple[str, str]) -> None:
    with pytest.raises(outbound.TargetRefused):
        _run(_plan(urls, guard=outbound.Guard()))


def test_the_command_line(
    urls: tuple[str, str],
    first_run: tuple[ImportReport, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, target = urls
    monkeypatch.setenv("MOORAGE_IMPORT_SOURCE_PASSWORD", ADMIN[1])
    monkeypatch.setenv("MOORAGE_IMPORT_TARGET_PASSWORD", ADMIN[1])
    common = [
        "import", "--source", source, "--target", target,
        "--source-user", ADMIN[0], "--target-user", ADMIN[0],
        "--allow-network", "127.0.0.0/8", "--repository", "acme/lib",
    ]  # fmt: skip
    # what was not copied (alice, no account on the target) is said, and the exit is 1
    assert main([*common, "--state", str(tmp_path / "s.json")]) == 1
    assert main([*common, "--verify"]) == 0
    out = capsys.readouterr()
    assert "imported 2 tags" in out.out and "verified 2 tags" in out.out
    assert "problem: acme: the user alice is not on the target" in out.out
    assert ADMIN[1] not in out.out + out.err
    # no allow-list: refused, said plainly, exit 1
    assert main([*common[:-4], "--repository", "acme/lib"]) == 1
    assert "may not be reached" in capsys.readouterr().err


def test_wrong_credentials_fail_cleanly(urls: tuple[str, str]) -> None:
    plan = ImportPlan(
        source=Endpoint(urls[0], Credentials("admin", "wrong-password")),
        target=Endpoint(urls[1], Credentials(*ADMIN)),
        guard=LOOPBACK,
        repositories=("acme/app",),
    )
    report, _ = _run(plan)
    assert report.tags_copied == 0 and report.problems
    assert "wrong-password" not in " ".join(report.problems)
    assert isinstance(MoorageError("x"), MoorageError)
