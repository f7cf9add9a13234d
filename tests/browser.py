"""Open a local page in headless Chromium and record every request it makes.

Debian's ``chromium`` with the ``playwright`` package (``make setup-browser`` installs both;
Playwright's own browser download cannot be reached here).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class PageVisit:
    page: Any
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def external(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(("file://", "data:", "about:"))]


@contextmanager
def open_page(path: Path, *, width: int = 1200) -> Iterator[PageVisit]:
    """Load ``path`` from disk, wait until the network is idle, and yield the visit."""
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("playwright is not installed: run `make setup-browser`")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Chromium is not installed: run `make setup-browser`")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            visit = PageVisit(page)
            page.on("request", lambda request: visit.requests.append(request.url))
            page.on("requestfailed", lambda request: visit.failed.append(request.url))
            page.on(
                "console",
                lambda message: (
                    visit.console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.goto(Path(path).resolve().as_uri(), wait_until="networkidle")
            yield visit
        finally:
            browser.close()


def count(page: Any, selector: str) -> int:
    return int(page.eval_on_selector_all(selector, "nodes => nodes.length"))


def texts(page: Any, selector: str, transform: Callable[[str], str] = str.strip) -> list[str]:
    return [
        transform(t) for t in page.eval_on_selector_all(selector, "n => n.map(x => x.textContent)")
    ]
