"""The Convolution page in a real browser: the stepper component shows what F.conv2d says, moves on
hover, keys, prev/next and Play without a rerun, commits a click, keeps its settings across pages
and in the URL, presenter mode fits a projector, and a thin upload stays a sane height.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import torch
import torch.nn.functional as F

from explorer import convolve as cv
from explorer import images

from .browser_kit import (
    COUNT_RUNS,
    SHOTS,
    assert_no_exception,
    fresh_page,
    one_warning,
    open_page,
    screenshot,
    wait_for_run,
    warnings,
)

pytestmark = pytest.mark.browser

METRIC = "[data-testid='stMetric']"
STEPPER = ".st-key-convolve_stepper"
ROOT = f"{STEPPER} .cs"
SHARPEN = torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
BLUR = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16

# The stepper's root element, inside the component's shadow root (querySelector does not pierce it).
CS_JS = """(() => {
  const host = document.querySelector('.st-key-convolve_stepper');
  const iso = host && host.querySelector("[data-testid='stBidiComponentIsolated']");
  return ((iso && iso.shadowRoot) || host || document).querySelector('.cs');
})()"""


def _expected(row: int, col: int, kernel=SHARPEN, mode="constant", stride=1, size=24) -> str:
    """The stepper (chelsea, grey, 0–255, padding 1) at (row, col), by F.pad + F.conv2d here."""
    grid = cv.stepper_grid(images.sample_images()["chelsea"], size, "grey", 255.0).double()
    x = F.pad(grid[None, None], (1, 1, 1, 1), mode=mode)
    v = F.conv2d(x, kernel.double()[None, None], stride=stride)[0, 0, row, col].item()
    return "0" if v == 0 else f"{v:.4g}"


def _metric(pg) -> tuple[str, str]:
    label, value = pg.locator(METRIC).first.inner_text().split("\n", 1)
    return label.strip(), value.strip()


def _where(pg) -> tuple[int, int]:
    root = pg.locator(f"{ROOT}[data-row]")  # drawn (the component's script loads after the run)
    root.wait_for()
    return int(root.get_attribute("data-row")), int(root.get_attribute("data-col"))


def _sum(pg) -> str:
    return pg.locator(f"{STEPPER} .cs-value").inner_text()


def _hover_cell(pg, canvas: str, i: int, j: int, rows: int, cols: int, click=False) -> None:
    target = pg.locator(f"{STEPPER} canvas.{canvas}")
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    x = box["x"] + (j + 0.5) * box["width"] / cols
    y = box["y"] + (i + 0.5) * box["height"] / rows
    (pg.mouse.click if click else pg.mouse.move)(x, y)


def _choose(pg, key: str, option: str) -> None:
    pg.locator(f".st-key-{key} input[role='combobox']").click()
    pg.get_by_role("option", name=option, exact=True).first.click()
    wait_for_run(pg)


def _eventually(pg, check, timeout_ms: int = 60_000) -> None:
    waited = 0
    while True:
        try:
            check()
            return
        except AssertionError:
            if waited >= timeout_ms:
                raise
        pg.wait_for_timeout(250)
        waited += 250


def test_hover_keys_and_buttons_move_the_window_without_a_rerun(page):
    pg = page
    open_page(pg, "Convolution")
    assert_no_exception(pg)
    assert pg.locator(f"{STEPPER} iframe").count() == 0  # a v2 component in the page's DOM
    assert _where(pg) == (0, 0) and _sum(pg) == _expected(0, 0)
    pg.evaluate(COUNT_RUNS)
    # The default grid is 16×24, padded by 1: 18×26 input cells, 16×24 output cells.
    _hover_cell(pg, "cs-input", 5, 8, 18, 26)  # centres the window there: output (4, 7)
    _eventually(pg, lambda: _check_at(pg, 4, 7))
    _hover_cell(pg, "cs-output", 10, 20, 16, 24)
    _eventually(pg, lambda: _check_at(pg, 10, 20))
    terms = pg.locator(f"{STEPPER} .cs-terms .cs-term").all_inner_texts()
    assert len(terms) == 10 and terms[-1] == f"= {_expected(10, 20)}"

    pg.locator(ROOT).focus()
    pg.keyboard.press("ArrowRight")
    _eventually(pg, lambda: _check_at(pg, 10, 21))
    pg.keyboard.press("ArrowDown")
    _eventually(pg, lambda: _check_at(pg, 11, 21))
    _hover_cell(pg, "cs-output", 0, 0, 16, 24)
    pg.mouse.move(5, 5)  # off the pictures: the window stays where the hand left it
    pg.locator(f"{STEPPER} .cs-next").click()
    _eventually(pg, lambda: _check_at(pg, 0, 1))
    pg.locator(f"{STEPPER} .cs-prev").click()
    pg.locator(f"{STEPPER} .cs-prev").click()  # wraps to the last output pixel
    _eventually(pg, lambda: _check_at(pg, 15, 23))
    pg.wait_for_timeout(500)
    assert pg.evaluate("window.__runs") == 0
    assert _metric(pg) == ("Output at row 0, column 0", _expected(0, 0))  # nothing committed
    # A new kernel (a rerun, new data) keeps the window where the hand left it.
    _choose(pg, "convolve_preset", "blur")
    _eventually(pg, lambda: _assert_sum(pg, (15, 23), _expected(15, 23, BLUR)))
    assert_no_exception(pg)


def _assert_sum(pg, where: tuple[int, int], text: str) -> None:
    assert _where(pg) == where and _sum(pg) == text


def _check_at(pg, row: int, col: int) -> None:
    assert _where(pg) == (row, col)
    assert _sum(pg) == _expected(row, col)
    label = pg.locator(f"{STEPPER} .cs-sum-label").inner_text()
    assert label.strip() == f"Output at row {row}, column {col}:"


def test_a_click_commits_the_position_and_play_advances(page):
    pg = page
    open_page(pg, "Convolution")
    assert _metric(pg) == ("Output at row 0, column 0", _expected(0, 0))
    # A click on the input picture centres the window on that pixel and tells Python.
    box = pg.locator(f"{STEPPER} canvas.cs-input").bounding_box()
    pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _eventually(pg, lambda: _assert_committed(pg))
    row, col = _where(pg)
    assert 5 <= row <= 10 and 9 <= col <= 14, (row, col)  # near the middle of the 16×24 output
    assert _metric(pg) == (f"Output at row {row}, column {col}", _expected(row, col))
    assert "row" in urlparse(pg.url).query

    # Sharpen saturates like setosa: the whole photo is shown over the input's 0–255 range.
    caption = pg.locator("[data-testid='stImageCaption']", has_text="output (300, 451)").first
    assert caption.inner_text() == (
        "output (300, 451), shown from 0 (black) to 255 (white), in 0–255 pixel units"
    )
    assert_no_exception(pg)
    pg.mouse.move(5, 5)
    screenshot(pg, "convolution")

    # Play: one output pixel per frame, in the browser, no rerun.
    pg.evaluate(COUNT_RUNS)
    start = row * 24 + col
    pg.locator(f"{STEPPER} .cs-play").click()
    pg.wait_for_function(f"() => +(({CS_JS}) || {{dataset: {{}}}}).dataset.frames >= 12")
    pg.locator(f"{STEPPER} .cs-play").click()  # pause
    frames = int(pg.locator(ROOT).get_attribute("data-frames"))
    r, c = _where(pg)
    assert r * 24 + c == start + frames  # exactly one pixel per frame
    assert _sum(pg) == _expected(r, c)
    pg.wait_for_timeout(400)
    assert _where(pg) == (r, c)  # paused
    assert pg.evaluate("window.__runs") == 0


def _assert_committed(pg) -> None:
    row, col = _where(pg)
    assert (row, col) != (0, 0)
    assert _metric(pg)[0] == f"Output at row {row}, column {col}"


def _url(pg) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(pg.url).query).items()}


def test_settings_survive_home_and_back_and_a_link_opens_them(page, browser):
    pg = page
    open_page(pg, "Convolution")
    _choose(pg, "convolve_preset", "blur")
    _choose(pg, "convolve_padding", "border")
    pg.locator(".st-key-convolve_stride label", has_text="2").click()
    wait_for_run(pg)
    _hover_cell(pg, "cs-output", 3, 5, 8, 12, click=True)
    want = ("Output at row 3, column 5", _expected(3, 5, BLUR, "replicate", 2))
    _eventually(pg, lambda: _assert_metric(pg, want))
    wait_for_run(pg)
    params = _url(pg)
    for k, v in {
        "preset": "blur",
        "padding": "border",
        "stride": "2",
        "row": "3",
        "col": "5",
    }.items():
        assert params.get(k) == v, params
    assert params["k11"] == "0.25"

    open_page(pg, "Home")
    open_page(pg, "Convolution")
    _eventually(pg, lambda: _assert_metric(pg, want))
    assert pg.locator(".st-key-convolve_preset input[role='combobox']").input_value() == "blur"
    assert _where(pg) == (3, 5) and _sum(pg) == want[1]
    url = pg.url

    with fresh_page(browser, url) as other:
        _eventually(other, lambda: _assert_metric(other, want))
        assert _where(other) == (3, 5) and _sum(other) == want[1]
        assert warnings(other, main_only=False).count() == 0
        assert_no_exception(other)


def _assert_metric(pg, want: tuple[str, str]) -> None:
    assert _metric(pg) == want


def test_a_bad_link_opens_with_defaults_and_one_sentence(page, server):
    pg = page
    pg.goto(f"{server}/convolve?stride=9&k00=abc&padding=border&grid_size=99")
    wait_for_run(pg)
    text = one_warning(pg)
    assert all(p in text for p in ("stride=9", "k00=abc", "grid_size=99")), text
    # Defaults where the link was bad, the good setting (border) kept.
    assert _metric(pg) == ("Output at row 0, column 0", _expected(0, 0, mode="replicate"))
    assert_no_exception(pg)


def _fits(pg) -> dict:
    """Overflow and overlap checks of the stepper, measured in the page."""
    return pg.evaluate(
        """() => {
      const host = """
        + CS_JS
        + """.getRootNode();
      const q = (s) => Array.from(host.querySelectorAll(s));
      const eq = q('.cs-equation')[0];
      const boxes = q('.cs-equation, .cs-eq-row, .cs-terms, .cs-bar, .cs-pictures');
      const over = boxes.filter((b) => b.scrollWidth > b.clientWidth + 1).map((b) => b.className);
      const [a, b] = q('canvas').map((c) => c.getBoundingClientRect());
      const rootBox = q('.cs')[0].getBoundingClientRect();
      const inside = [a, b].every(
        (r) => r.left >= rootBox.left - 1 && r.right <= rootBox.right + 1);
      return {
        overflowing: over,
        canvasesOverlap: !(a.right <= b.left || b.right <= a.left
          || a.bottom <= b.top || b.bottom <= a.top),
        canvasesInside: inside,
        eqScroll: eq.scrollWidth, eqClient: eq.clientWidth,
        digitPx: parseFloat(getComputedStyle(q('.cs-matrix span')[0]).fontSize),
      };
    }"""
    )


def test_presenter_mode_fits_a_projector_and_a_narrow_window(page):
    pg = page
    pg.set_viewport_size({"width": 1280, "height": 720})
    open_page(pg, "Convolution")
    pg.locator(".st-key-convolve_presenter label").click()
    wait_for_run(pg)
    pg.locator(f"{STEPPER} .cs.cs-presenter").wait_for()
    # Fewer cells: a 12-px grid (12×8 output), each digit large.
    _hover_cell(pg, "cs-output", 5, 9, 8, 12)
    _eventually(pg, lambda: _assert_where(pg, (5, 9)))
    assert _sum(pg) == _expected(5, 9, size=12)
    fits = _fits(pg)
    assert fits["overflowing"] == [] and fits["eqScroll"] <= fits["eqClient"], fits
    assert not fits["canvasesOverlap"] and fits["canvasesInside"], fits
    assert fits["digitPx"] >= 24, fits
    pg.locator(STEPPER).scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.locator(STEPPER).screenshot(path=str(SHOTS / "convolution-presenter.png"))
    # The equation is never cut off, even in an 800-px window.
    pg.set_viewport_size({"width": 800, "height": 720})
    pg.wait_for_timeout(500)
    fits = _fits(pg)
    assert fits["overflowing"] == [] and fits["eqScroll"] <= fits["eqClient"], fits
    assert not fits["canvasesOverlap"] and fits["canvasesInside"], fits
    assert_no_exception(pg)


def _assert_where(pg, want: tuple[int, int]) -> None:
    assert _where(pg) == want


def test_thin_upload_is_shown_at_a_bounded_height(page, tmp_path):
    """A 2×900 strip is not stretched to the column's width (it used to be metres tall)."""
    pg = page
    strip = tmp_path / "strip.png"
    images.Image.new("RGB", (2, 900), (120, 60, 30)).save(strip)
    pg.locator(".st-key-sidebar_source label", has_text="Upload").click()
    wait_for_run(pg)
    pg.locator(".st-key-sidebar_upload input[type='file']").set_input_files(str(strip))
    wait_for_run(pg)
    open_page(pg, "Convolution")
    assert_no_exception(pg)
    main = pg.locator("[data-testid='stMain'] [data-testid='stImageContainer'] img")
    heights = [main.nth(i).bounding_box()["height"] for i in range(main.count())]
    assert heights and max(heights) <= 600, heights
    # The unpadded RGB demo cannot run on a 1-pixel-wide grid: one sentence says why.
    info = pg.locator("[data-testid='stAlertContentInfo']", has_text="at least 3 pixels")
    assert info.count() == 1
