"""The UI's browsing pages in process: anonymous visitors on public repositories, tag deletion,
counted and paged lists, artifacts, config values in words, the not-found page, tab titles,
big indexes a page at a time, and e-mail addresses kept to admins and their owner."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.auth.world import PASSWORD
from tests.http.ui import content
from tests.inprocess import InProcessApp

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def title_of(page: httpx.Response) -> str:
    found = TITLE.search(page.text)
    assert found, page.text[:500]
    return found.group(1).strip()


@pytest.fixture()
async def world(inproc: InProcessApp) -> InProcessApp:
    """alice owns alice/shop (public, tag latest) and alice/vault (private, tag latest);
    bob has no grant anywhere; carol reads and dave writes org acme's acme/app (private)."""
    async with inproc.client() as admin:
        alice = await content.user(admin, "alice", email="alice@example.com")
        await content.user(admin, "bob", email="bob@example.com")
        await content.user(admin, "carol")
        await content.user(admin, "dave")
        await content.repository(admin, "alice", "shop", "public", auth=alice)
        await content.repository(admin, "alice", "vault", "private", auth=alice)
        await content.image(admin, "alice/shop", "latest")
        await content.image(admin, "alice/vault", "latest")
        await content.ok(
            await admin.post("/enzi/v0/accounts", json={"name": "acme", "isOrg": True})
        )
        await content.repository(admin, "acme", "app", "private")
        for team, member, level in (
            ("readers", "carol", "read-only"),
            ("writers", "dave", "read-write"),
        ):
            await content.ok(await admin.post("/enzi/v0/accounts/acme/teams", json={"name": team}))
            await content.ok(
                await admin.put(f"/enzi/v0/accounts/acme/teams/{team}/members/{member}")
            )
            await content.ok(
                await admin.put(
                    f"/api/v0/repositories/acme/app/teamAccess/{team}", json={"accessLevel": level}
                )
            )
        for tag in ("one", "two"):
            await content.image(admin, "acme/app", tag)
    return inproc


def _swap(text: str, a: str, b: str) -> str:
    return (
        text.replace(a, "X")
        .replace(a.replace("/", "%2F"), "X")
        .replace(b, "X")
        .replace(b.replace("/", "%2F"), "X")
    )


# ---- anonymous visitors ----------------------------------------------------------------------


async def test_anonymous_visitors_browse_public_repositories_read_only(world: InProcessApp) -> None:
    async with world.client(auth=None) as anon:
        home = await anon.get("/", follow_redirects=True)
        assert home.status_code == 200 and str(home.url).endswith("/repositories")
        assert "alice/shop" in home.text
        assert "alice/vault" not in home.text and "acme/app" not in home.text
        assert 'id="sign-in-link"' in home.text and 'id="new-repository"' not in home.text
        assert "Repositories 1\u20131 of 1." in home.text

        tags = await anon.get("/repositories/alice/shop")
        assert tags.status_code == 200
        assert "latest" in tags.text and "public, read-only" in tags.text
        assert 'id="tab-activity"' not in tags.text and 'id="tab-settings"' not in tags.text
        assert "Delete" not in tags.text
        image = await anon.get("/repositories/alice/shop/tags/latest")
        assert image.status_code == 200 and 'id="layers"' in image.text

        # Private and missing repositories: the same 404 page, word for word.
        for suffix in ("", "/tags/latest", "/tags/nope"):
            hidden = await anon.get(f"/repositories/alice/vault{suffix}")
            missing = await anon.get(f"/repositories/alice/nothere{suffix}")
            assert hidden.status_code == missing.status_code == 404
            assert _swap(hidden.text, "alice/vault", "alice/nothere") == _swap(
                missing.text, "alice/nothere", "alice/vault"
            )
            assert "latest" not in hidden.text.replace("tags/latest", "")
        search = await anon.get("/repositories", params={"q": "a"})
        assert "alice/shop" in search.text and "vault" not in search.text
        assert "acme/app" not in search.text

        # Everything else asks to sign in, and nothing changes.
        for path in (
            "/repositories/alice/shop/activity",
            "/repositories/alice/shop/settings",
            "/repositories/alice/shop/tags/latest/delete",
            "/repositories/new",
            "/tokens",
        ):
            r = await anon.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
        r = await anon.post("/repositories/alice/shop/tags/latest/delete", data={"csrf": "x"})
        assert r.status_code == 403
    async with world.client() as admin:
        assert (await admin.get("/api/v0/repositories/alice/shop/tags/latest")).status_code == 200


# ---- deleting a tag --------------------------------------------------------------------------


async def test_a_writer_deletes_a_tag_after_confirming(world: InProcessApp) -> None:
    async with content.signed_in(world, "dave", PASSWORD) as dave:
        tags = await dave.get("/repositories/acme/app")
        assert 'id="delete-one"' in tags.text
        confirm = await dave.get("/repositories/acme/app/tags/one/delete")
        assert confirm.status_code == 200 and "Delete tag one?" in confirm.text
        r = await dave.post("/repositories/acme/app/tags/one/delete", data={"csrf": "wrong"})
        assert r.status_code == 403
        assert (await dave.get("/repositories/acme/app/tags/one")).status_code == 200
        r = await dave.post(
            "/repositories/acme/app/tags/one/delete", data={"csrf": content.csrf_of(confirm)}
        )
        assert r.status_code == 303 and r.headers["location"].endswith("?deleted=one")
        after = await dave.get(r.headers["location"])
        assert "Tag one deleted." in after.text and 'id="delete-one"' not in after.text
        assert (await dave.get("/repositories/acme/app/tags/one")).status_code == 404
        assert (await dave.get("/repositories/acme/app/tags/two")).status_code == 200


async def test_readers_and_immutable_tags_cannot_delete(world: InProcessApp) -> None:
    async with content.signed_in(world, "carol", PASSWORD) as carol:
        tags = await carol.get("/repositories/acme/app")
        assert tags.status_code == 200 and "Delete" not in tags.text
        assert (await carol.get("/repositories/acme/app/tags/one/delete")).status_code == 403
        r = await carol.post(
            "/repositories/acme/app/tags/one/delete", data={"csrf": content.csrf_of(tags)}
        )
        assert r.status_code == 403
    async with world.client() as admin:
        await content.ok(
            await admin.patch("/api/v0/repositories/acme/app", json={"immutableTags": True})
        )
    async with content.signed_in(world, "dave", PASSWORD) as dave:
        tags = await dave.get("/repositories/acme/app")
        assert 'id="immutable-note"' in tags.text and 'id="delete-one"' not in tags.text
        r = await dave.post(
            "/repositories/acme/app/tags/one/delete", data={"csrf": content.csrf_of(tags)}
        )
        assert r.status_code == 403 and "immutable" in r.text
        assert (await dave.get("/repositories/acme/app/tags/one")).status_code == 200
    async with content.signed_in(
        world, "bob", PASSWORD
    ) as bob:  # no access at all: the repository does not exist for bob
        assert (await bob.get("/repositories/acme/app/tags/one/delete")).status_code == 404


# ---- counts and paging -----------------------------------------------------------------------


async def test_repository_list_and_search_count_and_page_both_ways(world: InProcessApp) -> None:
    async with world.client() as admin:
        for n in range(120):
            await content.repository(admin, "acme", f"svc{n:03d}", "private")
    async with content.signed_in(world, *world.admin) as admin_ui:
        first = await admin_ui.get("/repositories")
        assert "Repositories 1\u201350 of 123." in first.text  # 120 + shop, vault, app
        assert 'id="previous-page"' not in first.text
        nxt = re.search(r'href="([^"]+)" id="next-page"', first.text)
        assert nxt
        second = await admin_ui.get("/repositories" + nxt.group(1).replace("&amp;", "&"))
        assert "Repositories 51\u2013100 of 123." in second.text
        prev = re.search(r'href="([^"]+)" id="previous-page"', second.text)
        assert prev
        back = await admin_ui.get("/repositories" + prev.group(1).replace("&amp;", "&"))
        assert "Repositories 1\u201350 of 123." in back.text
        assert re.findall(r'<td><a href="/repositories/([^"]+)">', back.text) == re.findall(
            r'<td><a href="/repositories/([^"]+)">', first.text
        )

        search = await admin_ui.get("/repositories", params={"q": "svc"})
        assert "120 repositories match “svc”: 1\u201350 shown." in search.text
        page3 = await admin_ui.get("/repositories", params={"q": "svc", "page": "3"})
        assert "101\u2013120 shown" in page3.text and 'id="next-page"' not in page3.text
        assert page3.text.count('<td><a href="/repositories/acme/svc') == 20
        assert 'href="?q=svc&amp;page=2" id="previous-page"' in page3.text
    async with content.signed_in(
        world, "carol", PASSWORD
    ) as carol:  # counts count only what the viewer may see
        r = await carol.get("/repositories")
        assert "Repositories 1\u20132 of 2." in r.text
        r = await carol.get("/repositories", params={"q": "svc"})
        assert "0 repositories match" in r.text


# ---- what a manifest is ----------------------------------------------------------------------


async def test_an_artifact_shows_as_an_artifact_linked_to_its_subject(world: InProcessApp) -> None:
    async with world.client() as admin:
        subject = await content.image(admin, "alice/shop", "v1")
        sbom = await content.artifact(admin, "alice/shop", "v1-sbom", subject)
    async with world.client(auth=None) as anon:
        page = await anon.get("/repositories/alice/shop/tags/v1-sbom")
        assert page.status_code == 200
        assert 'id="artifact-badge"' in page.text and "SBOM" in page.text
        assert "application/vnd.example.sbom.v1+json" in page.text
        assert "docker pull" not in page.text.split('id="tab-tags"')[1]
        assert f'href="/repositories/alice/shop/tags/{subject}"' in page.text
        assert "sbom.json" in page.text and 'id="dockerfile"' not in page.text
        back = await anon.get(f"/repositories/alice/shop/tags/{subject}")
        assert f'href="/repositories/alice/shop/tags/{sbom}"' in back.text
        tags = await anon.get("/repositories/alice/shop")
        row = re.search(
            r"<tr>\s*<td><a href=\"/repositories/alice/shop/tags/v1-sbom\".*?</tr>", tags.text, re.S
        )
        assert row and "oras pull" in row.group(0) and "docker pull" not in row.group(0)
        assert subject[:19] in row.group(0)


async def test_config_values_are_written_in_words(world: InProcessApp) -> None:
    async with world.client() as admin:
        await content.image(
            admin,
            "alice/shop",
            "web",
            config={
                "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
                "Volumes": {"/data": {}},
                "Env": ["PATH=/usr/bin", "MODE=prod"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "Healthcheck": {
                    "Test": ["CMD-SHELL", "curl -f localhost"],
                    "Interval": 30_000_000_000,
                },
            },
        )
    async with world.client(auth=None) as anon:
        page = await anon.get("/repositories/alice/shop/tags/web")
    text = page.text
    assert '<code class="" id="run-exposedports">443/tcp, 80/tcp</code>' in text
    assert 'id="run-volumes">/data</code>' in text
    assert "PATH=/usr/bin\nMODE=prod" in text
    assert "nginx -g &#39;daemon off;&#39;" in text
    assert "curl -f localhost, interval 30s" in text
    assert "{&#39;" not in text and "[&#39;" not in text  # no Python reprs anywhere


# ---- pages of their own ----------------------------------------------------------------------


async def test_an_unknown_address_gets_a_page_in_the_ui_style(world: InProcessApp) -> None:
    async with world.client(auth=None) as anon:
        r = await anon.get("/no/such/page")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert title_of(r) == "Not found · Moorage" and 'href="/static/ui.css"' in r.text
        assert (
            (await anon.get("/api/v0/nothing"))
            .headers["content-type"]
            .startswith("application/json")
        )
        v2 = await anon.get("/v2/_nothing/here/at/all")
        assert not v2.headers.get("content-type", "").startswith("text/html")
        assert (await anon.post("/no/such/page")).status_code == 405
        r = await anon.get("/repositories/?q=shop")  # a trailing slash still finds the page
        assert r.status_code == 307 and r.headers["location"] == "/repositories?q=shop"
        assert (await anon.get("/no/such/page/")).status_code == 404
    async with content.signed_in(world, "bob", PASSWORD) as bob:
        r = await bob.get("/repositories/alice/shop/nonsense")
        assert r.status_code == 404 and 'id="signed-in-as"' in r.text


async def test_every_repository_tab_has_its_own_title(world: InProcessApp) -> None:
    async with content.signed_in(world, "alice", PASSWORD) as alice:
        titles = {
            path: title_of(await alice.get(f"/repositories/alice/shop{path}"))
            for path in ("", "/activity", "/settings", "/permissions", "/tags/latest")
        }
    assert titles == {
        "": "Tags · alice/shop · Moorage",
        "/activity": "Activity · alice/shop · Moorage",
        "/settings": "Settings · alice/shop · Moorage",
        "/permissions": "Permissions · alice/shop · Moorage",
        "/tags/latest": "latest · alice/shop · Moorage",
    }


async def test_an_invalid_repository_name_is_explained_in_words(world: InProcessApp) -> None:
    async with content.signed_in(world, "alice", PASSWORD) as alice:
        form = await alice.get("/repositories/new")
        r = await alice.post(
            "/repositories/new",
            data={"csrf": content.csrf_of(form), "namespace": "alice", "name": "Bad_Name!"},
        )
    assert r.status_code == 400
    assert "lowercase letters and digits" in r.text
    assert "[a-z0-9]" not in r.text and "(?:" not in r.text


# ---- big indexes -----------------------------------------------------------------------------


async def test_a_big_index_comes_a_page_at_a_time(world: InProcessApp) -> None:
    async with world.client() as admin:
        children = await content.variants(admin, "alice/shop", 230)
        await content.big_index(admin, "alice/shop", "many", children)
        r = await admin.get("/api/v0/repositories/alice/shop/tags/many")
        assert r.status_code == 200 and len(r.json()) == 100
        assert r.headers["X-Next-Page-Start"] == "100"
        assert r.json()[0]["manifest"]["variant"] == "v0"
        seen = [e["manifest"]["digest"] for e in r.json()]
        start: str | None = r.headers["X-Next-Page-Start"]
        for _ in range(5):
            if start is None:
                break
            r = await admin.get(
                "/api/v0/repositories/alice/shop/tags/many",
                params={"pageStart": start, "pageSize": 100},
            )
            seen += [e["manifest"]["digest"] for e in r.json()]
            start = r.headers.get("X-Next-Page-Start")
        assert seen == [d for d, _ in children]
        r = await admin.get("/api/v0/repositories/alice/shop/tags/many", params={"pageStart": "x"})
        assert r.status_code == 400
        assert r.json()["errors"][0]["message"].startswith("pageStart")
    async with world.client(auth=None) as anon:
        page = await anon.get("/repositories/alice/shop/tags/many")
        assert "1\u2013100 of 230 manifests" in page.text
        assert page.text.count("linux/amd64/v") == 100
        last = await anon.get("/repositories/alice/shop/tags/many", params={"start": "200"})
        assert "201\u2013230 of 230 manifests" in last.text and 'id="next-page"' not in last.text
        assert 'href="?start=100" id="previous-page"' in last.text
        tags = await anon.get("/repositories/alice/shop")
        row = re.search(r'tags/many".*?</tr>', tags.text, re.S)
        assert row and "linux/amd64/v0" in row.group(0) and "and 224 more" in row.group(0)


# ---- e-mail addresses ------------------------------------------------------------------------


async def test_email_addresses_show_only_to_admins_and_their_owner(world: InProcessApp) -> None:
    query = {"query": "alice", "includeRepositories": "false"}
    async with world.client(auth=("bob", PASSWORD)) as bob:
        found = (await bob.get("/api/v0/index/autocomplete", params=query)).json()
        assert [a["name"] for a in found["accountResults"]] == ["alice"]
        assert "email" not in found["accountResults"][0]
        assert "alice@example.com" not in str(found)
    async with world.client(auth=("alice", PASSWORD)) as alice:
        found = (await alice.get("/api/v0/index/autocomplete", params=query)).json()
        assert found["accountResults"][0]["email"] == "alice@example.com"
    async with world.client() as admin:
        found = (await admin.get("/api/v0/index/autocomplete", params=query)).json()
        assert found["accountResults"][0]["email"] == "alice@example.com"
    async with content.signed_in(world, "bob", PASSWORD) as bob_ui:
        for path in ("/admin/users", "/admin/users/alice"):
            r = await bob_ui.get(path)
            assert r.status_code == 403 and "alice@example.com" not in r.text
        for path in ("/repositories", "/repositories/alice/shop", "/admin/orgs"):
            r = await bob_ui.get(path)
            assert "@example.com" not in r.text, path
    async with content.signed_in(world, *world.admin) as admin_ui:
        assert "alice@example.com" in (await admin_ui.get("/admin/users")).text


async def test_the_tags_tab_counts_and_pages_both_ways(world: InProcessApp) -> None:
    async with world.client() as admin:
        body = (await admin.get("/v2/alice/shop/manifests/latest")).content
        for n in range(60):
            r = await admin.put(
                f"/v2/alice/shop/manifests/t{n:03d}",
                content=body,
                headers={"Content-Type": content.OCI_MANIFEST},
            )
            assert r.status_code == 201
    async with world.client(auth=None) as anon:
        first = await anon.get("/repositories/alice/shop")
        assert "Tags 1\u201350 of 61." in first.text and 'id="previous-page"' not in first.text
        nxt = re.search(r'href="([^"]+)" id="next-page"', first.text)
        assert nxt
        second = await anon.get("/repositories/alice/shop" + nxt.group(1))
        assert "Tags 51\u201361 of 61." in second.text and 'id="next-page"' not in second.text
        assert "tags/t059" in second.text and "tags/latest" not in second.text
        prev = re.search(r'href="([^"]+)" id="previous-page"', second.text)
        assert prev
        back = await anon.get("/repositories/alice/shop" + prev.group(1))
        assert "Tags 1\u201350 of 61." in back.text
        assert "tags/latest" in back.text and "tags/t048" in back.text  # bytewise: l < t
        assert "tags/t049" not in back.text
