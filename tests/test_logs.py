"""No secret reaches the log: credential-named values and token-shaped strings are redacted by
pattern in the access log's query string, in ``extra`` fields and in exception text.

Every case goes through the real logging path: a logger, the handler ``logs.configure`` installs
(JSON and text), and for requests the real app's access log (in process and a real server).
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from moorage import logs
from tests.conftest import RunningRegistry
from tests.inprocess import InProcessApp

JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJkYXZlIiwiYWNjZXNzIjpbXX0"
    ".dGhpcy1pcy1hLXNpZ25hdHVyZS1ieXRlcy0xMjM0NQ"
)
DIGEST = "sha256:" + "3b" * 32
UPLOAD = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"


@pytest.fixture(scope="module")
def registry(shared_registry: RunningRegistry) -> RunningRegistry:
    """The session's shared server: this module only talks to it and reads its log."""
    return shared_registry


def token() -> str:
    """An access token as Moorage makes them (``secrets.token_urlsafe(32)``), retried until it
    has the mix of cases and digits that every such token has but for a rare draw."""
    while True:
        value = secrets.token_urlsafe(32)
        kinds = (str.isupper, str.islower, str.isdigit)
        if all(sum(map(kind, value)) >= 2 for kind in kinds):
            return value


@pytest.fixture()
def captured() -> Iterator[dict[str, io.StringIO]]:
    """The root handler ``logs.configure`` installs, writing to buffers (JSON and text)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out = {"json": io.StringIO(), "text": io.StringIO()}
    handlers = []
    for fmt, buffer in out.items():
        logs.configure("info", fmt)
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        handlers.append(handler)
    root.handlers[:] = handlers
    try:
        yield out
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def json_lines(captured: dict[str, io.StringIO]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured["json"].getvalue().splitlines()]


def everything(captured: dict[str, io.StringIO]) -> str:
    return captured["json"].getvalue() + captured["text"].getvalue()


def test_extra_fields_by_name_and_by_shape(captured: dict[str, io.StringIO]) -> None:
    access, refresh, pw = token(), token(), "hunter2-" + secrets.token_hex(4)
    logging.getLogger("moorage.test").info(
        "event",
        extra={
            "password": pw,
            "apiKey": "short",
            "X-Auth-Token": access,
            "client_secret": "s3cr3t",
            "sessionid": "abc",
            "oauth_code": "xyz",
            "headers": {"Authorization": f"Bearer {refresh}", "Accept": "application/json"},
            "argv": ["--password", pw, JWT],
            "error": f"could not connect to postgresql://moorage:{pw}@db.internal:5432/moorage",
            "note": f"retrying with {access} soon",
            "code": 500,  # a status code, not a credential
            "digest": DIGEST,
            "upload": UPLOAD,
            "account": "dave",
        },
    )
    text = everything(captured)
    for secret in (access, refresh, pw, "short", "s3cr3t", "abc", "xyz", JWT):
        assert secret not in text
    (line,) = json_lines(captured)
    assert line["password"] == line["apiKey"] == line["X-Auth-Token"] == "REDACTED"
    assert line["headers"] == {"Authorization": "REDACTED", "Accept": "application/json"}
    assert line["argv"][2] == "REDACTED"
    assert line["error"] == (
        "could not connect to postgresql://moorage:REDACTED@db.internal:5432/moorage"
    )
    assert line["note"] == "retrying with REDACTED soon"
    # What an operator needs stays readable.
    assert (line["code"], line["digest"], line["upload"], line["account"]) == (
        500,
        DIGEST,
        UPLOAD,
        "dave",
    )


def test_messages_and_exceptions(captured: dict[str, io.StringIO]) -> None:
    access, pw = token(), "pa55-" + secrets.token_hex(3)
    log = logging.getLogger("moorage.test")
    log.warning("login for %s with %s", "dave", f"Basic {access}")
    try:
        try:
            raise ConnectionError(f"GET https://ldap.internal/?password={pw}&user=x failed")
        except ConnectionError as inner:
            raise RuntimeError(f"token {JWT} rejected; secret: {pw}") from inner
    except RuntimeError:
        log.exception("request failed")
    text = everything(captured)
    assert access not in text and pw not in text and JWT not in text
    first, second = json_lines(captured)
    assert first["msg"] == "login for dave with Basic REDACTED"
    assert "RuntimeError: token REDACTED rejected; secret: REDACTED" in second["exc"]
    assert "ConnectionError: GET https://ldap.internal/?password=REDACTED&user=x" in second["exc"]
    assert "Traceback" in second["exc"]


def test_query_strings() -> None:
    access = token()
    cases = {
        f"apikey={access}": "apikey=REDACTED",
        f"API%5FKEY={access}&n=2": "API%5FKEY=REDACTED&n=2",
        "X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=ab12&X-Amz-Expires=60": (
            "X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=60"
        ),
        "token=a&token=b;passwd=c": "token=REDACTED&token=REDACTED;passwd=REDACTED",
        "auth[token]=x&client_secret=y&sessionid=z&code=q&jwt=w": (
            "auth[token]=REDACTED&client_secret=REDACTED&sessionid=REDACTED"
            "&code=REDACTED&jwt=REDACTED"
        ),
        f"q={JWT}": "q=REDACTED",  # an innocent name, a token-shaped value
        f"q={access}": "q=REDACTED",
        "next=%2Frepo%3Ftoken%3Dabc": "next=REDACTED",  # the secret hides once decoded
        f"{access}": "REDACTED",  # a bare value without a name
        "n=100&last=team%2Fapp&digest=" + DIGEST: "n=100&last=team%2Fapp&digest=" + DIGEST,
        "scope=repository%3Ateam%2Fapp%3Apull&service=moorage": (
            "scope=repository%3Ateam%2Fapp%3Apull&service=moorage"
        ),
        "flag&=x&a==b": "flag&=x&a==b",
    }
    for query, expected in cases.items():
        assert logs.redact_query(query) == expected, query


async def test_access_log_of_the_real_app(
    inproc: InProcessApp, captured: dict[str, io.StringIO]
) -> None:
    access = token()
    async with inproc.client(auth=None) as c:
        await c.get(f"/v2/?apikey={access}&n=5")
        await c.get(f"/api/v0/repositories?Access_Token={access}&pageSize=10")
        await c.get(f"/auth/token?service=moorage&account=dave&password={access}")
        await c.get(f"/v2/_catalog?{JWT}")
    assert access not in everything(captured) and JWT not in everything(captured)
    paths = [line["path"] for line in json_lines(captured) if line["logger"] == "moorage.access"]
    assert paths == [
        "/v2/?apikey=REDACTED&n=5",
        "/api/v0/repositories?Access_Token=REDACTED&pageSize=10",
        "/auth/token?service=moorage&account=dave&password=REDACTED",
        "/v2/_catalog?REDACTED",
    ]


def test_real_server_log_holds_no_token(registry: RunningRegistry) -> None:
    """The same through ``moorage serve`` and its workers' log on stderr."""
    with registry.client() as admin:
        r = admin.post("/api/v0/api_tokens", json={"tokenLabel": "log-test"})
        assert r.status_code == 200, r.text
        secret = r.json()["token"]
    with httpx.Client(base_url=registry.url, timeout=30) as anon:
        assert anon.get(f"/v2/?apikey={secret}").status_code == 401
        r = anon.get(
            "/auth/token",
            params={"service": "moorage", "scope": "registry:catalog:*"},
            auth=("admin", secret),
        )
        assert r.status_code == 200, r.text
        issued = r.json()["token"]
        assert anon.get(f"/v2/_catalog?access_token={issued}").status_code in (200, 401)
    lines = []
    for _ in range(100):  # the log line follows the response
        text = registry.log_path.read_text()
        lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
        if any("access_token=REDACTED" in str(line.get("path")) for line in lines):
            break
        time.sleep(0.05)
    text = registry.log_path.read_text()
    assert secret not in text and issued not in text
    assert any(line.get("path") == "/v2/?apikey=REDACTED" for line in lines)
