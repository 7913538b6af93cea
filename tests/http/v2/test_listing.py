"""Tags list and catalog (spec "Listing Tags"; Docker Registry v2 catalog and pagination)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.http.v2.helpers import (
    assert_error,
    catalog_names,
    image_manifest,
    push_blob,
    push_manifest,
    random_bytes,
    unique_repo,
)
from tests.inprocess import ThreadedApp

# Byte order differs from case-insensitive and from locale collation on these.
TAGS = ["latest", "Zeta", "v1.10", "v1.9", "_hidden", "A", "a", "1.0", "10", "2", "B-b", "b_b"]
LINK = re.compile(r'^<(?P<url>/v2/[^>]+)>; rel="next"$')


@pytest.fixture(scope="module")
def tagged_repo(app_registry: ThreadedApp) -> tuple[str, list[str]]:
    repo = unique_repo("tags")
    with app_registry.client() as client:
        body = image_manifest(client, repo)
        for tag in TAGS:
            push_manifest(client, repo, tag, body)
    return repo, sorted(TAGS, key=lambda t: t.encode())


def test_full_list_is_bytewise_sorted(
    client: httpx.Client, tagged_repo: tuple[str, list[str]]
) -> None:
    repo, expected = tagged_repo
    assert expected[:3] == ["1.0", "10", "2"]
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"name": repo, "tags": expected}
    assert "Link" not in r.headers


def test_n_gives_exactly_n(client: httpx.Client, tagged_repo: tuple[str, list[str]]) -> None:
    repo, expected = tagged_repo
    half = len(expected) // 2
    r = client.get(f"/v2/{repo}/tags/list", params={"n": half})
    assert r.status_code == 200
    assert r.json()["tags"] == expected[:half]
    link = LINK.match(r.headers["Link"])
    assert link is not None, r.headers["Link"]


def test_pagination_by_link(client: httpx.Client, tagged_repo: tuple[str, list[str]]) -> None:
    repo, expected = tagged_repo
    seen: list[str] = []
    url: str | None = f"/v2/{repo}/tags/list?n=5"
    pages = 0
    while url is not None:
        r = client.get(url)
        assert r.status_code == 200
        page = r.json()["tags"]
        assert 0 < len(page) <= 5
        seen.extend(page)
        pages += 1
        link = r.headers.get("Link")
        if link is None:
            url = None
        else:
            match = LINK.match(link)
            assert match is not None, link
            url = match["url"]
            assert url.startswith(f"/v2/{repo}/tags/list?")
    assert seen == expected
    assert pages == 3


def test_last_is_exclusive(client: httpx.Client, tagged_repo: tuple[str, list[str]]) -> None:
    repo, expected = tagged_repo
    last = expected[len(expected) // 2 - 1]
    r = client.get(f"/v2/{repo}/tags/list", params={"last": last})
    assert r.status_code == 200
    assert r.json()["tags"] == expected[len(expected) // 2 :]
    r = client.get(f"/v2/{repo}/tags/list", params={"last": last, "n": 2})
    assert r.json()["tags"] == expected[len(expected) // 2 : len(expected) // 2 + 2]
    # ``last`` need not be an existing tag; after the greatest there is nothing.
    r = client.get(f"/v2/{repo}/tags/list", params={"last": "Zz"})
    assert r.json()["tags"] == [t for t in expected if t.encode() > b"Zz"]
    r = client.get(f"/v2/{repo}/tags/list", params={"last": expected[-1]})
    assert r.json()["tags"] == []
    assert "Link" not in r.headers


def test_n_zero_is_empty_without_link(
    client: httpx.Client, tagged_repo: tuple[str, list[str]]
) -> None:
    repo, _ = tagged_repo
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 0})
    assert r.status_code == 200
    assert r.json() == {"name": repo, "tags": []}
    assert "Link" not in r.headers


def test_n_larger_than_the_list(client: httpx.Client, tagged_repo: tuple[str, list[str]]) -> None:
    repo, expected = tagged_repo
    r = client.get(f"/v2/{repo}/tags/list", params={"n": len(expected)})
    assert r.json()["tags"] == expected
    assert "Link" not in r.headers
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 1000})
    assert r.json()["tags"] == expected
    assert "Link" not in r.headers


@pytest.mark.parametrize("n", ["-1", "abc", "1.5"])
def test_bad_n_is_400(client: httpx.Client, tagged_repo: tuple[str, list[str]], n: str) -> None:
    repo, _ = tagged_repo
    r = client.get(f"/v2/{repo}/tags/list", params={"n": n})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"]


def test_unknown_repository(client: httpx.Client) -> None:
    repo = unique_repo()
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")


def test_repository_without_tags(client: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(client, repo, random_bytes(5))
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": repo, "tags": []}


def test_catalog(client: httpx.Client) -> None:
    prefix = f"cat-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}/b", f"{prefix}/a", f"{prefix}-x/z", f"{prefix}/a/deep", f"{prefix}.dot/y"]
    for name in names:
        push_blob(client, name, random_bytes(3))
    expected = sorted(names, key=lambda n: n.encode())
    assert catalog_names(client, prefix) == expected
    # Pages of 2 starting before the prefix walk the same names in the same order.
    seen: list[str] = []
    r = client.get("/v2/_catalog", params={"n": 2, "last": prefix})
    while True:
        assert r.status_code == 200
        page = r.json()["repositories"]
        assert len(page) <= 2
        seen.extend(page)
        link = r.headers.get("Link")
        if link is None or not page or not page[-1].startswith(prefix):
            break
        match = LINK.match(link)
        assert match is not None, link
        assert match["url"].startswith("/v2/_catalog?")
        r = client.get(match["url"])
    assert [n for n in seen if n.startswith(prefix)] == expected
    assert seen == sorted(seen, key=lambda n: n.encode())
    # n=0: empty, no Link.
    r = client.get("/v2/_catalog", params={"n": 0})
    assert r.status_code == 200
    assert r.json() == {"repositories": []}
    assert "Link" not in r.headers
    # A full catalog request lists every one of them.
    full = client.get("/v2/_catalog").json()["repositories"]
    assert set(names) <= set(full)
    assert full == sorted(full, key=lambda n: n.encode())
