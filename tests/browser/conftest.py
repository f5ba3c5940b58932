"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

The service is the running-engine harness of tests/engine (real store, real scheduler,
recording channels) on a real port of 127.0.0.1 the browser reaches, with a policy whose
next steps hold still while the browser compares them with the API.

Chromium comes from Debian (`make test` installs it); Playwright's own browser download
is never used. Without /usr/bin/chromium the tests fail and say how to install it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.engine.conftest import ROOT, db_url, extra_settings, jiaoying, providers

# The engine harness's fixtures, as they are.
__all__ = ["db_url", "extra_settings", "jiaoying", "providers"]

CHROMIUM = Path("/usr/bin/chromium")
# Headless on a closed network: no GPU, no sandbox (root in CI), and none of the
# background connections Chromium would otherwise try at start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests/artifacts"


@pytest.fixture
def policy_file() -> Path:
    return ROOT / "tests/data/dashboard-policy.yaml"


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; the test fails, never skips, where it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the dashboard's browser tests need it."
            " `make test` installs it; by hand: apt-get install -y chromium"
        )
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (git-ignored); kept after the run for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
