"""More of the real notary CLI (Debian's notary 0.7.0) against ``moorage serve`` over TLS:
``remove`` and ``addhash`` into ``targets``; a ``targets/releases`` delegation (an X.509
certificate made with ``cryptography``) whose delegate, its key imported into another trust
directory, signs and publishes, seen by a third client, then removed; ``key rotate <gun> targets
--key``; and tampering with what the CLI made (a replayed older version, a changed target hash,
a bad signature, an expired role signed with the client's own targets key, the CLI's cached
``targets.json``), each refused over the wire with the previous metadata still served. The bad
updates themselves are proven in process in ``tests/http/v2/test_trust_routes.py``; here the
metadata and the keys are the real client's."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from moorage.trust import canonical
from moorage.trust.keys import PublicKey
from tests.clients.test_notary_cli import Notary, Served, serve_over_tls
from tests.conftest import RunningRegistry
from tests.trust.world import PASSWORD

pytestmark = [
    pytest.mark.one_database,
    pytest.mark.skipif(
        shutil.which("notary") is None, reason="notary not installed (apt-get install notary)"
    ),
]


@pytest.fixture(scope="module")
def served(
    registry_factory: Callable[..., RunningRegistry], tmp_path_factory: pytest.TempPathFactory
) -> Served:
    return serve_over_tls(registry_factory, tmp_path_factory)


def _client(served: Served, tmp_path: Path, name: str, user: str, password: str) -> Notary:
    home = tmp_path / name
    home.mkdir()
    return Notary(served, home, user, password)


def _owner(served: Served, tmp_path: Path, name: str = "owner") -> Notary:
    """The administrator, who may rotate the server's keys on any repository."""
    user, password = served.registry.admin
    return _client(served, tmp_path, name, user, password)


def _gun(served: Served, prefix: str) -> str:
    with served.admin() as admin:
        return f"{served.registry.host}/{served.world.repository(admin, prefix)}"


def _tuf(gun: str) -> str:
    return f"/v2/{gun}/_trust/tuf/"


def _served_role(served: Served, gun: str, role: str) -> bytes:
    with served.admin() as admin:
        r = admin.get(_tuf(gun) + f"{role}.json")
    assert r.status_code == 200, r.text
    return r.content


def _listed(notary: Notary, gun: str, *roles: str) -> dict[str, tuple[str, int, str]]:
    """``notary list``'s table: target name → (sha256 hex, size, role)."""
    args = [a for role in roles for a in ("--roles", role)]
    out = notary.run("list", gun, *args).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and re.fullmatch(r"[0-9a-f]{64}", parts[1]):
            rows[parts[0]] = (parts[1], int(parts[2]), parts[3])
    return rows


def _delegate_key(directory: Path, name: str) -> tuple[Path, Path, str, str]:
    """An ECDSA key for a delegate and a self-signed X.509 certificate for it, as notary 0.7.0's
    ``delegation add`` takes (a CERTIFICATE or PUBLIC KEY PEM; a certificate must be valid
    now, not SHA-1 signed). Returns the certificate, the unencrypted PKCS#8 key, the key ID
    in the metadata (of the ``ecdsa-x509`` key) and the one notary's ``key list`` and
    ``delegation list`` show (of the bare public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    x509_id = PublicKey("ecdsa-x509", cert_pem).key_id
    return cert_path, key_path, x509_id, PublicKey("ecdsa", spki).key_id


def test_remove_and_addhash_into_targets(served: Served, tmp_path: Path) -> None:
    gun = _gun(served, "rm")
    writer = _client(served, tmp_path, "writer", served.world.writer, PASSWORD)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"some image bytes\n" * 10)
    writer.run("init", gun)
    writer.run("add", gun, "v1", str(payload))
    writer.run("add", gun, "v2", str(payload))
    writer.run("publish", gun)

    # addhash into targets (no --roles): a target that is only a digest and a size
    digest = hashlib.sha256(b"an image manifest that never was on this disk").hexdigest()
    writer.run("addhash", gun, "v3", "4321", "--sha256", digest, "-p")
    lookup = writer.run("lookup", gun, "v3").stdout.split()
    assert lookup[:3] == ["v3", f"sha256:{digest}", "4321"], lookup

    writer.run("remove", gun, "v1")
    writer.run("publish", gun)
    other = _client(served, tmp_path, "other", served.world.reader, PASSWORD)
    seen = _listed(other, gun)
    assert set(seen) == {"v2", "v3"}, seen
    assert seen["v3"] == (digest, 4321, "targets")
    assert seen["v2"][0] == hashlib.sha256(payload.read_bytes()).hexdigest()
    missing = other.run("lookup", gun, "v1", check=False)
    assert missing.returncode != 0
    # the server holds exactly that: v1 gone from the signed targets
    doc = json.loads(_served_role(served, gun, "targets"))
    assert set(doc["signed"]["targets"]) == {"v2", "v3"}
    assert (
        doc["signed"]["targets"]["v3"]["hashes"]["sha256"]
        == base64.b64encode(bytes.fromhex(digest)).decode()
    )


def test_delegate_signs_for_targets_releases(served: Served, tmp_path: Path) -> None:
    """The owner delegates ``targets/releases`` to a key (an X.509 certificate); the delegate,
    a writer holding only that key, signs and publishes; a reader sees the target under that
    role; the owner removes the delegation and its targets go with it."""
    gun = _gun(served, "rel")
    keys = tmp_path / "keys"
    keys.mkdir()
    cert, private, key_id, canonical_id = _delegate_key(keys, "releases-signer")
    owner = _owner(served, tmp_path)
    owner.run("init", gun, "-p")
    owner.run("delegation", "add", gun, "targets/releases", str(cert), "--all-paths", "-p")
    listing = owner.run("delegation", "list", gun).stdout
    assert "targets/releases" in listing and canonical_id in listing, listing
    delegations = json.loads(_served_role(served, gun, "targets"))["signed"]["delegations"]
    assert delegations["roles"][0]["keyids"] == [key_id]
    assert delegations["keys"][key_id]["keytype"] == "ecdsa-x509"

    delegate = _client(served, tmp_path, "delegate", served.world.writer, PASSWORD)
    delegate.run("key", "import", str(private), "-r", "targets/releases")
    assert canonical_id in delegate.run("key", "list").stdout
    payload = tmp_path / "release.bin"
    payload.write_bytes(b"a release\n")
    delegate.run("add", gun, "1.0", str(payload), "--roles", "targets/releases")
    # the owner holds the snapshot key: the delegate cannot sign one, nor may the server
    refused = delegate.run("publish", gun, check=False)
    assert refused.returncode != 0 and "snapshot key" in refused.stdout, refused.stdout
    with served.admin() as admin:
        r = admin.get(_tuf(gun) + "targets/releases.json")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "METADATA_NOT_FOUND"
    # the snapshot handed to the server, the delegate's staged change goes through
    owner.run("key", "rotate", gun, "snapshot", "-r")
    delegate.run("publish", gun)

    reader = _client(served, tmp_path, "reader", served.world.reader, PASSWORD)
    released = _listed(reader, gun, "targets/releases")
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    assert released == {"1.0": (digest, payload.stat().st_size, "targets/releases")}
    role = json.loads(_served_role(served, gun, "targets/releases"))
    assert [s["keyid"] for s in role["signatures"]] == [key_id]
    assert delegations["roles"][0]["paths"] == [""]  # --all-paths

    owner.run("delegation", "remove", gun, "targets/releases", "-y", "-p")
    assert "targets/releases" not in owner.run("delegation", "list", gun).stdout
    fresh = _client(served, tmp_path, "fresh", served.world.reader, PASSWORD)
    assert "1.0" not in _listed(fresh, gun)
    assert not json.loads(_served_role(served, gun, "targets"))["signed"]["delegations"]["roles"]


def _targets_key(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, Path, str]:
    """A targets key the test holds (notary 0.7.0 keeps its own keys in PBES2 PKCS#8 that
    ``cryptography`` does not decrypt): unencrypted PKCS#8, for ``key rotate <gun> targets
    --key``; with its key ID."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = directory / "targets.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, path, PublicKey("ecdsa", spki).key_id


def _signed_by(key: ec.EllipticCurvePrivateKey, key_id: str, signed: dict[str, Any]) -> bytes:
    der = key.sign(canonical.encode(signed), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    sig = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    return json.dumps(
        {"signed": signed, "signatures": [{"keyid": key_id, "method": "ecdsa", "sig": sig}]}
    ).encode()


def test_tampered_metadata_from_the_cli_is_refused(served: Served, tmp_path: Path) -> None:
    """A writer (push access) POSTs what the CLI made, changed: each refused in Notary's format
    with every served role unchanged, and the CLI of a fresh client still sees the truth. The
    snapshot is the server's (``key rotate snapshot -r``), so one targets file is an update."""
    gun = _gun(served, "tamper")
    owner = _owner(served, tmp_path)
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"the real image\n")
    real = hashlib.sha256(payload.read_bytes()).hexdigest()
    owner.run("init", gun, "-p")
    owner.run("key", "rotate", gun, "snapshot", "-r")
    # the targets key rotated to one the test holds (the CLI publishes the new root itself)
    key, key_file, targets_key_id = _targets_key(tmp_path)
    owner.run("key", "rotate", gun, "targets", "--key", str(key_file))
    root = json.loads(_served_role(served, gun, "root"))["signed"]
    assert root["roles"]["targets"]["keyids"] == [targets_key_id]
    owner.run("add", gun, "v1", str(payload), "-p")
    older = _served_role(served, gun, "targets")
    owner.run("add", gun, "v2", str(payload), "-p")
    current = _served_role(served, gun, "targets")
    before = {r: _served_role(served, gun, r) for r in ("root", "targets", "snapshot", "timestamp")}
    doc = json.loads(current)
    assert [sig["keyid"] for sig in doc["signatures"]] == [targets_key_id]

    def post(body: bytes) -> httpx.Response:
        with served.admin() as http:
            files = [("files", ("targets.json", body, "application/octet-stream"))]
            return http.post(_tuf(gun), files=files, auth=(served.world.writer, PASSWORD))

    def refused(body: bytes, code: str, words: str) -> None:
        r = post(body)
        assert r.status_code == 400, (r.status_code, r.text)
        error = r.json()["errors"][0]
        assert error["code"] == code and words in error["message"], error
        if code == "INVALID_UPDATE":
            assert error["detail"]["Name"] == "ErrBadTargets", error
        after = {role: _served_role(served, gun, role) for role in before}
        assert after == before

    def bumped(**changes: Any) -> dict[str, Any]:
        signed = json.loads(current)["signed"]
        signed["version"] += 1
        signed.update(changes)
        return signed

    # a replayed older version the CLI itself signed
    refused(older, "VERSION", "is not above the stored")
    # a changed target hash (and a version that would be next), under the CLI's signature
    forged = bumped()
    forged["targets"]["v1"]["hashes"]["sha256"] = base64.b64encode(b"\x00" * 32).decode()
    refused(
        json.dumps({"signed": forged, "signatures": doc["signatures"]}).encode(),
        "INVALID_UPDATE",
        "signatures did not meet threshold",
    )
    # a bad signature: the right key ID, the signature's bytes changed
    sig = base64.b64decode(doc["signatures"][0]["sig"])
    broken = [
        dict(doc["signatures"][0], sig=base64.b64encode(bytes([sig[0] ^ 1]) + sig[1:]).decode())
    ]
    refused(
        json.dumps({"signed": bumped(), "signatures": broken}).encode(),
        "INVALID_UPDATE",
        "signatures did not meet threshold",
    )
    # an expired role, signed with the client's own targets key
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused(
        _signed_by(key, targets_key_id, bumped(expires=yesterday)),
        "INVALID_UPDATE",
        "targets expired",
    )

    # the same key and version, not expired: accepted (the refusals above were for what they say)
    r = post(_signed_by(key, targets_key_id, bumped()))
    assert r.status_code == 200, r.text
    fresh = _client(served, tmp_path, "fresh", served.world.reader, PASSWORD)
    seen = _listed(fresh, gun)
    assert {name: row[0] for name, row in seen.items()} == {"v1": real, "v2": real}
    assert json.loads(_served_role(served, gun, "targets"))["signed"]["version"] == (
        doc["signed"]["version"] + 1
    )

    # the CLI's own cache changed under it: it trusts the server's signed copy instead
    cached = next(owner.trust_dir.rglob("metadata/targets.json"))
    local = json.loads(cached.read_bytes())
    local["signed"]["targets"]["v1"]["hashes"]["sha256"] = base64.b64encode(b"\x01" * 32).decode()
    cached.write_text(json.dumps(local))
    assert _listed(owner, gun)["v1"][0] == real
    owner.run("add", gun, "v3", str(payload), "-p")
    assert set(_listed(fresh, gun)) == {"v1", "v2", "v3"}
