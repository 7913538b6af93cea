"""The registry's own CA: made once per database, its key sealed, certificates that verify."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from sqlalchemy import select, update

from moorage.auth import own_ca
from moorage.auth.secretbox import SecretBox, SecretUnreadable
from moorage.db import site_settings
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.errors import ConfigError
from moorage.registry.context import RegistryContext


async def _raw_row(db: Database) -> str | None:
    async with db.read() as conn:
        value: str | None = (
            await conn.execute(
                select(t.site_settings.c.value).where(t.site_settings.c.key == own_ca.SETTINGS_KEY)
            )
        ).scalar()
    return value


def _verify(ca: own_ca.OwnCa, leaf: x509.Certificate, name: x509.GeneralName) -> None:
    """The chain as a TLS client checks it (cryptography's X.509 path validation)."""
    assert isinstance(name, x509.DNSName | x509.IPAddress)
    verifier = (
        PolicyBuilder()
        .store(Store([ca.certificate]))
        .time(leaf.not_valid_before_utc + dt.timedelta(minutes=10))
        .build_server_verifier(name)
    )
    chain = verifier.verify(leaf, [])
    assert chain[-1] == ca.certificate


async def test_ca_made_once_sealed_in_the_database(ctx: RegistryContext, tmp_path: Path) -> None:
    box = SecretBox.in_data_folder(tmp_path)
    assert await own_ca.stored_certificate(ctx.db) is None
    first, created = await own_ca.load_or_create(ctx.db, box)
    again, created_again = await own_ca.load_or_create(ctx.db, box)
    assert (created, created_again) == (True, False)
    assert again.certificate == first.certificate
    assert again.key.private_numbers() == first.key.private_numbers()
    assert await own_ca.stored_certificate(ctx.db) == first.pem

    raw = await _raw_row(ctx.db)
    assert raw is not None
    doc = json.loads(raw)
    assert SecretBox.looks_sealed(doc["keySealed"])
    key_pem = own_ca.pem_of_key(first.key).decode()
    assert key_pem not in raw and "PRIVATE KEY" not in raw

    cert = first.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert isinstance(first.key.curve, ec.SECP256R1)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime >= own_ca.CA_LIFETIME
    cert.verify_directly_issued_by(cert)  # self-signed root

    # Another replica's secret key cannot open it; the certificate alone is still served.
    with pytest.raises(SecretUnreadable):
        await own_ca.load_or_create(ctx.db, SecretBox.in_data_folder(tmp_path / "other"))
    assert await own_ca.stored_certificate(ctx.db) == first.pem


async def test_site_settings_keep_working_beside_the_ca(
    ctx: RegistryContext, tmp_path: Path
) -> None:
    ca, _ = await own_ca.load_or_create(ctx.db, SecretBox.in_data_folder(tmp_path))
    assert (await site_settings.load(ctx.db)).read_only_registry is False
    await site_settings.update(ctx.db, {"createRepositoryOnPush": True})
    assert (await site_settings.load(ctx.db)).create_repository_on_push is True
    assert await own_ca.stored_certificate(ctx.db) == ca.pem


async def _store(db: Database, value: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(t.site_settings)
            .where(t.site_settings.c.key == own_ca.SETTINGS_KEY)
            .values(value=value)
        )


async def test_damaged_row_is_a_clear_error(ctx: RegistryContext, tmp_path: Path) -> None:
    box = SecretBox.in_data_folder(tmp_path)
    await own_ca.load_or_create(ctx.db, box)
    sealed_key = json.loads(await _raw_row(ctx.db) or "{}")["keySealed"]
    for damaged in ("not json", json.dumps({"certificate": "-----BEGIN CERTIFICATE-----\n"})):
        await _store(ctx.db, damaged)
        with pytest.raises(own_ca.OwnCaUnreadable):
            await own_ca.load_or_create(ctx.db, box)
        with pytest.raises(own_ca.OwnCaUnreadable):
            await own_ca.stored_certificate(ctx.db)
    # The key of one CA beside the certificate of another: refused, though each part reads.
    other = own_ca.make_ca()
    await _store(ctx.db, json.dumps({"certificate": other.pem.decode(), "keySealed": sealed_key}))
    with pytest.raises(own_ca.OwnCaUnreadable, match="does not match"):
        await own_ca.load_or_create(ctx.db, box)
    assert await own_ca.stored_certificate(ctx.db) == other.pem


def test_server_certificate_names_and_chain() -> None:
    ca = own_ca.make_ca()
    names = own_ca.unique_names(
        ["registry.example.com", "*.apps.example.com", "10.1.2.3", "[::1]", "Registry.Example.com."]
    )
    assert len(names) == 4  # the last is the first again (case, trailing dot)
    made = own_ca.make_server_certificate(ca, names)
    cert = made.certificate
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["registry.example.com", "*.apps.example.com"]
    assert alt.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("::1"),
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert own_ca.SERVER_LIFETIME <= lifetime <= own_ca.SERVER_LIFETIME + own_ca.BACKDATE
    assert own_ca.signed_by(cert, ca.certificate)

    for name in (
        x509.DNSName("registry.example.com"),
        x509.DNSName("web.apps.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.1.2.3")),
    ):
        _verify(ca, cert, name)
    for wrong in (
        x509.DNSName("other.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.1.2.4")),
    ):
        with pytest.raises(VerificationError):
            _verify(ca, cert, wrong)
    # Another CA's certificate does not verify against this CA.
    stranger = own_ca.make_server_certificate(own_ca.make_ca(), names)
    assert not own_ca.signed_by(stranger.certificate, ca.certificate)
    with pytest.raises(VerificationError):
        _verify(ca, stranger.certificate, names[0])


@pytest.mark.parametrize(
    "bad", ["", "  ", "bad name", "a..b", "-x.example.com", "x_y.example", "*.com", "a" * 64 + ".x"]
)
def test_names_that_are_not_hosts_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        own_ca.general_name(bad)


def test_renewal_reasons() -> None:
    ca = own_ca.make_ca()
    names = own_ca.unique_names(["registry.example.com", "127.0.0.1"])
    made = own_ca.make_server_certificate(ca, names)
    cert = made.certificate
    assert own_ca.renewal_reason(cert, ca.certificate, names) is None
    assert own_ca.renewal_reason(cert, ca.certificate, list(reversed(names))) is None
    assert own_ca.renewal_reason(None, ca.certificate, names) == "no server certificate yet"
    near_end = cert.not_valid_after_utc - own_ca.RENEW_BEFORE + dt.timedelta(hours=1)
    reason = own_ca.renewal_reason(cert, ca.certificate, names, now=near_end)
    assert reason is not None and "expires in 29 days" in reason
    expired = own_ca.renewal_reason(
        cert, ca.certificate, names, now=cert.not_valid_after_utc + dt.timedelta(days=3)
    )
    assert expired is not None and "expires in 0 days" in expired
    just_before = cert.not_valid_after_utc - own_ca.RENEW_BEFORE - dt.timedelta(hours=1)
    assert own_ca.renewal_reason(cert, ca.certificate, names, now=just_before) is None
    more = own_ca.unique_names(["registry.example.com", "127.0.0.1", "10.0.0.5"])
    assert own_ca.renewal_reason(cert, ca.certificate, more) is not None
    assert own_ca.renewal_reason(cert, own_ca.make_ca().certificate, names) is not None
    # A certificate never outlives its CA.
    late = own_ca.make_server_certificate(
        ca, names, now=ca.certificate.not_valid_after_utc - dt.timedelta(days=10)
    )
    assert late.certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc


async def test_two_replicas_starting_at_once_make_one_ca(
    database_factory: Callable[[], str | None], tmp_path: Path
) -> None:
    url = database_factory() or f"sqlite:///{tmp_path / 'moorage.db'}"
    await asyncio.to_thread(upgrade, url)
    box = SecretBox.in_data_folder(tmp_path)  # replicas share the secret key
    handles = [Database(url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(own_ca.load_or_create(db, box) for db in handles))
        stored = await own_ca.stored_certificate(handles[0])
        async with handles[0].read() as conn:
            rows = list(
                await conn.execute(
                    select(t.site_settings.c.key).where(
                        t.site_settings.c.key == own_ca.SETTINGS_KEY
                    )
                )
            )
    finally:
        for db in handles:
            await db.close()
    assert [created for _, created in results].count(True) == 1
    assert {ca.pem for ca, _ in results} == {stored}
    assert len(rows) == 1
