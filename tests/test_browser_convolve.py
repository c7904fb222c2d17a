"""The Convolution page in a real browser: the stepper shows what F.conv2d says, next/click move the
window, the whole photo's range is in the stepper's units, and a thin upload stays a sane height.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from explorer import convolve as cv
from explorer import images

from .browser_kit import assert_no_exception, open_page, screenshot, wait_for_run

pytestmark = pytest.mark.browser

METRIC = "[data-testid='stMetric']"
SHARPEN = torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])


def _expected(row: int, col: int) -> str:
    """The default stepper (chelsea, 24 px grey, 0–255, zeros padding) at (row, col), by F.conv2d."""
    grid = cv.stepper_grid(images.sample_images()["chelsea"], 24, "grey", 255.0).double()
    x = F.pad(grid[None, None], (1, 1, 1, 1))
    v = F.conv2d(x, SHARPEN.double()[None, None])[0, 0, row, col].item()
    return "0" if v == 0 else f"{v:.4g}"


def _shown(pg) -> tuple[str, str]:
    label, value = pg.locator(METRIC).first.inner_text().split("\n", 1)
    return label.strip(), value.strip()


def _moved(pg, before: tuple[str, str], timeout_ms: int = 60_000) -> tuple[str, str]:
    """The metric once it differs from `before` (a click's rerun can start just after a wait)."""
    waited = 0
    while _shown(pg) == before and waited < timeout_ms:
        pg.wait_for_timeout(200)
        waited += 200
        wait_for_run(pg)
    return _shown(pg)


def test_stepper_matches_conv2d_and_moves_by_button_and_click(page):
    pg = page
    open_page(pg, "Convolution")
    assert_no_exception(pg)
    assert _shown(pg) == ("Output at row 0, column 0", _expected(0, 0))

    pg.locator(".st-key-convolve_next button").click()
    wait_for_run(pg)
    after_next = _moved(pg, ("Output at row 0, column 0", _expected(0, 0)))
    assert after_next == ("Output at row 0, column 1", _expected(0, 1))

    # A click on the input picture centres the window on that pixel (plotly reports the point).
    plot = pg.locator(".st-key-convolve_input_plot_0 .nsewdrag").first
    box = plot.bounding_box()
    pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_for_run(pg)
    label, value = _moved(pg, after_next)
    row, col = (int(v) for v in label.removeprefix("Output at row ").split(", column "))
    assert 5 <= row <= 10 and 9 <= col <= 14, label  # near the middle of the 16×24 output
    assert value == _expected(row, col)

    # Sharpen saturates like setosa: the whole photo is shown over the input's 0–255 range.
    caption = pg.locator("[data-testid='stImageCaption']", has_text="output (300, 451)").first
    assert caption.inner_text() == (
        "output (300, 451), shown from 0 (black) to 255 (white), in 0–255 pixel units"
    )
    assert_no_exception(pg)
    screenshot(pg, "convolve")


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
