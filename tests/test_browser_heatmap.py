"""Browser tests of the Heatmap page: the untrained model explains its false certainty, the size and
class pickers show what the page computes, tabs, the channel slider, a cell click, odd uploads and
the PNG download all work in a real browser.
"""

from __future__ import annotations

import pytest
from PIL import Image

from .browser_kit import assert_no_exception, open_page, screenshot, wait_for_run

pytestmark = pytest.mark.browser

MAIN = "[data-testid='stMain']"
RANDOM = "resnet34, random weights: the map shows untrained filters"


def choose(pg, key: str, option: str) -> None:
    pg.locator(f".st-key-{key} input[role='combobox']").click()
    pg.get_by_role("option", name=option, exact=True).first.click()
    wait_for_run(pg)


def shown(pg, key: str) -> str:
    """What a selectbox displays in the browser."""
    return pg.locator(f".st-key-{key} input[role='combobox']").input_value()


def shapes(pg) -> str:
    return pg.locator(f"{MAIN} [data-testid='stCode']").first.inner_text()


def open_tab(pg, label: str) -> None:
    pg.get_by_role("tab", name=label).click()
    wait_for_run(pg)


def open_heatmap(pg) -> None:
    open_page(pg, "Heatmap")
    if shown(pg, "heatmap_model") != RANDOM:  # ImageNet weights may be cached on this machine
        choose(pg, "heatmap_model", RANDOM)


def test_untrained_model_size_tabs_channel_and_cell(page):
    open_heatmap(page)
    assert shown(page, "heatmap_size") == "352" and shown(page, "heatmap_class") == (
        "the predicted class"
    )
    assert "torch.Size([512, 11, 11])" in shapes(page)
    note = page.locator(MAIN).get_by_text("Random weights know nothing").inner_text()
    assert "1/37 = 2.7% for every class" in note
    assert "meaningless" in page.locator(".st-key-heatmap_top5").inner_text()

    choose(page, "heatmap_size", "224")
    assert shown(page, "heatmap_size") == "224"
    assert "torch.Size([512, 7, 7])" in shapes(page)

    open_tab(page, "Channels")
    assert "Channel 0" in page.locator(MAIN).inner_text()
    page.locator(".st-key-heatmap_channel input[type='range']").focus()
    page.keyboard.press("End")
    wait_for_run(page)
    assert page.locator(MAIN).get_by_text("Channel 511").count() == 1
    assert page.locator(MAIN).get_by_text("acts[511]").count() == 1

    open_tab(page, "What a cell sees")
    assert page.locator(MAIN).get_by_text("Cell (3, 3) of the 7×7 map").count() == 1
    plot = page.locator(".st-key-heatmap_cellplot").bounding_box()
    # The picture fills the plot's height; its left edge is centred: click near the top-left dot.
    side = plot["height"]
    left = plot["x"] + (plot["width"] - side) / 2
    page.mouse.click(left + side * 0.5 / 7, plot["y"] + side * 0.5 / 7)
    wait_for_run(page)
    assert page.locator(".st-key-heatmap_row input").input_value() == "0"
    assert page.locator(".st-key-heatmap_col input").input_value() == "0"
    assert page.locator(MAIN).get_by_text("Cell (0, 0) of the 7×7 map").count() == 1

    with page.expect_download() as dl:
        page.locator(".st-key-heatmap_download button").click()
    assert dl.value.suggested_filename == "heatmap-mean-0-224.png"
    with Image.open(dl.value.path()) as png:
        assert png.size == (224, 224)
    assert_no_exception(page)
    screenshot(page, "heatmap-cell")


def test_odd_uploads_are_drawn_at_the_models_size(page, tmp_path):
    open_heatmap(page)
    page.locator(".st-key-sidebar_source").get_by_text("Upload").click()
    wait_for_run(page)
    uploads = {
        "grey.png": Image.new("L", (300, 200), 128),
        "rgba.png": Image.new("RGBA", (300, 300), (255, 0, 0, 0)),
        "tall-strip.png": Image.new("RGB", (1, 3000), (200, 100, 50)),
        "big.png": Image.new("RGB", (4000, 4000), (30, 90, 200)),
        "two.png": Image.new("RGB", (2, 2), (10, 200, 30)),
    }
    for name, image in uploads.items():
        path = tmp_path / name
        image.save(path, "PNG")
        page.locator(".st-key-sidebar_upload input[type='file']").set_input_files(str(path))
        page.locator(MAIN).get_by_text(f"for {name} at 352 px").wait_for()
        wait_for_run(page)
        assert_no_exception(page)
        assert "torch.Size([1, 3, 352, 352])" in shapes(page), name
