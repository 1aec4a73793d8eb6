"""Browser tests: Debian's Chromium driven by Playwright against the app served by a real uvicorn.

One server (on a copy of the web template, tests/web/support.py) and one browser for the whole
run keep it short; so each test works on cases no other test changes. Chromium is never downloaded: when
/usr/bin/chromium (or DR_CHROMIUM) is missing these tests skip on a user's machine and fail in CI.
Screenshots go to test-artifacts/screenshots/ (ignored by git).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.fixtures.api import build_app, free_port
from tests.fixtures.services import CHROMIUM, unavailable
from tests.web.support import PASSWORD, web_template  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt install chromium, or set DR_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Server:
    base_url: str
    app: Any
    tokens: dict[str, str]

    @property
    def services(self) -> Any:
        return self.app.state.services


@pytest.fixture(scope="session")
def server(web_template, tmp_path_factory, api_catalog) -> Iterator[Server]:  # noqa: F811
    folder = tmp_path_factory.mktemp("e2e")
    path = folder / "web.db"
    shutil.copyfile(web_template.path, path)
    app = build_app(f"sqlite:///{path}", folder, api_catalog)
    port = free_port()
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", app, web_template.tokens)
    finally:
        uv.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def open_page(browser, server) -> Iterator[Any]:
    """open_page(viewport=DESKTOP, user=None): a fresh browser context (signed in when `user`)."""
    contexts = []

    def open_(viewport: dict[str, int] = DESKTOP, user: str | None = None) -> Any:
        context = browser.new_context(viewport=viewport, base_url=server.base_url, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        if user is not None:
            sign_in(page, user)
        return page

    yield open_
    for context in contexts:
        context.close()


def sign_in(page: Any, user: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(lambda url: "/sign-in" not in url)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
