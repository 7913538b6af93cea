"""/api/v0 tags and manifests: DTR's tag objects, image details, paging, deletion, privacy."""

from __future__ import annotations

import httpx

from tests.auth.world import World
from tests.http.api.images import HISTORY, pages, push_image, push_index


def test_tags_paged_in_name_order(api: httpx.Client, world: World) -> None:
    repo = f"{world.name('alice')}/private-repo"
    alice = world.creds("alice")
    pushed = {tag: push_image(api, repo, tag, alice) for tag in ("v3", "v1", "latest", "v2", "a")}
    r = api.get(f"/api/v0/repositories/{repo}/tags", params={"pageSize": 2}, auth=alice)
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()] == ["a", "latest"]
    assert r.headers["X-Next-Page-Start"] == "v1"
    everything = pages(api, f"/api/v0/repositories/{repo}/tags", alice, pageSize=2)
    assert [t["name"] for t in everything] == ["a", "latest", "v1", "v2", "v3"]
    first = everything[0]
    assert first["digest"] == pushed["a"].digest
    assert first["author"] == world.name("alice")
    assert first["hashMismatch"] is False and first["inNotary"] is False
    assert first["createdAt"].endswith("Z") and first["updatedAt"].endswith("Z")
    # DTR lists manifest as required: there without includeManifests too
    assert first["manifest"]["digest"] == pushed["a"].digest


def test_include_manifests_has_layers_and_dockerfile(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/public-repo"
    pushed = push_image(api, repo, "web", world.admin)
    r = api.get(
        f"/api/v0/repositories/{repo}/tags",
        params={"includeManifests": "true", "pageStart": "web", "pageSize": 1},
        auth=world.creds("carol"),
    )
    assert r.status_code == 200, r.text
    (entry,) = r.json()
    assert entry["name"] == "web" and entry["author"] == world.admin[0]
    m = entry["manifest"]
    assert m["digest"] == pushed.digest
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert (m["os"], m["architecture"]) == ("linux", "amd64")
    assert m["labels"] == {"org.example.team": "blue"}
    assert [(layer["digest"], layer["size"]) for layer in m["layers"]] == pushed.layers
    assert m["size"] >= sum(n for _, n in pushed.layers)
    lines = m["dockerfile"]
    assert [line["line"] for line in lines] == [h["created_by"] for h in HISTORY]
    assert [line["emptyLayer"] for line in lines] == [False, True, False, True]
    assert [line["isEmpty"] for line in lines] == [False, True, False, True]
    assert lines[0]["layerDigest"] == pushed.layers[0][0]
    assert lines[2]["layerDigest"] == pushed.layers[1][0]
    assert lines[1]["layerDigest"] == "" and lines[3]["layerDigest"] == ""


def test_one_tag_and_manifest_list_platforms(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"
    dave = world.creds("dave")
    single = push_image(api, repo, "single", dave)
    r = api.get(f"/api/v0/repositories/{repo}/tags/single", auth=world.creds("carol"))
    assert r.status_code == 200, r.text
    (entry,) = r.json()
    assert entry["digest"] == single.digest and entry["author"] == world.name("dave")
    assert entry["manifest"]["architecture"] == "amd64"

    index_digest, children = push_index(api, repo, "multi", dave)
    r = api.get(f"/api/v0/repositories/{repo}/tags/multi", auth=dave)
    assert r.status_code == 200, r.text
    entries = r.json()
    assert len(entries) == 2
    assert all(e["name"] == "multi" and e["digest"] == index_digest for e in entries)
    assert [e["manifest"]["architecture"] for e in entries] == ["amd64", "arm64"]
    assert [e["manifest"]["digest"] for e in entries] == [c.digest for c in children]
    assert all(e["manifest"]["dockerfile"] for e in entries)

    by_digest = api.get(f"/api/v0/repositories/{repo}/tags/{single.digest}", auth=dave)
    assert by_digest.status_code == 200 and by_digest.json()[0]["digest"] == single.digest
    missing = api.get(f"/api/v0/repositories/{repo}/tags/nope", auth=dave)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NO_SUCH_REF"  # DTR's for tags/{reference}


def test_delete_tag_needs_read_write(api: httpx.Client, world: World) -> None:
    repo = f"{world.org}/private-repo"
    push_image(api, repo, "doomed", world.admin)
    r = api.delete(f"/api/v0/repositories/{repo}/tags/doomed", auth=world.creds("carol"))
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    r = api.delete(f"/api/v0/repositories/{repo}/tags/doomed", auth=world.creds("bob"))
    assert r.status_code in (401, 404)
    r = api.delete(f"/api/v0/repositories/{repo}/tags/doomed", auth=world.creds("dave"))
    assert r.status_code == 204, r.text
    assert api.get(f"/v2/{repo}/manifests/doomed", auth=world.admin).status_code == 404
    r = api.delete(f"/api/v0/repositories/{repo}/tags/doomed", auth=world.creds("dave"))
    assert r.status_code == 404


def test_manifests_paged_with_their_tags(api: httpx.Client, world: World) -> None:
    repo = f"{world.name('alice')}/public-repo"
    alice = world.creds("alice")
    one = push_image(api, repo, "one", alice)
    push_image(api, repo, "two", alice)
    r = api.put(
        f"/v2/{repo}/manifests/also-one",
        content=one.manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        auth=alice,
    )
    assert r.status_code == 201
    found = pages(api, f"/api/v0/repositories/{repo}/manifests", None, pageSize=1)
    assert [m["digest"] for m in found] == sorted(m["digest"] for m in found)
    assert len(found) == 2
    by_digest = {m["digest"]: m for m in found}
    assert by_digest[one.digest]["tags"] == ["also-one", "one"]
    assert by_digest[one.digest]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert by_digest[one.digest]["size"] == len(one.manifest)


def test_private_repositories_hidden(api: httpx.Client, world: World) -> None:
    repo = f"{world.name('alice')}/private-repo"
    push_image(api, repo, "secret", world.creds("alice"))
    for who in ("bob", "carol", "anonymous"):
        auth = world.creds(who)
        for path in ("tags", "tags/secret", "manifests", "events"):
            r = api.get(f"/api/v0/repositories/{repo}/{path}", auth=auth)
            assert r.status_code == 404, (who, path, r.status_code, r.text)
    assert api.get(f"/api/v0/repositories/{repo}/tags", auth=world.admin).status_code == 200
    public = f"{world.org}/public-repo"
    assert api.get(f"/api/v0/repositories/{public}/tags").status_code == 200
    assert (
        api.get(f"/api/v0/repositories/{public}/tags", auth=world.creds("bob")).status_code == 200
    )
