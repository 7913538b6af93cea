"""Debian's headless Chromium driven by Playwright, started the one way every browser test uses.

The flags keep Chromium off the network (this machine reaches nothing but loopback) and quiet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--mute-audio",
]


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """A browser (skips the test where Chromium or Playwright is missing)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS, timeout=30000
        )
        try:
            yield browser
        finally:
            browser.close()
