"""``moorage check``: one line per check, a non-zero exit code on any problem; run as a
subprocess on the data folder and database of a real app running in this process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from moorage.auth.secretbox import SecretBox
from moorage.cli.datafolder import secure
from moorage.db.engine import sync_url
from moorage.db.migrate import upgrade
from tests.cli import moorage
from tests.inprocess import InProcessApp


async def _check(app: InProcessApp, **env: str) -> tuple[int, dict[str, str]]:
    done = await asyncio.to_thread(moorage, "check", settings=app.settings, env=env)
    lines = done.stdout.splitlines()
    assert all(line[:4] in ("ok  ", "FAIL") for line in lines), done.stdout + done.stderr
    by_name = {line[5:].split(":", 1)[0]: line[:4].strip() for line in lines}
    return done.returncode, by_name | {"_out": done.stdout}


def _set_pem(app: InProcessApp, value: str | None = None) -> str:
    engine = create_engine(sync_url(app.settings.database_url))
    try:
        with engine.begin() as conn:
            stored = conn.execute(text("SELECT private_pem FROM signing_keys")).scalar_one()
            if value is not None:
                conn.execute(text("UPDATE signing_keys SET private_pem = :v"), {"v": value})
    finally:
        engine.dispose()
    return str(stored)


async def test_check_reports_each_problem_on_its_own_line(inproc: InProcessApp) -> None:
    data = inproc.settings.data
    secure(data)  # as `moorage serve` leaves it
    code, lines = await _check(inproc)
    assert code == 0, lines["_out"]
    assert {k: v for k, v in lines.items() if k != "_out"} == {
        "file modes": "ok",
        "storage": "ok",
        "database": "ok",
        "migrations": "ok",
        "signing key": "ok",
    }
    # A file others may read.
    (data / "secret.key").chmod(0o644)
    code, lines = await _check(inproc)
    assert code == 1 and lines["file modes"] == "FAIL", lines["_out"]
    assert "secret.key 0644->0600" in lines["_out"]
    secure(data)
    # The signing key in clear (as an older version stored it).
    sealed = _set_pem(inproc)
    clear = SecretBox.in_data_folder(data).open(sealed)
    _set_pem(inproc, clear)
    code, lines = await _check(inproc)
    assert code == 1 and lines["signing key"] == "FAIL" and "in clear" in lines["_out"]
    _set_pem(inproc, sealed)
    # Another replica's secret key.
    code, lines = await _check(inproc, MOORAGE_SECRET_KEY=Fernet.generate_key().decode())
    assert code == 1 and lines["signing key"] == "FAIL", lines["_out"]
    assert "MOORAGE_SECRET_KEY differs" in lines["_out"]
    # Storage that cannot be written.
    storage = inproc.settings.storage_root
    os.rename(storage, storage.with_name("storage-away"))
    storage.write_text("not a folder")
    try:
        code, lines = await _check(inproc)
        assert code == 1 and lines["storage"] == "FAIL", lines["_out"]
    finally:
        storage.unlink()
        os.rename(storage.with_name("storage-away"), storage)
    code, lines = await _check(inproc)
    assert code == 0, lines["_out"]


async def test_check_an_unmigrated_and_a_missing_install(tmp_path: Path) -> None:
    data = tmp_path / "old"
    secure(data)
    url = f"sqlite:///{data / 'moorage.db'}"
    await asyncio.to_thread(upgrade, url, "0008")
    done = await asyncio.to_thread(moorage, "check", data=data)
    assert done.returncode == 1
    assert "FAIL migrations: at 0008, head is " in done.stdout, done.stdout
    missing = await asyncio.to_thread(moorage, "check", data=tmp_path / "nothing")
    assert missing.returncode == 1 and "does not exist" in missing.stdout
    assert not (tmp_path / "nothing").exists()  # check created nothing


async def test_storage_flag_names_the_store_checked(inproc: InProcessApp, tmp_path: Path) -> None:
    """``--storage`` (as ``MOORAGE_STORAGE``) picks the store; a bad URL is one clear line."""
    elsewhere = tmp_path / "blobs-elsewhere"
    done = await asyncio.to_thread(
        moorage, "check", f"--storage=file://{elsewhere}", settings=inproc.settings
    )
    assert f"ok   storage: {elsewhere} readable and writable" in done.stdout, done.stdout
    bad = await asyncio.to_thread(
        moorage, "check", "--storage=s3://Not_A_Bucket/x", settings=inproc.settings
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr, bad.stderr
    assert "Not_A_Bucket" in bad.stdout + bad.stderr
