"""Browser tests of the web UI: Debian's chromium driven by Playwright against a real ``pot serve`` (uvicorn in a
subprocess on a free port, stopped by its pid) over a store filled by the real recorder.

Playwright's own browser download is never used: the browser is ``/usr/bin/chromium`` (``POT_CHROMIUM`` to point
elsewhere), which scripts/test.sh installs. Without it, or without the ``[browser]`` extra, these tests fail saying
what is missing, unless ``POT_SKIP_BROWSER=1`` asks to skip them. Each test keeps screenshots of the pages it saw in
tests/artifacts/ui/ (gitignored); their paths are printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SKIP_ENV = "POT_SKIP_BROWSER"
CHROMIUM = os.environ.get("POT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"


def _require_browser() -> Any:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: the browser tests were asked to be skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[browser]', or run scripts/test.sh", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: apt-get install chromium, or run scripts/test.sh", pytrace=False)
    return sync_playwright


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the session (root needs --no-sandbox)."""
    sync_playwright = _require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class Page:
    """A browser tab that remembers its console errors and uncaught exceptions (a CSP violation is one), and keeps
    a screenshot per step under tests/artifacts/ui/."""

    page: Any
    name: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, url: str) -> Any:
        self.page.goto(url)
        self.page.wait_for_selector("main[data-ready]", timeout=30_000)
        return self.page

    def verify(self, server: str, key_hex: str, proof: Path, step: str = "verified") -> Any:
        """The verify page of the server at ``server`` given ``key_hex`` and the proof file ``proof`` (chosen with
        the file input), once its result is shown, with a screenshot named ``step``."""
        page = self.open(server + "/ui/verify")
        page.fill("#trusted-key", key_hex)
        page.set_input_files("#proof-file", str(proof))
        page.wait_for_selector("#result[data-done]")
        self.shot(step)
        return page

    def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def tab(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    tab = Page(page, request.node.name.removeprefix("test_")[:80])
    page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("response", lambda r: tab.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    def dialog(d: Any) -> None:
        tab.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    yield tab
    context.close()
