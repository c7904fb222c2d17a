"""The Augmentation page in a real browser: the 3×3 grid renders, a slider redraws it, and a padding
change reaches the sections below the settings (they once kept the old padding until a full rerun).
"""

from __future__ import annotations

import re
import time

import pytest

from .browser_kit import assert_no_exception, open_page, screenshot, wait_for_run

pytestmark = pytest.mark.browser

TILE = re.compile(r"^[0-8]: ")  # the grid's captions: "i: rotate … · zoom …"


def _tiles(pg) -> list[tuple[str, str]]:
    """(img src, caption) of the 3×3 grid, in order."""
    out = []
    images = pg.locator("[data-testid='stMain'] [data-testid='stImageContainer']")
    for i in range(images.count()):
        box = images.nth(i)
        caption = box.locator("[data-testid='stImageCaption']")
        text = caption.inner_text() if caption.count() else ""
        if TILE.match(text):
            out.append((box.locator("img").get_attribute("src"), text))
    return out


def _list_caption(pg) -> str:
    return pg.locator("[data-testid='stCaptionContainer']", has_text="Padding:").first.inner_text()


def _eventually(pg, check, timeout_s: float = 60) -> None:
    """Retry `check` (it asserts) until it passes: a rerun the page asks for itself, or a slider's
    late commit, may start a moment after the previous run reported done."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            pg.wait_for_timeout(250)
            wait_for_run(pg)


def _check_shared(pg, padding: str, size: int) -> None:
    """The "List of transforms" and "One resample vs a chain" render with this padding and size."""
    assert _list_caption(pg).startswith(f"Padding: {padding}.")
    # the five series tiles and the three comparison images are `size` pixels square
    sizes = pg.evaluate(
        """() => Array.from(document.querySelectorAll(
                "[data-testid='stMain'] [data-testid='stImageContainer']"))
            .filter(b => /^(brightness \\(|one resample|crop →|reference \\()/.test(
                (b.querySelector("[data-testid='stImageCaption']") || {}).innerText || ""))
            .map(b => [b.querySelector("img").naturalWidth, b.querySelector("img").naturalHeight])"""
    )
    assert len(sizes) == 8 and all(s == [size, size] for s in sizes), sizes


def _check_turned(pg, before: list[tuple[str, str]]) -> None:
    """A new grid drawn with max_rotate 180°."""
    now = _tiles(pg)
    assert len(now) == 9
    assert [c for _, c in now] != [c for _, c in before]
    angles = [abs(float(c.split("rotate ")[1].split("°")[0])) for _, c in now if "rotate " in c]
    assert len(angles) == 9 and max(angles) > 20, angles  # beyond the lesson's ±20°


def test_grid_renders_and_every_section_follows_the_settings(page):
    pg = page
    open_page(pg, "Augmentation")
    assert_no_exception(pg)
    tiles = _tiles(pg)
    assert len(tiles) == 9
    # the lesson's defaults: p_affine = p_lighting = 1, so every tile is rotated and lit
    assert all("rotate" in cap and "brightness" in cap for _, cap in tiles)
    _eventually(pg, lambda: _check_shared(pg, "reflection", 224))

    # A slider in the settings redraws the grid (other draws: other pictures and captions).
    pg.locator(".st-key-augment_max_rotate input[type='range']").focus()
    pg.keyboard.press("End")  # one move, to 180°: one rerun
    wait_for_run(pg)
    _eventually(pg, lambda: _check_turned(pg, tiles))
    turned = _tiles(pg)

    # Padding and size are set in the settings fragment; the sections below must follow at once.
    pg.locator(".st-key-augment_padding label", has_text="zeros").click()
    wait_for_run(pg)
    _eventually(pg, lambda: _check_shared(pg, "zeros", 224))
    assert_no_exception(pg)
    zeros = _tiles(pg)
    assert [c for _, c in zeros] == [c for _, c in turned]  # same draw ...
    assert [s for s, _ in zeros] != [s for s, _ in turned]  # ... other padding

    pg.locator(".st-key-augment_size input[type='range']").focus()
    pg.keyboard.press("Home")  # the smallest tile size
    wait_for_run(pg)
    _eventually(pg, lambda: _check_shared(pg, "zeros", 64))
    assert_no_exception(pg)
    shapes = pg.locator("[data-testid='stCaptionContainer']", has_text="Shapes:").first
    assert "tiles (9, 3, 64, 64)" in shapes.inner_text()
    screenshot(pg, "augment")


def test_download_gives_the_grid_as_one_png(page):
    pg = page
    open_page(pg, "Augmentation")
    with pg.expect_download() as got:
        pg.locator(".st-key-augment_download button").click()
    from PIL import Image

    with Image.open(got.value.path()) as mosaic:
        # 3 tiles of 224 px and 2 gaps of 4 px each way
        assert (mosaic.format, mosaic.size) == ("PNG", (3 * 224 + 2 * 4, 3 * 224 + 2 * 4))
    assert_no_exception(pg)
