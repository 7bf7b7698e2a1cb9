"""Browser tests: pytest-playwright driving Debian's Chromium (Playwright's own browser
download is not used), against pytest-django's live server."""

import os
from pathlib import Path

import pytest
from django.test.testcases import _MediaFilesHandler

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Playwright's sync API keeps an event loop running in the test thread, and Django then
# refuses ORM calls from that thread; there is no async code here to protect.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        reason = f"Chromium is not at {CHROMIUM}: apt-get install chromium (make test does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)  # CI must never pass by skipping the browser
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def stored_files_served_by_the_app(monkeypatch):
    """Django's live server answers MEDIA_URL itself, without Range, so players could
    not seek; let /storage/ reach our own view, as it does in production."""
    monkeypatch.setattr(_MediaFilesHandler, "_should_handle", lambda self, path: False)
