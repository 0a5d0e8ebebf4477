"""Playwright journeys in Debian's Chromium against pytest-django's live_server.

Playwright never downloads a browser here: it drives /usr/bin/chromium
(installed by scripts/ensure-chromium, which `make test` and .ci/run call).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

# Playwright's sync API runs an event loop in the test's thread; Django then
# refuses ORM calls from that thread unless told the test harness is in charge.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at /usr/bin/chromium: run `make browser` (Debian: apt-get install chromium chromium-driver)")
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
            "--disable-quic",
            "--no-first-run",
        ],
    }


@pytest.fixture
def login(live_server, password):
    """Log a persona in through the login page."""

    def _login(page, user):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        assert "/accounts/login/" not in page.url, "login failed"
        return page

    return _login
