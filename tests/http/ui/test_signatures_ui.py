"""The web UI's signatures, in process: the tags list says of each tag "Signed", "Signature not
verified" or "Unsigned"; the image page shows each signature's kind, signers, whether it
verified (or why not) and where it was found; a signer's subject from an uploaded certificate
is shown escaped; a viewer who may not see the repository sees none of it."""

from __future__ import annotations

import html
import re

import httpx

from moorage.trust.keys import parse_key
from tests.http.api.test_tag_signatures import (
    cosign_signature,
    notation_signature,
    trust,
)
from tests.http.inproc_images import push_image
from tests.http.ui import content
from tests.inprocess import InProcessApp
from tests.trust.craft import Signer, envelope, root, snapshot, targets
from tests.trust.signature_craft import Pki, key_id, new_key, public_pem


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _badge(page: httpx.Response, tag: str) -> str:
    found = re.search(
        rf'<span class="badge sig-[a-z]+" id="sig-{re.escape(tag)}"[^>]*>([^<]*)<', page.text
    )
    assert found, (tag, page.text[:3000])
    return found.group(1)


def _signature_rows(page: httpx.Response) -> list[str]:
    text = page.text
    start = text.index('id="signature-list"')
    body = text[start : text.index("</table>", start)]
    return [_text(row) for row in re.findall(r"<tr class=\"sig-[a-z]+\">(.*?)</tr>", body, re.S)]


async def _notary(c: httpx.AsyncClient, gun: str, tag: str, digest: str) -> None:
    """Docker Content Trust: ``targets`` of ``gun`` lists ``tag`` at ``digest``."""
    manifest = (await content.ok(await c.get(f"/v2/{gun}/manifests/{digest}"))).content
    timestamp = await content.ok(await c.get(f"/v2/{gun}/_trust/tuf/timestamp.key"))
    root_key, targets_key, snapshot_key = Signer("ecdsa-x509", cn=gun), Signer(), Signer()
    doc = root(1, [root_key], [targets_key], [snapshot_key.public], [parse_key(timestamp.json())])
    root_bytes = envelope(doc, root_key)
    targets_bytes = envelope(targets(1, {tag: manifest}), targets_key)
    snap = envelope(snapshot(1, {"root": root_bytes, "targets": targets_bytes}), snapshot_key)
    files = [
        ("files", (f"{role}.json", raw, "application/octet-stream"))
        for role, raw in (("root", root_bytes), ("targets", targets_bytes), ("snapshot", snap))
    ]
    await content.ok(await c.post(f"/v2/{gun}/_trust/tuf/", files=files))


async def test_each_tag_says_whether_it_is_signed(inproc: InProcessApp) -> None:
    repo, key = "admin/signed-ui", new_key()
    async with inproc.client() as c:
        signed = await push_image(c, repo, "signed")
        doubtful = await push_image(c, repo, "doubtful")
        await push_image(c, repo, "plain")
        await cosign_signature(c, repo, signed, key)
        await cosign_signature(c, repo, doubtful, new_key())  # a key nobody registered
        await trust(c, repo, public_pem(key))
    async with content.signed_in(inproc, *inproc.admin) as browser:
        page = await content.ok(await browser.get(f"/repositories/{repo}"))
    assert "<th>Signed</th>" in page.text
    assert _badge(page, "signed") == "Signed"
    assert _badge(page, "doubtful") == "Signature not verified"
    assert _badge(page, "plain") == "Unsigned"
    # a signature manifest is about another manifest: no "Unsigned" badge of its own
    assert f'id="sig-sha256-{signed.split(":")[1]}.sig"' not in page.text


async def test_the_image_page_shows_the_signature_view(inproc: InProcessApp) -> None:
    repo, key, pki, untrusted = "admin/view-ui", new_key(), Pki(), Pki(cn="untrusted.example")
    async with inproc.client() as c:
        digest = await push_image(c, repo, "1.0")
        tagged = await cosign_signature(c, repo, digest, key)
        notation = await notation_signature(c, repo, digest, pki)
        stranger = await notation_signature(c, repo, digest, untrusted)
        await trust(c, repo, public_pem(key))
        await trust(c, repo, pki.root_pem)
        await _notary(c, repo, "1.0", digest)
        await push_image(c, repo, "bare")
    async with content.signed_in(inproc, *inproc.admin) as browser:
        page = await content.ok(await browser.get(f"/repositories/{repo}/tags/1.0"))
        bare = await content.ok(await browser.get(f"/repositories/{repo}/tags/bare"))
        signature = await content.ok(await browser.get(f"/repositories/{repo}/tags/{notation}"))
    assert 'id="signature-state"' in page.text and ">Signed<" in page.text
    rows = _signature_rows(page)
    assert len(rows) == 4, rows
    by_source = {
        source: next(r for r in rows if source[:19] in r) for source in (tagged, notation, stranger)
    }
    assert by_source[tagged].startswith(f"cosign {key_id(key)} verified")
    assert by_source[notation].startswith(f"Notation {pki.subject} verified")
    assert by_source[stranger].startswith(f"Notation {untrusted.subject} not verified:")
    assert "not trusted" in by_source[stranger]
    (notary,) = [r for r in rows if r.startswith("Notary")]
    assert notary == f"Notary (Docker Content Trust) targets verified {repo} targets: 1.0"
    assert rows[-1] == by_source[stranger]  # the verified ones first
    for source in (tagged, notation, stranger):  # each links to its signature manifest
        assert f'href="/repositories/{repo}/tags/{source}"' in page.text
    assert "Unsigned" in bare.text and 'id="signature-list"' not in bare.text
    assert "No cosign, Notation or Docker Content Trust signature" in bare.text
    # the signature's own page is about the image: no signature section of its own
    assert 'id="signatures"' not in signature.text


async def test_a_hostile_signer_subject_is_shown_escaped(inproc: InProcessApp) -> None:
    repo, evil = "admin/escaped-ui", Pki(cn="<script>alert(1)</script>")
    async with inproc.client() as c:
        digest = await push_image(c, repo, "v1")
        await notation_signature(c, repo, digest, evil)
    async with content.signed_in(inproc, *inproc.admin) as browser:
        page = await content.ok(await browser.get(f"/repositories/{repo}/tags/v1"))
        tags = await content.ok(await browser.get(f"/repositories/{repo}"))
    assert "<script" in evil.subject  # what the certificate says, as the view names it
    assert "<script" not in page.text  # the UI's pages hold no script of their own
    assert html.escape(evil.subject) in page.text
    (row,) = _signature_rows(page)
    assert row.startswith(f"Notation {evil.subject} not verified:")
    assert _badge(tags, "v1") == "Signature not verified"


async def test_only_viewers_of_the_repository_see_its_signatures(inproc: InProcessApp) -> None:
    repo, pki = "admin/private-ui", Pki(cn="private-signer.example")
    async with inproc.client() as c:
        digest = await push_image(c, repo, "v1")
        await notation_signature(c, repo, digest, pki)
        mallory = await content.user(c, "mallory")
        await content.repository(c, "admin", "public-ui", "public")
        public = await push_image(c, "admin/public-ui", "v1")
        await notation_signature(c, "admin/public-ui", public, pki)
    async with content.signed_in(inproc, *mallory) as browser:
        hidden = [
            await browser.get(f"/repositories/{repo}"),
            await browser.get(f"/repositories/{repo}/tags/v1"),
        ]
        seen = await content.ok(await browser.get("/repositories/admin/public-ui/tags/v1"))
    async with inproc.client(auth=None) as anonymous:
        hidden += [
            await anonymous.get(f"/repositories/{repo}"),
            await anonymous.get(f"/repositories/{repo}/tags/v1"),
        ]
        listed = await content.ok(await anonymous.get("/repositories/admin/public-ui"))
    for r in hidden:
        assert r.status_code == 404, (str(r.request.url), r.status_code)
        assert "private-signer.example" not in r.text and "signature" not in r.text.lower()
    assert "private-signer.example" in seen.text
    assert _badge(listed, "v1") == "Signature not verified"
