"""``moorage admin passwd`` and ``moorage user create|list|deactivate``, run as a subprocess
against the database of a real app running in this process: the operator's way back in when
the administrator's password is lost, ending the sessions made with the old one."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import subprocess
import sys
import time

import httpx

from moorage.config import Settings
from tests.cli import moorage
from tests.inprocess import ADMIN, InProcessApp

NEW_PASSWORD = "a-brand-new-password"


async def _sign_in(app: InProcessApp, name: str, password: str) -> httpx.AsyncClient:
    client = app.client(auth=None, follow_redirects=False)
    form = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    r = await client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": name, "password": password, "next": "/"},
    )
    assert r.status_code == 303, r.text[:500]
    return client


async def _refresh_token(app: InProcessApp, name: str, password: str) -> str:
    async with app.client(auth=(name, password)) as c:
        r = await c.get("/auth/token", params={"service": "moorage", "offline_token": "true"})
        assert r.status_code == 200, r.text
        return str(r.json()["refresh_token"])


async def _refresh_works(app: InProcessApp, refresh: str) -> bool:
    async with app.client(auth=None) as c:
        r = await c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "moorage"},
        )
        return r.status_code == 200


async def _cli(*args: str, settings: Settings, stdin: str | None = None) -> tuple[int, str, str]:
    done = await asyncio.to_thread(moorage, *args, settings=settings, stdin=stdin)
    return done.returncode, done.stdout, done.stderr


async def test_admin_passwd_recovers_the_admin_and_ends_old_sessions(inproc: InProcessApp) -> None:
    refresh = await _refresh_token(inproc, *ADMIN)
    browser = await _sign_in(inproc, *ADMIN)
    try:
        assert (await browser.get("/jobs")).status_code == 200
        code, out, err = await _cli(
            "admin",
            "passwd",
            "admin",
            "--stdin",
            settings=inproc.settings,
            stdin=NEW_PASSWORD + "\n",
        )
        assert code == 0, err
        assert "password of 'admin' changed" in out
        async with (
            inproc.client(auth=ADMIN) as old,
            inproc.client(auth=("admin", NEW_PASSWORD)) as new,
        ):
            assert (await old.get("/v2/")).status_code == 401
            assert (await new.get("/v2/")).status_code == 200
        assert not await _refresh_works(inproc, refresh)  # docker logins with the old one end
        r = await browser.get("/jobs")  # and so does the web UI session
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    finally:
        await browser.aclose()


async def test_admin_passwd_refuses_bad_input(inproc: InProcessApp) -> None:
    settings = inproc.settings
    code, _, err = await _cli("admin", "passwd", "admin", settings=settings, stdin="x" * 20)
    assert code == 2 and "not a terminal" in err and "--stdin" in err
    code, _, err = await _cli(
        "admin", "passwd", "admin", "--stdin", settings=settings, stdin="short\n"
    )
    assert code == 1 and "at least 8 characters" in err
    code, _, err = await _cli(
        "admin", "passwd", "ghost", "--stdin", settings=settings, stdin=NEW_PASSWORD
    )
    assert code == 1 and "no such account" in err
    code, _, err = await _cli("admin", "passwd", "admin", "--stdin", settings=settings, stdin="")
    assert code == 2 and "no password on stdin" in err
    async with inproc.client() as c:  # nothing changed
        assert (await c.get("/v2/")).status_code == 200


def _on_terminal(settings: Settings, answers: list[str]) -> tuple[int, str]:
    """``moorage admin passwd admin`` on a pseudo-terminal, typing ``answers`` at its prompts."""
    leader, follower = pty.openpty()
    args = [sys.executable, "-m", "moorage.cli.main", "admin", "passwd", "admin"]
    args += ["--data", str(settings.data)] + (
        ["--database", settings.database] if settings.database else []
    )
    proc = subprocess.Popen(
        args, stdin=follower, stdout=follower, stderr=follower, start_new_session=True
    )
    os.close(follower)
    seen = b""
    pending = list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
        if pending and seen.rstrip().endswith(b":"):
            time.sleep(0.2)  # as a person would: after getpass turned echo off
            os.write(leader, pending.pop(0).encode() + b"\n")
    os.close(leader)
    return proc.wait(timeout=60), seen.decode(errors="replace")


async def test_admin_passwd_prompts_twice_on_a_terminal(inproc: InProcessApp) -> None:
    code, seen = await asyncio.to_thread(
        _on_terminal, inproc.settings, [NEW_PASSWORD, NEW_PASSWORD + "-typo"]
    )
    assert code == 2 and "passwords differ" in seen, seen
    assert seen.count("password") >= 1 and NEW_PASSWORD not in seen  # never echoed
    async with inproc.client() as c:
        assert (await c.get("/v2/")).status_code == 200  # unchanged
    code, seen = await asyncio.to_thread(_on_terminal, inproc.settings, [NEW_PASSWORD] * 2)
    assert code == 0, seen
    async with inproc.client(auth=("admin", NEW_PASSWORD)) as c:
        assert (await c.get("/v2/")).status_code == 200


async def test_user_create_list_deactivate(inproc: InProcessApp) -> None:
    settings = inproc.settings
    code, out, err = await _cli(
        "user",
        "create",
        "carol",
        "--admin",
        "--email",
        "carol@example.com",
        "--stdin",
        settings=settings,
        stdin="carol-password\n",
    )
    assert code == 0, err
    assert "created administrator 'carol'" in out
    code, out, err = await _cli(
        "user", "create", "carol", "--stdin", settings=settings, stdin="carol-password\n"
    )
    assert code == 1 and "already exists" in err
    carol = ("carol", "carol-password")
    api_token = ""
    async with inproc.client(auth=carol) as c:
        assert (await c.get("/api/v0/repositories")).status_code == 200
        r = await c.post("/api/v0/api_tokens", json={"tokenLabel": "ci"})
        if r.status_code in (200, 201):
            api_token = r.json().get("token", "")
    refresh = await _refresh_token(inproc, *carol)
    code, out, err = await _cli("user", "list", settings=settings)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ADMIN", "ACTIVE", "LDAP", "EMAIL"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["carol"] == ["yes", "yes", "no", "carol@example.com"]
    assert rows["admin"][:3] == ["yes", "yes", "no"]
    code, out, err = await _cli("user", "deactivate", "carol", settings=settings)
    assert code == 0, err
    async with inproc.client(auth=carol) as c:
        assert (await c.get("/v2/")).status_code == 401
    assert not await _refresh_works(inproc, refresh)
    if api_token:
        async with inproc.client(auth=("carol", api_token)) as c:
            assert (await c.get("/v2/")).status_code == 401
    code, out, _ = await _cli("user", "list", settings=settings)
    assert out.splitlines()[1:] and any(
        line.split()[:3] == ["carol", "yes", "no"] for line in out.splitlines()
    )
