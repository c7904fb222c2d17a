"""Helpers for the Playwright browser tests (fixtures live in conftest.py).

Each browser test module gets its own `streamlit run` server (module-scoped `server` fixture) on a
free port, with EXPLORER_HOME in a temporary folder, and a fresh browser context per test (`page`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_run(pg, timeout_ms: int = 180_000) -> None:
    """Wait until Streamlit has finished the current script run (and any rerun it queued)."""
    pg.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    pg.wait_for_timeout(300)
    pg.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms
    )
    pg.wait_for_timeout(300)
    pg.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms
    )
    wait_for_widgets(pg, timeout_ms)


# Counts the script runs the page starts (the app's state attribute turning to "running"), so a
# test can assert that something happened in the browser alone: window.__runs stays 0.
COUNT_RUNS = """() => {
  window.__runs = 0;
  const app = document.querySelector("[data-testid='stApp']");
  new MutationObserver(() => {
    if (app.getAttribute("data-test-script-state") === "running") window.__runs += 1;
  }).observe(app, { attributes: true, attributeFilter: ["data-test-script-state"] });
}"""


def wait_for_widgets(pg, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has drawn every lazily rendered element (no grey skeleton is left)."""
    pg.wait_for_function(
        "() => document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0",
        timeout=timeout_ms,
    )


def assert_no_exception(pg) -> None:
    boxes = pg.locator("[data-testid='stException']")
    assert boxes.count() == 0, boxes.first.inner_text()


WARNING = "[data-testid='stAlertContentWarning']"


def warnings(pg, has_text: str | None = None, main_only: bool = True):
    """The warning boxes of the main area (or the whole page), optionally those with `has_text`."""
    where = f"[data-testid='stMain'] {WARNING}" if main_only else WARNING
    return pg.locator(where, has_text=has_text) if has_text else pg.locator(where)


def one_warning(pg, has_text: str | None = None) -> str:
    """The text of the page's one main-area warning (a bad link gets exactly one sentence)."""
    boxes = warnings(pg, has_text)
    assert boxes.count() == 1, [boxes.nth(i).inner_text() for i in range(boxes.count())]
    return boxes.first.inner_text()


@contextmanager
def fresh_page(browser, url: str) -> Iterator:
    """`url` opened in a new browser context (no cookies, no session state: a link someone was
    sent), once its script run has ended; the context is closed afterwards."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(url)
        wait_for_run(pg)
        yield pg
    finally:
        ctx.close()


def open_page(pg, title: str) -> None:
    pg.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    wait_for_run(pg)


def screenshot(pg, name: str, full: bool = True) -> Path:
    """Save tests/screenshots/NAME.png once every lazy element is drawn.

    Streamlit scrolls inside its main element, so Playwright's full_page sees only the viewport:
    with `full`, the viewport is stretched to the page's height for the shot, then restored.
    """
    wait_for_widgets(pg)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    vp = pg.viewport_size
    height = pg.evaluate(
        "() => { const m = document.querySelector(\"[data-testid='stMain']\");"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    stretch = full and vp is not None and height > vp["height"]
    if stretch:
        pg.set_viewport_size({"width": vp["width"], "height": min(int(height), 8000)})
        pg.wait_for_timeout(400)
        wait_for_widgets(pg)
    try:
        pg.screenshot(path=str(path), full_page=True)
    finally:
        if stretch:
            pg.set_viewport_size(vp)
    return path
