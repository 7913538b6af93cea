"""What ``moorage serve`` does for TLS at start (moorage.cli.tls_setup): the replica's own
certificate made, kept while good, made again when it must be; a supplied one winning."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509

from moorage.auth import own_ca
from moorage.cli import tls_setup
from moorage.config import Settings, load_settings
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.errors import ConfigError
from tests.services.tls import self_signed


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'moorage.db'}"
    await asyncio.to_thread(upgrade, url)
    handle = Database(url)
    yield handle
    await handle.close()


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data=tmp_path, tls="auto", **values)  # type: ignore[arg-type]


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in alt.get_values_for_type(x509.DNSName)} | {
        str(v) for v in alt.get_values_for_type(x509.IPAddress)
    }


async def test_certificate_made_kept_and_renewed(db: Database, tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        listen="10.20.30.40:8443",
        public_url="https://registry.example.com",
        tls_san=["alias.example.com", "192.0.2.7"],
    )
    cert, key, made = await tls_setup.ensure_server_certificate(db, settings)
    assert made and cert.parent == tls_setup.tls_folder(settings)
    for path in (cert, key, cert.with_name("ca.crt")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.parent.stat().st_mode) == 0o700
    names = _names(cert)
    assert {"registry.example.com", "alias.example.com", "192.0.2.7", "10.20.30.40"} <= names
    assert {"localhost", "127.0.0.1", "::1"} <= names
    first = x509.load_pem_x509_certificate(cert.read_bytes())
    assert first.subject.rfc4514_string() == "CN=registry.example.com"  # the public name first
    ca_pem = await own_ca.stored_certificate(db)
    assert cert.with_name("ca.crt").read_bytes() == ca_pem

    # A second start keeps it; one 61 days on (29 left) makes a new one.
    assert (await tls_setup.ensure_server_certificate(db, settings))[2] is False
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=61)
    assert (await tls_setup.ensure_server_certificate(db, settings, now=later))[2] is True
    renewed = x509.load_pem_x509_certificate(cert.read_bytes())
    assert renewed.serial_number != first.serial_number
    assert renewed.not_valid_after_utc > first.not_valid_after_utc

    # A name added, a key file lost, a damaged certificate file: each makes a new one.
    more = settings.model_copy(update={"tls_san": [*settings.tls_san, "new.example.com"]})
    assert (await tls_setup.ensure_server_certificate(db, more))[2] is True
    assert "new.example.com" in _names(cert)
    key.unlink()
    assert (await tls_setup.ensure_server_certificate(db, more))[2] is True
    cert.write_text("not a certificate")
    assert (await tls_setup.ensure_server_certificate(db, more))[2] is True
    assert own_ca.signed_by(
        x509.load_pem_x509_certificate(cert.read_bytes()),
        x509.load_pem_x509_certificate(ca_pem or b""),
    )


async def test_replicas_of_one_folder_keep_their_own_certificates(
    db: Database, tmp_path: Path
) -> None:
    one = _settings(tmp_path, listen="127.0.0.1:5001")
    two = _settings(tmp_path, listen="127.0.0.1:5002")
    cert_one, _, _ = await tls_setup.ensure_server_certificate(db, one)
    cert_two, _, _ = await tls_setup.ensure_server_certificate(db, two)
    assert cert_one != cert_two
    ca = x509.load_pem_x509_certificate(await own_ca.stored_certificate(db) or b"")
    for path in (cert_one, cert_two):
        assert own_ca.signed_by(x509.load_pem_x509_certificate(path.read_bytes()), ca)


def test_supplied_certificate_wins_and_redirect_rules(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = _settings(tmp_path / "data", tls_cert=cert, tls_key=key, listen="0.0.0.0:443")
    prepared = tls_setup.prepare(settings)  # no database touched: none exists here
    assert prepared.tls == "manual" and prepared.tls_cert == cert
    assert prepared.http_redirect_port == 80  # TLS on 443: plain HTTP on 80 redirects
    off = tls_setup.prepare(settings.model_copy(update={"http_redirect_port": 0}))
    assert off.http_redirect_port == 0
    assert (
        tls_setup.redirect_port(settings.model_copy(update={"listen": "0.0.0.0:8443"}), True) == 0
    )
    plain = Settings(data=tmp_path, listen="0.0.0.0:443")
    assert tls_setup.prepare(plain).http_redirect_port == 0  # no TLS, no redirect
    with pytest.raises(ConfigError, match="serve TLS"):
        tls_setup.redirect_port(plain.model_copy(update={"http_redirect_port": 8080}), False)
    with pytest.raises(ConfigError, match="differ"):
        tls_setup.redirect_port(settings.model_copy(update={"http_redirect_port": 443}), True)


def test_names_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOORAGE_TLS", "auto")
    monkeypatch.setenv("MOORAGE_TLS_SAN", "a.example.com, 10.0.0.9")
    settings = load_settings(None, data=tmp_path)
    assert settings.tls == "auto"
    assert settings.tls_san == ["a.example.com", "10.0.0.9"]
    assert "a.example.com" in tls_setup.host_names(settings)
    assert x509.DNSName("a.example.com") in tls_setup.certificate_names(settings)
    monkeypatch.setenv("MOORAGE_TLS", "sometimes")
    with pytest.raises(ConfigError, match="tls"):
        load_settings(None, data=tmp_path)


async def test_a_bad_extra_name_stops_the_start(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a host name"):
        await tls_setup.ensure_server_certificate(db, _settings(tmp_path, tls_san=["bad name"]))


def test_a_machine_name_that_is_no_dns_name_is_left_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "build_box")
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "build_box.lab.example.com")
    names = tls_setup.certificate_names(_settings(tmp_path, tls_san=["registry.example.com"]))
    assert x509.DNSName("registry.example.com") in names
    assert x509.DNSName("localhost") in names
    assert not any("build_box" in str(n.value) for n in names)
