"""Real-browser tests: the app served by `streamlit run`, driven by Debian's Chromium (Playwright).

Every page is opened from the sidebar, the script run is awaited, no exception box may appear, and a
screenshot of each page is saved under tests/screenshots/ (git-ignored; the README uses them).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from .browser_kit import assert_no_exception, open_page, screenshot, wait_for_run

pytestmark = pytest.mark.browser

PAGES = ["Home", "Augmentation", "Convolution", "Training", "Heatmap"]


@pytest.mark.parametrize("title", PAGES)
def test_every_page_opens_from_the_sidebar(page, title):
    open_page(page, title)
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text().strip() != ""
    shot = screenshot(page, title.lower())
    with Image.open(shot) as im:
        assert im.width >= 1000 and im.height >= 600


def test_no_page_fetches_from_the_internet(page, server):
    """Offline, a favicon or font from a CDN is a console error: everything is served locally."""
    outside = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if not r.url.startswith((server, "data:", "blob:", "about:"))
            else None
        ),
    )
    for title in PAGES:
        open_page(page, title)
        assert_no_exception(page)
    assert outside == []


@pytest.mark.parametrize("route", [["Home"], ["Convolution", "Heatmap"]])
def test_a_value_changed_inside_a_fragment_survives_a_page_switch(page, route):
    """The augmentation sliders live in a fragment, whose reruns skip app.py: the value a person
    set there must still come back after other pages (it reset to 20 before ui.state.write_url
    kept it)."""
    open_page(page, "Augmentation")
    slider = page.locator(".st-key-augment_max_rotate input[type='range']").first
    slider.focus()
    slider.press("ArrowRight")
    wait_for_run(page)
    page.wait_for_function("() => location.search.includes('max_rotate=21')")
    for title in [*route, "Augmentation"]:
        open_page(page, title)
    slider = page.locator(".st-key-augment_max_rotate input[type='range']").first
    assert slider.input_value() == "21"
    assert "max_rotate=21" in page.url
    assert_no_exception(page)


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
