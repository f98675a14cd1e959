"""End-to-end fixtures: the dashboards served in-process, Debian's Chromium driven by Playwright.

Skips cleanly where Playwright or the ``chromium`` binary is missing (CI installs both:
``pip install playwright`` and ``apt-get install -y chromium``; no browser download).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("panel", reason="dashboards need the lab extra")
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path("artifacts/screenshots")


@pytest.fixture(scope="session")
def chromium():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def dashboards_url():
    from adseq_lab.serve import start_in_background

    server, url = start_in_background()
    yield url
    server.stop()


class WatchedPage:
    """A page in its own browser context that records JavaScript errors."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1500, "height": 1000})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(chromium):
    pages: list[WatchedPage] = []

    def factory() -> WatchedPage:
        pages.append(WatchedPage(chromium))
        return pages[-1]

    yield factory
    for page in pages:
        page.close()
