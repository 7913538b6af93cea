"""``/api/v0/meta/settings`` as DTR 2.7 has it (``responses.Settings``, ``forms.Settings``, 202
with no body), what each setting does here, and the old Moorage rows read as DTR's."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, select, update

from moorage.db import job_tables as jt
from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.errors import InvalidInput
from moorage.jobs import scan
from moorage.jobs.runner import JobRunner
from moorage.queue import jobs
from moorage.registry.context import RegistryContext
from moorage.remote import outbound
from tests.auth.creds_helpers import new_user
from tests.http.api.dtr_schema import assert_matches
from tests.http.inproc_images import push_image
from tests.inprocess import InProcessApp

PATH = "/api/v0/meta/settings"
DTR_KEYS = 34
MOORAGE_KEYS = {"gcCollectUntaggedManifests", "webhookAllowedNetworks"}
# Every row an older Moorage wrote (before 0019), but the four history ones the test sets.
OLD_ROWS = {
    "create_repository_on_push": True,
    "read_only_registry": False,
    "gc_collect_untagged_manifests": False,
    "webhook_allowed_networks": [],
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _errors(r: httpx.Response) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = r.json()["errors"]
    return errors


def _refused(r: httpx.Response, setting: str) -> None:
    assert r.status_code == 400, r.text
    (error,) = _errors(r)
    assert error["code"] == "INVALID_SETTINGS"
    assert setting in error["message"]
    assert any(setting in p["setting"] for p in error["detail"]), error


def _certificate(key: ec.EllipticCurvePrivateKey | None = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry.example.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("registry.example.com")]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM).decode()


async def test_get_is_dtrs_settings_and_post_answers_202(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        r = await c.get(PATH)
        assert r.status_code == 200, r.text
        body = r.json()
        assert_matches(body, "responses.Settings")
        assert len(set(body) - MOORAGE_KEYS) == DTR_KEYS
        assert "webTLSKey" not in body  # a secret: never answered
        assert body["jobHistoryMaxAge"] == "720h0m0s"  # Go's Duration.String
        assert body["repoEventHistoryMaxAge"] == "0s"
        assert body["reportAnalytics"] is False
        assert body["logLevel"] == "INFO"  # the configuration's
        (replica,) = body["replicaSettings"]
        assert body["replicaID"] == replica
        assert body["replicaSettings"][replica]["node"] == socket.gethostname()
        assert body["replicaSettings"][replica]["HTTPPort"] == inproc.settings.port
        assert body["storageVolume"] == str(inproc.settings.storage_root)
        assert body["nfsHost"] == body["nfsPath"] == ""

        r = await c.post(PATH, json={"jobHistoryMaxAge": "1h30m", "jobHistoryToKeep": 5})
        assert (r.status_code, r.content) == (202, b"")
        after = (await c.get(PATH)).json()
        assert after == {**body, "jobHistoryMaxAge": "1h30m0s", "jobHistoryToKeep": 5}

        # A script's round trip: the whole answer posted back (the replica's own values too).
        r = await c.post(PATH, json={**after, "webTLSKey": "", "dtrHost": "reg.example.com"})
        assert r.status_code == 202, r.text
        assert (await c.get(PATH)).json()["dtrHost"] == "reg.example.com"

        # DTR's whole forms.Settings, as its UI sends it.
        form = {k: v for k, v in after.items() if k not in MOORAGE_KEYS}
        for fixed in ("replicaID", "replicaSettings", "storageVolume", "nfsHost", "nfsPath"):
            form.pop(fixed)
        r = await c.post(PATH, json={**form, "webTLSKey": ""})
        assert r.status_code == 202, r.text


async def test_bad_settings_are_refused_by_name(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        before = (await c.get(PATH)).json()
        _refused(await c.post(PATH, json={"noSuchSetting": 1}), "noSuchSetting")
        _refused(await c.post(PATH, json={"create_repository_on_push": True}), "create_repo")
        _refused(await c.post(PATH, json={"jobHistoryToKeep": "5"}), "jobHistoryToKeep")
        _refused(await c.post(PATH, json={"jobHistoryToKeep": True}), "jobHistoryToKeep")
        _refused(await c.post(PATH, json={"jobHistoryToKeep": -1}), "jobHistoryToKeep")
        _refused(await c.post(PATH, json={"sso": "true"}), "sso")
        _refused(await c.post(PATH, json={"scanningDeadline": 1.5}), "scanningDeadline")
        _refused(await c.post(PATH, json={"repoEventHistoryMaxAge": 720}), "repoEventHistoryMaxAge")
        _refused(await c.post(PATH, json={"repoEventHistoryMaxAge": "forever"}), "MaxAge")
        _refused(await c.post(PATH, json={"jobHistoryMaxAge": "-1h"}), "jobHistoryMaxAge")
        _refused(await c.post(PATH, json={"webTLSCert": "not a certificate"}), "webTLSCert")
        _refused(await c.post(PATH, json={"webTLSKey": "-----BEGIN PRIVATE KEY-----"}), "TLSKey")
        _refused(await c.post(PATH, json={"reportAnalytics": True}), "reportAnalytics")
        _refused(await c.post(PATH, json={"clientCertAuthEnabled": True}), "clientCert")
        _refused(await c.post(PATH, json={"httpProxy": "ftp://proxy:21"}), "httpProxy")
        _refused(await c.post(PATH, json={"logLevel": "verbose"}), "logLevel")
        _refused(await c.post(PATH, json={"dtrHost": "https://x/"}), "dtrHost")
        _refused(await c.post(PATH, json={"replicaID": "another"}), "replicaID")
        _refused(await c.post(PATH, json={"webhookAllowedNetworks": ["nope"]}), "webhook")
        # Two at once: both named, nothing changed.
        r = await c.post(PATH, json={"sso": 1, "readOnlyRegistry": True, "x": 2})
        _refused(r, "sso")
        _refused(r, "x")
        r = await c.post(PATH, json=[1, 2])
        assert (r.status_code, _errors(r)[0]["code"]) == (400, "INVALID_SETTINGS")
        r = await c.post(PATH, content=b"{", headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert (await c.get(PATH)).json() == before
        # Certificates that are PEM are kept (and answered: no secret in them).
        pem = _certificate()
        r = await c.post(PATH, json={"webTLSCert": pem, "webTLSCA": pem, "webTLSClientCA": ""})
        assert r.status_code == 202, r.text
        assert (await c.get(PATH)).json()["webTLSCert"] == pem


async def test_only_administrators(inproc: InProcessApp) -> None:
    user = await new_user(inproc, "bob")
    async with inproc.client(auth=None) as anonymous:
        for r in (await anonymous.get(PATH), await anonymous.post(PATH, json={"sso": True})):
            assert (r.status_code, _errors(r)[0]["code"]) == (401, "NOT_AUTHENTICATED")
    async with inproc.client(auth=user) as bob:
        for r in (await bob.get(PATH), await bob.post(PATH, json={"sso": True})):
            assert (r.status_code, _errors(r)[0]["code"]) == (403, "NOT_AUTHORIZED")
    async with inproc.client() as c:
        assert (await c.get(PATH)).json()["sso"] is False


async def _events(c: httpx.AsyncClient, repo: str) -> list[dict[str, Any]]:
    r = await c.get(f"/api/v0/repositories/{repo}/events", params={"pageSize": 100})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["events"]
    return found


async def test_event_history_compaction_by_dtrs_settings(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        for tag in ("a", "b", "c"):
            await push_image(c, "admin/history", tag)
        assert len(await _events(c, "admin/history")) > 3
        # Enabled with a count: at once, the newest 2 stay.
        r = await c.post(
            PATH, json={"repoEventHistoryCompactionEnabled": True, "repoEventHistoryToKeep": 2}
        )
        assert r.status_code == 202, r.text
        assert len(await _events(c, "admin/history")) == 2
        # By age: everything older than a second goes, whatever the count.
        await asyncio.sleep(1.1)
        r = await c.post(PATH, json={"repoEventHistoryToKeep": 0, "repoEventHistoryMaxAge": "1s"})
        assert r.status_code == 202, r.text
        assert await _events(c, "admin/history") == []


async def test_old_rows_are_read_as_dtrs_settings(inproc: InProcessApp) -> None:
    db = Database(inproc.settings.database_url)
    try:
        old = {
            "repo_event_history_days": 7,
            "repo_event_history_count": 50,
            "job_history_compaction_days": 0,
            "job_history_max_count": 12,
        }
        async with db.write() as conn:  # the rows as Moorage wrote them before DTR's names
            await conn.execute(delete(t.site_settings).where(t.site_settings.c.key != "ldap"))
            for key, value in {**OLD_ROWS, **old}.items():
                await conn.execute(
                    db.insert(t.site_settings)
                    .values(key=key, value=json.dumps(value))
                    .on_conflict_do_update(
                        index_elements=["key"], set_={"value": json.dumps(value)}
                    )
                )
        async with inproc.client() as c:
            body = (await c.get(PATH)).json()
            assert body["repoEventHistoryCompactionEnabled"] is True
            assert body["repoEventHistoryMaxAge"] == "168h0m0s"
            assert body["repoEventHistoryToKeep"] == 50
            assert body["jobHistoryCompactionEnabled"] is False
            assert body["jobHistoryToKeep"] == 12
            assert "repoEventHistoryDays" not in body
            # The next write replaces the old rows with DTR's.
            assert (await c.post(PATH, json={"sso": False})).status_code == 202
        async with db.read() as conn:
            keys = {r.key for r in await conn.execute(select(t.site_settings.c.key))}
        assert not keys & set(old)
        assert {"repo_event_history_to_keep", "job_history_max_age"} <= keys
        async with inproc.client() as c:
            assert (await c.get(PATH)).json() == body
    finally:
        await db.close()


async def test_scanning_disabled_queues_no_scan_on_push(inproc: InProcessApp) -> None:
    async with inproc.client() as c:
        r = await c.post("/api/v0/repositories/admin", json={"name": "scanned", "scanOnPush": True})
        assert r.status_code == 201, r.text
        assert (await c.post(PATH, json={"scanningEnabled": False})).status_code == 202
        off = await push_image(c, "admin/scanned", "off")
        for refused in (
            "/api/v0/imagescan/scan",
            "/api/v0/imagescan/scan/admin/scanned/off/linux/amd64",
        ):
            r = await c.post(refused, json={})
            assert r.status_code == 400 and "scanningEnabled" in r.text, r.text
        r = await c.post("/api/v0/jobs", json={"action": "scan_check_all"})
        assert r.status_code == 400 and "scanningEnabled" in r.text, r.text
        assert (await c.post(PATH, json={"scanningEnabled": True})).status_code == 202
        on = await push_image(c, "admin/scanned", "on")
    db = Database(inproc.settings.database_url)
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                select(jt.jobs.c.parameters).where(jt.jobs.c.action == scan.SCAN)
            )
            digests = {json.loads(row.parameters)["digest"] for row in rows}
    finally:
        await db.close()
    assert on in digests and off not in digests
    with pytest.raises(InvalidInput, match="scanningEnabled"):
        scan.validate(scan.SCAN, {"digest": off}, scanning_enabled=False)
    with pytest.raises(InvalidInput, match="scanningEnabled"):
        scan.validate(scan.SCAN_ALL, {}, scanning_enabled=False)
    scan.validate("onlinegc", {}, scanning_enabled=False)  # other jobs are not scans


async def test_log_level_applies_at_once(inproc: InProcessApp) -> None:
    logger = logging.getLogger("moorage")
    try:
        async with inproc.client() as c:
            assert (await c.post(PATH, json={"logLevel": "debug"})).status_code == 202
            assert logger.level == logging.DEBUG
            assert logging.getLogger("moorage.api").getEffectiveLevel() == logging.DEBUG
            assert (await c.get(PATH)).json()["logLevel"] == "DEBUG"
            assert (await c.post(PATH, json={"logLevel": "ERROR"})).status_code == 202
            assert logger.level == logging.ERROR
            assert (await c.post(PATH, json={"logLevel": ""})).status_code == 202
            assert logger.level == logging.NOTSET  # the configuration's again
            assert (await c.get(PATH)).json()["logLevel"] == "INFO"
    finally:
        logger.setLevel(logging.NOTSET)


async def test_job_history_compaction_by_dtrs_settings(ctx: RegistryContext) -> None:
    ids = [(await jobs.submit(ctx.db, "sleep")).id for _ in range(4)]
    old = utcnow() - dt.timedelta(hours=3)
    async with ctx.db.write() as conn:
        await conn.execute(update(jt.jobs).values(status="done", ended_at=old))
    runner = JobRunner(ctx, poll_seconds=0.05, actions={})
    await site_settings.update(ctx.db, {"jobHistoryCompactionEnabled": False})
    await runner._compact()  # off: nothing goes
    assert len((await jobs.page(ctx.db))[0]) == 4
    await site_settings.update(
        ctx.db,
        {"jobHistoryCompactionEnabled": True, "jobHistoryMaxAge": "4h", "jobHistoryToKeep": 1},
    )
    await runner._compact()  # none older than 4h
    assert len((await jobs.page(ctx.db))[0]) == 4
    await site_settings.update(ctx.db, {"jobHistoryMaxAge": "2h"})
    await runner._compact()  # older than 2h, beyond the newest one
    assert [j.id for j in (await jobs.page(ctx.db))[0]] == [ids[-1]]


async def _session_cookie(app: InProcessApp) -> str:
    async with app.client(auth=None, follow_redirects=False) as c:
        form = await c.get("/login")
        found = CSRF.search(form.text)
        assert found, form.text
        r = await c.post(
            "/login",
            data={"csrf": found[1], "username": app.admin[0], "password": app.admin[1]},
        )
        assert r.status_code == 303, r.text
        (cookie,) = [
            v for v in r.headers.get_list("set-cookie") if v.startswith("moorage_session=")
        ]
        return cookie.lower()


async def test_disable_persistent_cookies(inproc: InProcessApp) -> None:
    assert "max-age=" in await _session_cookie(inproc)
    async with inproc.client() as c:
        assert (await c.post(PATH, json={"disablePersistentCookies": True})).status_code == 202
    cookie = await _session_cookie(inproc)
    assert "max-age=" not in cookie and "expires=" not in cookie
    assert "httponly" in cookie


# ---- proxies (remote.outbound) --------------------------------------------------------------

CHECKED = ipaddress.ip_address("93.184.216.34")


@pytest.fixture()
async def proxy() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A proxy that records each request's head and answers 204 (403 to a CONNECT)."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        if head.startswith(b"CONNECT"):
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", heads
    finally:
        server.close()
        await server.wait_closed()


def _target(url: str) -> outbound.Target:
    parsed = httpx.URL(url)
    return outbound.Target(url=parsed, host=parsed.host, addresses=(CHECKED,))


async def test_a_proxy_is_asked_for_the_checked_address(proxy: tuple[str, list[bytes]]) -> None:
    """The name is never handed to the proxy (it could resolve it elsewhere): the guard's
    checked address is, with the name in ``Host`` (or inside the tunnel's TLS)."""
    url, heads = proxy
    proxies = outbound.Proxies(http=url, https=url)
    answer = await outbound.post(
        _target("http://hooks.example.com:8080/in"), b"{}", {}, proxies=proxies, seconds=5
    )
    assert answer == outbound.Answer(204, None)
    assert heads[0].startswith(b"POST http://93.184.216.34:8080/in HTTP/1.1\r\n")
    assert b"\r\nhost: hooks.example.com:8080\r\n" in heads[0].lower()
    answer = await outbound.post(
        _target("https://hooks.example.com/in"), b"{}", {}, proxies=proxies, seconds=5
    )
    assert answer.code is None and answer.error and "refused the tunnel" in answer.error
    assert heads[1].startswith(b"CONNECT 93.184.216.34:443 HTTP/1.1\r\n")
    assert b"example.com" not in heads[1]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.close()


async def test_https_goes_through_the_tunnel_with_tls_for_the_name(tmp_path: Path) -> None:
    """Inside the CONNECT tunnel (to the checked address) TLS is for the name: SNI and the
    certificate check, as without a proxy."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = _certificate(key)
    (tmp_path / "cert.pem").write_text(pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: names.append(name)

    async def hook(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    connects: list[bytes] = []

    async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        connects.append(head)
        host, _, port = head.split(b" ")[1].decode().rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    hooks = await asyncio.start_server(hook, "127.0.0.1", 0, ssl=server_tls)
    proxy = await asyncio.start_server(tunnel, "127.0.0.1", 0)
    try:
        hook_port = hooks.sockets[0].getsockname()[1]
        proxy_url = f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
        target = outbound.Target(
            url=httpx.URL(f"https://registry.example.com:{hook_port}/in"),
            host="registry.example.com",
            addresses=(ipaddress.ip_address("127.0.0.1"),),
        )
        answer = await outbound.post(
            target, b"{}", {}, tls_cert=pem, proxies=outbound.Proxies(https=proxy_url), seconds=5
        )
    finally:
        proxy.close()
        hooks.close()
    assert answer == outbound.Answer(204, None)
    assert connects[0].startswith(f"CONNECT 127.0.0.1:{hook_port} HTTP/1.1".encode())
    assert names == ["registry.example.com"]


def test_no_proxy_entries() -> None:
    proxies = outbound.Proxies(
        http="http://proxy:3128", no_proxy="internal.example, .corp, 10.0.0.0/8, [::1]:443"
    )
    assert proxies.for_target(_target("http://hooks.example.com/")) == "http://proxy:3128"
    assert proxies.for_target(_target("https://hooks.example.com/")) is None  # no httpsProxy
    for bypassed in ("http://internal.example/", "http://a.internal.example/", "http://x.corp/"):
        assert proxies.for_target(_target(bypassed)) is None, bypassed
    assert proxies.for_target(_target("http://notinternal.example/")) == "http://proxy:3128"
    inside = outbound.Target(
        url=httpx.URL("http://h.example/"),
        host="h.example",
        addresses=(ipaddress.ip_address("10.1.2.3"),),
    )
    assert proxies.for_target(inside) is None
    assert outbound.Proxies(http="http://p:1", no_proxy="*").for_target(inside) is None


def test_go_durations() -> None:
    go = site_settings.go_duration
    assert go(dt.timedelta(0)) == "0s"
    assert go(dt.timedelta(days=30)) == "720h0m0s"
    assert go(dt.timedelta(minutes=1, seconds=30)) == "1m30s"
    assert go(dt.timedelta(seconds=1.5)) == "1.5s"
    assert go(dt.timedelta(milliseconds=250)) == "250ms"
    assert site_settings.parse_duration("1h30m") == dt.timedelta(minutes=90)
    for bad in ("", "1 h", "-1h", "1y", 60):
        with pytest.raises(ValueError):
            site_settings.parse_duration(bad)
