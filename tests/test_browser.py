"""Real-browser tests: the app served by `streamlit run`, driven by Debian's Chromium via Playwright.

Every page is opened from the sidebar, the script run is awaited, no exception box may appear, and a
screenshot of each page is saved under tests/screenshots/ (git-ignored; the README uses them).
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from .conftest import APP, ROOT

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "screenshots"
PAGES = ["Home", "Augmentation", "Convolution", "Training", "Heatmap"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(
                "chromium is missing in CI; `make test` installs it (apt-get install chromium)"
            )
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install -y chromium)")
    home = tmp_path_factory.mktemp("home")
    port = _free_port()
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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
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
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)
    pg.goto(server)
    wait_for_run(pg)
    yield pg
    ctx.close()


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


def assert_no_exception(pg) -> None:
    boxes = pg.locator("[data-testid='stException']")
    assert boxes.count() == 0, boxes.first.inner_text()


def open_page(pg, title: str) -> None:
    pg.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    wait_for_run(pg)


def screenshot(pg, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.parametrize("title", PAGES)
def test_every_page_opens_from_the_sidebar(page, title):
    open_page(page, title)
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text().strip() != ""
    shot = screenshot(page, title.lower())
    with Image.open(shot) as im:
        assert im.width >= 1000 and im.height >= 600


def test_corrupt_upload_shows_one_sentence(page, tmp_path):
    bad = tmp_path / "broken.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buf, "JPEG")
    bad.write_bytes(buf.getvalue()[:300])
    page.locator(".st-key-sidebar_source").get_by_text("Upload").click()
    wait_for_run(page)
    page.locator(".st-key-sidebar_upload input[type='file']").set_input_files(str(bad))
    page.wait_for_selector("[data-testid='stMain'] [data-testid='stAlertContentError']")
    wait_for_run(page)
    msg = page.locator(
        "[data-testid='stMain'] [data-testid='stAlertContentError']"
    ).first.inner_text()
    assert "broken.jpg" in msg and "damaged or truncated" in msg
    assert_no_exception(page)
    screenshot(page, "bad-upload")


@pytest.mark.parametrize(("path", "title"), [("convolve", "Convolution"), ("heatmap", "Heatmap")])
def test_deep_link_runs_the_entry_point(page, server, path, title):
    # A page opened by URL must still get app.py's navigation and shared sidebar (a folder named
    # pages/ would make Streamlit serve the file on its own, without either).
    page.goto(f"{server}/{path}")
    wait_for_run(page)
    nav = page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()
    assert any(t.endswith("Augmentation") for t in nav), nav
    assert page.locator(".st-key-sidebar_source").count() == 1
    assert title in page.locator("h1").first.inner_text()
    assert_no_exception(page)
