"""Browser fixtures: pytest-playwright drives Debian's Chromium (never a downloaded build)."""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        pytest.fail("browser tests need Debian's chromium: apt-get install chromium")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture
def login(page, live_server):
    """Log in through the real login form; returns the page on the overview."""

    def _login(username, password=None):
        sign_in(page, live_server.url, username, password)
        return page

    return _login


def sign_in(page, base: str, username: str, password: str | None = None) -> None:
    """Sign `username` in through the login form (the test users' password: pw-NAME)."""
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
