"""``GET /ca``: the own CA's certificate for anyone, and a 404 when the registry has none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from sqlalchemy import update

from moorage.auth import own_ca
from moorage.auth.secretbox import SecretBox
from moorage.db import tables as t
from moorage.db.engine import Database
from tests.inprocess import InProcessApp, running_app


async def _make_ca(app: InProcessApp) -> own_ca.OwnCa:
    db = Database(app.settings.database_url)
    try:
        ca, _ = await own_ca.load_or_create(db, SecretBox.in_data_folder(app.settings.data))
    finally:
        await db.close()
    return ca


async def test_ca_served_without_credentials(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> None:
    async with (
        running_app(tmp_path / "data", database_factory(), tls="auto") as app,
        app.client(auth=None) as anonymous,
    ):
        # Serve makes the CA before any worker starts; a row gone after is a 404.
        missing = await anonymous.get("/ca")
        assert missing.status_code == 404
        assert "no CA" in missing.text

        ca = await _make_ca(app)
        r = await anonymous.get("/ca")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-pem-file"
        assert r.content == ca.pem
        assert x509.load_pem_x509_certificate(r.content) == ca.certificate
        assert b"PRIVATE" not in r.content

        head = await anonymous.head("/ca")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(ca.pem))

        # Credentials, good or bad, change nothing: the certificate is public.
        async with app.client() as admin:
            assert (await admin.get("/ca")).content == ca.pem
        bad = await anonymous.get("/ca", auth=("admin", "not-the-password"))
        assert bad.status_code == 200 and bad.content == ca.pem

        assert (await anonymous.post("/ca")).status_code == 405

        # A damaged row: a 500 that says so, never a traceback or a half certificate.
        db = Database(app.settings.database_url)
        try:
            async with db.write() as conn:
                await conn.execute(
                    update(t.site_settings)
                    .where(t.site_settings.c.key == own_ca.SETTINGS_KEY)
                    .values(value="{}")
                )
        finally:
            await db.close()
        broken = await anonymous.get("/ca")
        assert broken.status_code == 500 and "damaged" in broken.text


async def test_no_ca_route_without_own_ca(inproc: InProcessApp) -> None:
    """Plain HTTP or a supplied certificate (serve hands workers ``tls: manual``): /ca is an
    unknown path, the web UI's 404 page, and no CA is made."""
    assert inproc.settings.tls == "manual"
    async with inproc.client(auth=None) as anonymous:
        r = await anonymous.get("/ca")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "BEGIN CERTIFICATE" not in r.text
    db = Database(inproc.settings.database_url)
    try:
        assert await own_ca.stored_certificate(db) is None
    finally:
        await db.close()
