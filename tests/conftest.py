"""Shared fixtures: an AppTest factory with clean caches, repo paths, the browser-test server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


@pytest.fixture
def app_test(monkeypatch, tmp_path):
    """Return make(page=None, timeout=60) -> AppTest already run (and switched to `page`).

    Caches are cleared so tests do not see each other's models or images. Checkpoints and runs go to
    a temporary folder (EXPLORER_HOME) so tests never touch the user's weights/ or runs/.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(page: str | None = None, timeout: float = 60) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        at.run()
        if page:
            at.switch_page(f"app_pages/{page}.py")
            at.run()
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


# --- browser tests (tests/test_browser*.py) -------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served by `streamlit run` on a free port; yields its URL."""
    from . import browser_kit

    if not Path(browser_kit.CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(
                "chromium is missing in CI; `make test` installs it (apt-get install chromium)"
            )
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install -y chromium)")
    home = tmp_path_factory.mktemp("home")
    port = browser_kit.free_port()
    env = dict(
        os.environ,
        EXPLORER_HOME=str(home),
        STREAMLIT_SERVER_HEADLESS="true",
        STREAMLIT_SERVER_PORT=str(port),
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
    )
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy within 60 s")
    if proc.poll() is not None:
        pytest.fail(f"streamlit exited: {(home / 'server.log').read_text()[-2000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (playwright install cannot work offline)."""
    from playwright.sync_api import sync_playwright

    from . import browser_kit

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=browser_kit.CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh browser context on the app's home page, after its first run."""
    from . import browser_kit

    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    pg.goto(server)
    browser_kit.wait_for_run(pg)
    yield pg
    ctx.close()
