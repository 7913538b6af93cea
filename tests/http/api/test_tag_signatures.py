"""Signatures on the tags list (``GET /api/v0/repositories/{ns}/{repo}/tags``), in process:
each tag names its signatures as a single tag does (left out when there are none), and a page
of signed tags costs the same statements whatever its size (``view.signatures_of`` reads a
page at once). The async signing helpers here serve the UI's signature tests too."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from moorage.trust.signatures import view
from tests.http.inproc_images import push_blob, push_image
from tests.http.test_request_cost import counted
from tests.http.ui import content
from tests.inprocess import InProcessApp
from tests.trust.signature_craft import (
    OCI_MANIFEST,
    Pki,
    cosign_manifest,
    cosign_sign,
    jws_envelope,
    key_id,
    new_key,
    notation_manifest,
    public_pem,
    sha256,
    simple_signing,
)

TAGS = "/api/v0/repositories"
# The statements of the signature view: manifests, tags (the .sig scheme), trust stores, Notary.
_SIGNATURE_READS = re.compile(
    r"\b(?:FROM|JOIN) (?:manifests|tags|signature_trust|trust_metadata)\b"
)


async def subject_of(c: httpx.AsyncClient, repo: str, digest: str) -> dict[str, Any]:
    r = await content.ok(await c.get(f"/v2/{repo}/manifests/{digest}"))
    media_type = r.headers["content-type"].split(";")[0]
    return {"mediaType": media_type, "digest": digest, "size": len(r.content)}


async def _put(c: httpx.AsyncClient, repo: str, reference: str, body: bytes) -> str:
    r = await c.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert r.status_code == 201, r.text
    return sha256(body)


async def cosign_signature(
    c: httpx.AsyncClient, repo: str, digest: str, key: Any, *, referrer: bool = False
) -> str:
    """cosign's signature of ``digest`` with ``key``: at ``sha256-<hex>.sig``, or a referrer;
    returns the signature manifest's digest."""
    payload = simple_signing(digest)
    config = b"{}" if referrer else b'{"architecture":"","os":"","rootfs":{"type":"layers"}}'
    for blob in (payload, config):
        await push_blob(c, repo, blob)
    subject = await subject_of(c, repo, digest) if referrer else None
    body = cosign_manifest([(payload, cosign_sign(key, payload))], config, subject)
    ref = sha256(body) if referrer else f"sha256-{digest.split(':')[1]}.sig"
    return await _put(c, repo, ref, body)


async def notation_signature(c: httpx.AsyncClient, repo: str, digest: str, pki: Pki) -> str:
    """A Notation JWS signature of ``digest`` by ``pki``'s leaf, as a referrer."""
    subject = await subject_of(c, repo, digest)
    envelope = jws_envelope(pki, subject)
    for blob in (envelope, b"{}"):
        await push_blob(c, repo, blob)
    body = notation_manifest(envelope, subject, pki)
    return await _put(c, repo, sha256(body), body)


async def trust(c: httpx.AsyncClient, repo: str, pem: str) -> None:
    await content.ok(await c.post(f"{TAGS}/{repo}/signatureTrust", json={"pem": pem}))


async def _listed(c: httpx.AsyncClient, repo: str, **params: Any) -> dict[str, dict[str, Any]]:
    r = await c.get(f"{TAGS}/{repo}/tags", params=params)
    assert r.status_code == 200, r.text
    return {entry["name"]: entry for entry in r.json()}


async def test_the_tags_list_names_each_tags_signatures(inproc: InProcessApp) -> None:
    repo = "admin/listed"
    key, pki = new_key(), Pki()
    async with inproc.client() as c:
        cosigned = await push_image(c, repo, "cosigned")
        notarised = await push_image(c, repo, "notarised")
        await push_image(c, repo, "plain")
        tagged = await cosign_signature(c, repo, cosigned, key)
        referred = await notation_signature(c, repo, notarised, pki)
        await trust(c, repo, public_pem(key))
        listed = await _listed(c, repo)
        full = await _listed(c, repo, includeManifests="true")
        single = (await content.ok(await c.get(f"{TAGS}/{repo}/tags/cosigned"))).json()
    for page in (listed, full):
        assert page["cosigned"]["signatures"] == [
            {
                "kind": "cosign",
                "signers": [key_id(key)],
                "verified": True,
                "reason": "",
                "source": tagged,
            }
        ]
        (notation,) = page["notarised"]["signatures"]
        assert notation["kind"] == "notation" and notation["source"] == referred
        assert notation["signers"] == [pki.subject] and not notation["verified"]
        assert "no root certificate" in notation["reason"]
        assert "signatures" not in page["plain"]  # DTR's shape when nothing signed it
        sig_tag = f"sha256-{cosigned.split(':')[1]}.sig"
        assert "signatures" not in page[sig_tag]  # the signature manifest itself is unsigned
        assert "vuln_summary" in page["cosigned"]
    assert single[0]["signatures"] == listed["cosigned"]["signatures"]


async def test_a_page_of_signed_tags_costs_the_same_whatever_its_size(
    inproc: InProcessApp,
) -> None:
    repo, key, pki = "admin/many-signed", new_key(), Pki()
    async with inproc.client() as c:
        for n in range(8):
            digest = await push_image(c, repo, f"a{n}")
            await cosign_signature(c, repo, digest, key)  # sha256-….sig: after the a… tags
            await cosign_signature(c, repo, digest, key, referrer=True)
            await notation_signature(c, repo, digest, pki)
        await trust(c, repo, public_pem(key))
        await trust(c, repo, pki.root_pem)
        await _listed(c, repo, pageSize=1)  # the site settings and the sessions warm
        costs: dict[int, list[str]] = {}
        for size in (1, 2, 8):
            with counted(inproc) as cost:
                page = await _listed(c, repo, pageSize=size)
            assert sorted(page) == [f"a{n}" for n in range(size)]
            for entry in page.values():
                kinds = sorted(s["kind"] for s in entry["signatures"])
                assert kinds == ["cosign", "cosign", "notation"], entry["signatures"]
                assert all(s["verified"] for s in entry["signatures"]), entry["signatures"]
            costs[size] = [sql for sql, _ in cost.statements]
    # Eight signed tags cost what one does: nothing of the signature view is read per tag.
    assert len(costs[8]) == len(costs[1]) == len(costs[2]), costs
    reads = [sql for sql in costs[8] if _SIGNATURE_READS.search(sql)]
    assert len(reads) <= 12, reads


async def test_signatures_of_a_hidden_repository_are_not_shown(inproc: InProcessApp) -> None:
    repo, pki = "admin/hidden-signed", Pki(cn="hidden.example")
    async with inproc.client() as admin:
        digest = await push_image(admin, repo, "v1")
        await notation_signature(admin, repo, digest, pki)
        stranger = await content.user(admin, "stranger")
    async with inproc.client(auth=stranger) as c:
        hidden = await c.get(f"{TAGS}/{repo}/tags")
    async with inproc.client(auth=None) as anonymous:
        anon = await anonymous.get(f"{TAGS}/{repo}/tags")
    for r in (hidden, anon):
        assert r.status_code == 404, r.text
        assert r.json()["errors"][0]["code"] == "NO_SUCH_REPOSITORY"
        assert "hidden.example" not in r.text and digest not in r.text


async def test_a_flood_of_referrers_is_read_only_up_to_the_bound(
    inproc: InProcessApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(view, "MAX_SIGNATURE_MANIFESTS", 3)
    repo, key, pki = "admin/flooded", new_key(), Pki()
    async with inproc.client() as c:
        digest = await push_image(c, repo, "v1")
        referred = [await notation_signature(c, repo, digest, pki) for _ in range(5)]
        tagged = await cosign_signature(c, repo, digest, key)  # the newest, yet read first
        signatures = (await _listed(c, repo))["v1"]["signatures"]
    assert [s["source"] for s in signatures] == [tagged, *referred[:2]]


async def test_heavy_signature_manifests_are_read_a_group_at_a_time(
    inproc: InProcessApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, key = "admin/heavy", new_key()
    async with inproc.client() as c:
        for n in range(3):
            digest = await push_image(c, repo, f"a{n}")
            await cosign_signature(c, repo, digest, key, referrer=True)
        await trust(c, repo, public_pem(key))
        await _listed(c, repo)
        with counted(inproc) as together:
            at_once = await _listed(c, repo)
        monkeypatch.setattr(view, "MAX_READ_BYTES", 1)  # every tag's signatures on their own
        with counted(inproc) as apart:
            one_by_one = await _listed(c, repo)
    assert one_by_one == at_once
    assert all(e["signatures"][0]["verified"] for e in at_once.values()), at_once
    # one statement reads the page's signature manifests, or one per group of them
    assert len(apart.statements) == len(together.statements) + 2, apart.statements
