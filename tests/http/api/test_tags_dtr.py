"""Tags and manifests as DTR 2.7's ``responses.Tag`` / ``ListTag`` / ``Manifest`` /
``DockerfileLine`` (``dtr_definitions/tags.json``), their paging headers and deletion."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from moorage.registry import browse
from tests.auth.world import World, digest_of
from tests.http.api.dtr_schema import assert_matches
from tests.http.api.images import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, push_image

# vuln_summary is DTR's flat summary on a tag: layer_details only on the scan summary routes.
SUMMARY_LEFT_OUT = {"vuln_summary.layer_details"}
# The list's manifest without includeManifests (DTR's default): only what the tag's row knows.
THIN_MANIFEST_LEFT_OUT = {
    f"manifest.{name}"
    for name in (
        "architecture",
        "author",
        "configMediaType",
        "dockerfile",
        "os",
        "osVersion",
        "size",
    )
}


def _windows_image(api: httpx.Client, repo: str, tag: str, auth: tuple[str, str] | None) -> str:
    """An image whose config has ``os.version`` and whose layer names ``urls``."""

    def blob(data: bytes) -> str:
        r = api.post(
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": digest_of(data)},
            content=data,
            auth=auth,
        )
        assert r.status_code == 201, r.text
        return digest_of(data)

    layer = uuid.uuid4().bytes * 16
    config = json.dumps(
        {
            "os": "windows",
            "os.version": "10.0.17763.1879",
            "architecture": "amd64",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
            "history": [{"created_by": "Apply image 10.0.17763.1879"}],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": blob(config), "size": len(config)},
            "layers": [
                {
                    "mediaType": OCI_LAYER,
                    "digest": blob(layer),
                    "size": len(layer),
                    "urls": ["https://example.com/layer.tgz"],
                }
            ],
        }
    ).encode()
    r = api.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
        auth=auth,
    )
    assert r.status_code == 201, r.text
    return digest_of(manifest)


def test_tag_list_is_dtrs_list_tag_with_manifest_always(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/public-repo"
    pushed = push_image(api, repo, "v1", world.admin)
    for params in ({}, {"includeManifests": "false", "domain": "dtr.example.com"}):
        r = api.get(f"/api/v0/repositories/{repo}/tags", params=params, auth=world.creds("carol"))
        assert r.status_code == 200, r.text
        (entry,) = r.json()
        assert_matches(entry, "responses.ListTag", leave_out=THIN_MANIFEST_LEFT_OUT)
        m = entry["manifest"]
        assert set(m) == {"digest", "mediaType", "configDigest", "createdAt"}
        assert (m["digest"], m["mediaType"]) == (pushed.digest, OCI_MANIFEST)
        assert m["configDigest"].startswith("sha256:")
        assert "components" not in entry and "licenses" not in entry  # a ListTag has neither
    for params in ({"includeManifests": "true"},):
        r = api.get(f"/api/v0/repositories/{repo}/tags", params=params, auth=world.creds("carol"))
        assert r.status_code == 200, r.text
        (entry,) = r.json()
        assert_matches(entry, "responses.ListTag")
        assert entry["manifest"]["digest"] == pushed.digest
        assert entry["mirroring"] is None and entry["promotion"] is None  # no such features
        lines = entry["manifest"]["dockerfile"]
        assert [line["isEmpty"] for line in lines] == [False, True, False, True]
        assert [line["isEmpty"] for line in lines] == [line["emptyLayer"] for line in lines]
        assert [line["mediaType"] for line in lines] == [OCI_LAYER, "", OCI_LAYER, ""]
        assert all(line["urls"] == [] for line in lines)
        assert entry["manifest"]["osVersion"] == ""


def test_one_tag_is_dtrs_tag_with_os_version_and_urls(api: httpx.Client, world: World) -> None:
    repo = f"{world.name('alice')}/private-repo"
    alice = world.creds("alice")
    digest = _windows_image(api, repo, "ltsc2019", alice)
    r = api.get(f"/api/v0/repositories/{repo}/tags/ltsc2019", auth=alice)
    assert r.status_code == 200, r.text
    (entry,) = r.json()
    assert_matches(entry, "responses.Tag", leave_out=SUMMARY_LEFT_OUT)
    assert entry["components"] == [] and entry["licenses"] == []  # never scanned
    m = entry["manifest"]
    assert (m["digest"], m["os"], m["osVersion"]) == (digest, "windows", "10.0.17763.1879")
    (line,) = m["dockerfile"]
    assert line["urls"] == ["https://example.com/layer.tgz"] and line["isEmpty"] is False
    assert line["mediaType"] == OCI_LAYER
    assert entry["vuln_summary"]["tag"] == "ltsc2019"


def test_manifest_list_is_dtrs_manifest_with_extras(api: httpx.Client, world: World) -> None:
    repo = f"{world.name('alice')}/private-repo"
    alice = world.creds("alice")
    digest = _windows_image(api, repo, "win", alice)
    other = push_image(api, repo, "linux", alice)
    r = api.get(
        f"/api/v0/repositories/{repo}/manifests",
        params={"count": "true", "pageSize": 100},
        auth=alice,
    )
    assert r.status_code == 200, r.text
    by_digest = {m["digest"]: m for m in r.json()}
    assert r.headers["X-Resource-Count"] == str(len(by_digest)) and len(by_digest) >= 2
    assert "X-Next-Page-Start" not in r.headers
    for entry in by_digest.values():
        assert_matches(entry, "responses.Manifest")
    win = by_digest[digest]
    assert (win["os"], win["osVersion"], win["architecture"]) == (
        "windows",
        "10.0.17763.1879",
        "amd64",
    )
    assert win["configMediaType"] == OCI_CONFIG and win["tags"] == ["win"]
    assert win["subject"] == "" and win["artifactType"]  # Moorage extras kept
    linux = by_digest[other.digest]
    assert linux["author"] == "someone@example.com" and len(linux["dockerfile"]) == 4
    # paged as DTR's lists: one a page, the next page's start in X-Next-Page-Start
    first = api.get(f"/api/v0/repositories/{repo}/manifests", params={"pageSize": 1}, auth=alice)
    assert first.status_code == 200 and len(first.json()) == 1
    assert "X-Resource-Count" not in first.headers
    start = first.headers["X-Next-Page-Start"]
    second = api.get(
        f"/api/v0/repositories/{repo}/manifests",
        params={"pageSize": 1, "pageStart": start},
        auth=alice,
    )
    assert [m["digest"] for m in first.json() + second.json()] == sorted(by_digest)[:2]


def test_tag_list_counts(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"
    dave = world.creds("dave")
    for tag in ("a", "b", "c"):
        push_image(api, repo, tag, dave)
    r = api.get(
        f"/api/v0/repositories/{repo}/tags", params={"count": "true", "pageSize": 2}, auth=dave
    )
    assert r.status_code == 200, r.text
    everything = api.get(f"/api/v0/repositories/{repo}/tags", params={"pageSize": 100}, auth=dave)
    names = [t["name"] for t in everything.json()]
    assert {"a", "b", "c"} <= set(names) and len(names) >= 3
    assert r.headers["X-Resource-Count"] == str(len(names))
    assert (
        r.headers["X-Next-Page-Start"] == names[2] and "X-Resource-Count" not in everything.headers
    )


def test_private_lists_refused_to_outsiders(api: httpx.Client, world: World) -> None:
    repo = f"{world.name('alice')}/private-repo"
    push_image(api, repo, "v1", world.creds("alice"))
    for path in ("tags", "tags/v1", "manifests"):
        for who in ("anonymous", "bob", "carol"):
            r = api.get(f"/api/v0/repositories/{repo}/{path}", auth=world.creds(who))
            assert r.status_code in {401, 403, 404}, (path, who, r.status_code)
            assert r.json()["errors"][0]["code"]


def test_delete_manifest_as_dtr(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"
    pushed = push_image(api, repo, "gone", world.creds("dave"))
    path = f"/api/v0/repositories/{repo}/manifests/{pushed.digest}"
    assert api.delete(path).status_code == 401  # anonymous
    r = api.delete(path, auth=world.creds("carol"))  # read-only
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    r = api.delete(f"/api/v0/repositories/{repo}/manifests/gone", auth=world.creds("dave"))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_DIGEST"
    assert api.delete(path, auth=world.creds("dave")).status_code == 204
    tags = api.get(f"/api/v0/repositories/{repo}/tags", auth=world.creds("dave")).json()
    assert "gone" not in [t["name"] for t in tags]  # its tags went with it
    r = api.delete(path, auth=world.creds("dave"))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_REF"  # DTR's


def test_delete_tag_as_dtr(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/public-repo"
    pushed = push_image(api, repo, "old", world.creds("dave"))
    path = f"/api/v0/repositories/{repo}/tags/old"
    assert api.delete(path).status_code == 401
    assert api.delete(path, auth=world.creds("carol")).status_code == 403
    r = api.delete(f"/api/v0/repositories/{repo}/tags/{pushed.digest}", auth=world.creds("dave"))
    assert r.status_code == 400
    assert api.delete(path, auth=world.creds("dave")).status_code == 204
    r = api.delete(path, auth=world.creds("dave"))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NO_SUCH_TAG"
    # the manifest stays: only the tag went
    r = api.get(f"/api/v0/repositories/{repo}/manifests", auth=world.creds("dave"))
    assert pushed.digest in [m["digest"] for m in r.json()]


def test_the_list_reads_no_manifest_without_include_manifests(
    api: httpx.Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DTR's default (``includeManifests=false``) parses no manifest and reads no config."""
    repo = f"{world.org}/public-repo"
    push_image(api, repo, "cheap", world.admin)

    calls: list[str] = []
    real = browse.image_details

    async def counting(*args: Any, **kwargs: Any) -> browse.ImageDetails:
        calls.append(str(args[1]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(browse, "image_details", counting)
    r = api.get(f"/api/v0/repositories/{repo}/tags", params={"pageSize": 100}, auth=world.admin)
    assert r.status_code == 200, r.text
    assert "cheap" in [t["name"] for t in r.json()] and calls == []
    r = api.get(
        f"/api/v0/repositories/{repo}/tags",
        params={"pageSize": 100, "includeManifests": "true"},
        auth=world.admin,
    )
    assert r.status_code == 200 and len(calls) == len(r.json())  # with manifests: read, once each


def test_a_digest_answers_for_every_tag_naming_it(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"
    dave = world.creds("dave")
    pushed = push_image(api, repo, "first-name", dave)
    manifest = api.get(f"/v2/{repo}/manifests/first-name", auth=dave)
    r = api.put(
        f"/v2/{repo}/manifests/second-name",
        content=manifest.content,
        headers={"Content-Type": manifest.headers["Content-Type"]},
        auth=dave,
    )
    assert r.status_code == 201, r.text
    r = api.get(f"/api/v0/repositories/{repo}/tags/{pushed.digest}", auth=dave)
    assert r.status_code == 200, r.text
    entries = r.json()
    names = [e["name"] for e in entries]
    assert {"first-name", "second-name"} <= set(names) and names == sorted(names)
    for entry in entries:
        assert_matches(entry, "responses.Tag", leave_out=SUMMARY_LEFT_OUT)
        assert entry["digest"] == entry["manifest"]["digest"] == pushed.digest
        assert entry["vuln_summary"]["tag"] == entry["name"]
    # with no tag left, the manifest answers once, named by its digest
    for name in names:
        assert api.delete(f"/api/v0/repositories/{repo}/tags/{name}", auth=dave).status_code == 204
    r = api.get(f"/api/v0/repositories/{repo}/tags/{pushed.digest}", auth=dave)
    assert r.status_code == 200, r.text
    (alone,) = r.json()
    assert alone["name"] == pushed.digest and alone["vuln_summary"]["tag"] == ""


def _code(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    (error,) = r.json()["errors"]
    assert error["message"], r.text
    code: str = error["code"]
    return code


def test_dtrs_errors_for_tags_and_manifests(api: httpx.Client, world: World) -> None:
    """DTR's codes, in its envelope: a missing namespace or repository NO_SUCH_REPOSITORY
    (also for one the caller may not see), a missing tag NO_SUCH_TAG (delete) or NO_SUCH_REF
    (read), too low a level NOT_AUTHORIZED, a query it cannot parse INVALID_PARAMETERS."""
    repo = f"{world.org}/private-repo"
    dave, bob, carol = world.creds("dave"), world.creds("bob"), world.creds("carol")
    pushed = push_image(api, repo, "kept", dave)
    base = f"/api/v0/repositories/{repo}"
    for missing in (f"{world.org}/no-such-repo", f"no-such-ns-{world.suffix}/app"):
        other = f"/api/v0/repositories/{missing}"
        for method, path in (
            ("GET", "tags"),
            ("GET", "tags/kept"),
            ("DELETE", "tags/kept"),
            ("GET", "manifests"),
            ("DELETE", f"manifests/{pushed.digest}"),
        ):
            r = api.request(method, f"{other}/{path}", auth=world.admin)
            assert _code(r, 404) == "NO_SUCH_REPOSITORY", (method, path)
    for method, path in (("GET", "tags"), ("GET", "tags/kept"), ("GET", "manifests")):
        assert _code(api.request(method, f"{base}/{path}", auth=bob), 404) == "NO_SUCH_REPOSITORY"
    assert _code(api.delete(f"{base}/tags/kept", auth=bob), 404) == "NO_SUCH_REPOSITORY"
    assert _code(api.delete(f"{base}/tags/kept", auth=carol), 403) == "NOT_AUTHORIZED"
    assert _code(api.get(f"{base}/tags/nope", auth=dave), 404) == "NO_SUCH_REF"
    assert _code(api.delete(f"{base}/tags/nope", auth=dave), 404) == "NO_SUCH_TAG"
    for path in ("tags", "manifests"):
        for bad in ({"pageSize": "0"}, {"pageSize": "many"}, {"count": "maybe"}):
            r = api.get(f"{base}/{path}", params=bad, auth=dave)
            assert _code(r, 400) == "INVALID_PARAMETERS", (path, bad)
    r = api.get(f"{base}/tags", params={"includeManifests": "maybe"}, auth=dave)
    assert _code(r, 400) == "INVALID_PARAMETERS"
    # what was refused changed nothing
    tags = api.get(f"{base}/tags", params={"pageSize": 100}, auth=dave).json()
    assert "kept" in [t["name"] for t in tags]
