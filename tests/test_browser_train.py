"""Browser tests of the Training page: a real tiny shapes job started, watched to the end and opened
on the Heatmap page; a second tab's Start queued (and cancelled), a refresh reattached, a Stop
honoured.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from .browser_kit import (
    assert_no_exception,
    fresh_page,
    one_warning,
    open_page,
    screenshot,
    wait_for_run,
    warnings,
)

pytestmark = pytest.mark.browser

MAIN = "[data-testid='stMain']"


def choose(pg, key: str, option: str) -> None:
    pg.locator(f".st-key-{key} input[role='combobox']").click()
    pg.get_by_role("option", name=option, exact=True).first.click()
    wait_for_run(pg)


def type_into(pg, key: str, value: str) -> None:
    box = pg.locator(f".st-key-{key} input")
    box.fill(value)
    box.press("Enter")
    wait_for_run(pg)


def main_text(pg) -> str:
    return pg.locator(MAIN).inner_text()


def live_state(pg) -> str:
    """The state word of the run the Live section shows ("running", "done", ...)."""
    m = re.search(r"Run\s+(\S+)\s+·[^\n]*·\s+(\w+)", main_text(pg))
    return f"{m.group(1)} {m.group(2)}" if m else ""


BATCH_PROGRESS = re.compile(r"batch \d+/\d+ of epoch \d+")


def wait_for_text(pg, text: str | re.Pattern, timeout_s: float = 90) -> None:
    pg.locator(MAIN).get_by_text(text).first.wait_for(timeout=timeout_s * 1000)


def setup_tiny(pg, n_shapes: int | None = None) -> None:
    """The tiny recipe (checkpoint name shapes-tiny), optionally with more images (a longer run)."""
    open_page(pg, "Training")
    choose(pg, "train_recipe", "tiny")
    if n_shapes:
        type_into(pg, "train_n_shapes", str(n_shapes))


def test_tiny_job_runs_to_a_checkpoint_the_heatmap_page_opens(page):
    watcher = page.context.new_page()  # a second tab, left alone on the Training page
    watcher.goto(page.url)
    wait_for_run(watcher)
    open_page(watcher, "Training")
    assert "No training runs yet." in main_text(watcher)
    setup_tiny(page)
    page.locator(".st-key-train_start button").click()
    wait_for_run(page)
    # While a job runs, Start queues the next one (issue 14).
    expect(page.locator(".st-key-train_start button")).to_have_text(
        "Queue training", timeout=15_000
    )
    # The idle tab notices the job by itself (it polls every few seconds) and follows it.
    wait_for_text(watcher, re.compile(r"Job \S+ is running for the whole server"), 30)
    expect(watcher.locator(".st-key-train_start button")).to_have_text(
        "Queue training", timeout=15_000
    )
    watcher.close()
    # The live view refreshes on its own (st.fragment(run_every=...)): no clicks until it ends.
    wait_for_text(page, "Finished: checkpoint shapes-tiny saved in weights/.")
    wait_for_run(page)
    body = main_text(page)
    assert "epochs 1/1" in body
    assert "cache (192, 3, 37, 37) uint8 on cpu" in body  # 240 shapes, 80 % for training
    assert live_state(page).endswith(" done")
    expect(page.locator(".st-key-train_start button")).to_be_enabled(timeout=15_000)
    assert_no_exception(page)
    screenshot(page, "train-finished")

    page.get_by_role("link", name="Look inside it on the Heatmap page").click()
    wait_for_run(page)
    assert "Heatmap" in page.locator("h1").first.inner_text()
    model = page.locator(".st-key-heatmap_model input[role='combobox']").input_value()
    assert model == "shapes-tiny (your checkpoint)"
    assert page.locator(".st-key-heatmap_size input[role='combobox']").input_value() == "32"
    shapes = page.locator("[data-testid='stCode']").first.inner_text()
    assert "torch.Size([1, 3, 32, 32])" in shapes  # the size it was trained at
    assert "torch.Size([1, 5])" in shapes  # its five shape classes
    assert "only 1×1" in main_text(page)  # 32 px / 32: the page says the map is too coarse
    assert_no_exception(page)


def test_second_tab_queues_and_cancels_refresh_reattaches_stop_saves(page):
    setup_tiny(page, n_shapes=3000)
    other = page.context.new_page()
    other.goto(page.url)
    wait_for_run(other)
    setup_tiny(other)
    before = live_state(page)  # the previous test's finished run, when run in one module
    page.locator(".st-key-train_start button").click()
    wait_for_run(page)
    run_id, state = live_state(page).split()
    assert run_id != before.split(" ")[0] and state in ("starting", "running")

    # The other tab's Start (or Queue, once its poll has noticed the job) queues a job behind the
    # running one; every tab sees its place in line, and its owner can cancel it.
    other.locator(".st-key-train_start button").click()
    wait_for_run(other)
    wait_for_text(other, re.compile(r"Queued job \S+: number 1 in line"), 30)
    wait_for_text(other, f"Job {run_id} is running for the whole server", 30)
    wait_for_text(page, re.compile(r"1 in line: \S+ · resnet18 on shapes · another session"), 30)
    wait_for_text(other, re.compile(r"1 in line: \S+ · resnet18 on shapes · yours"), 30)
    other.locator("[class*='st-key-train_cancel_'] button").first.click()
    wait_for_run(other)
    expect(page.locator("[class*='st-key-train_cancel_']")).to_have_count(0, timeout=15_000)
    expect(other.locator(".st-key-train_start button")).to_have_text(
        "Queue training", timeout=15_000
    )
    other.close()

    # A refresh is a new session: it finds the same job running and keeps following it.
    wait_for_text(page, BATCH_PROGRESS, 60)
    page.reload()
    wait_for_run(page)
    assert live_state(page) in (f"{run_id} running", f"{run_id} starting")
    wait_for_text(page, BATCH_PROGRESS, 60)
    expect(page.locator(".st-key-train_stop button")).to_be_enabled(timeout=15_000)

    page.locator(".st-key-train_stop button").click()
    wait_for_text(page, "Stopped on request; checkpoint shapes-tiny saved.", 60)
    wait_for_run(page)
    assert live_state(page) == f"{run_id} stopped"
    assert page.get_by_role("link", name="Look inside it on the Heatmap page").count() == 1
    assert_no_exception(page)
    screenshot(page, "train-stopped")


# --- settings that survive and share (issue 11) -----------------------------------------------


def set_form(pg) -> None:
    """A non-default recipe, name, batch size and padding (each a rerun)."""
    open_page(pg, "Training")
    choose(pg, "train_recipe", "tiny")
    type_into(pg, "train_name", "kept-name")
    type_into(pg, "train_batch_size", "40")
    choose(pg, "train_padding", "zeros")


def link_warnings(pg):
    """The warnings about a link (a stopped run's warning in the live view is not one)."""
    return warnings(pg, has_text="this link")


def check_form(pg) -> None:
    recipe = pg.locator(".st-key-train_recipe input[role='combobox']").input_value()
    padding = pg.locator(".st-key-train_padding input[role='combobox']").input_value()
    assert (recipe, padding) == ("tiny", "zeros")
    assert pg.locator(".st-key-train_name input").input_value() == "kept-name"
    assert pg.locator(".st-key-train_batch_size input").input_value() == "40"
    assert pg.locator(".st-key-train_n_shapes input").input_value() == "240"  # from the recipe
    assert "Model summary: resnet18 at 32 px, 5 classes" in main_text(pg)  # tiny's model, stage


def test_form_survives_home_and_back_and_a_copied_link_opens_it(page, browser):
    set_form(page)
    check_form(page)
    url = page.url
    assert all(p in url for p in ("recipe=tiny", "name=kept-name", "batch_size=40")), url

    open_page(page, "Home")
    open_page(page, "Training")
    check_form(page)
    assert page.url == url
    assert_no_exception(page)

    with fresh_page(browser, url) as other:
        check_form(other)
        assert link_warnings(other).count() == 0
        assert_no_exception(other)


def test_a_bad_link_opens_the_defaults_with_one_sentence(page, server):
    page.goto(f"{server}/train?recipe=fastest&batch_size=abc&stages=1,2&name=ok-name")
    wait_for_run(page)
    text = one_warning(page, has_text="this link")
    assert all(p in text for p in ("recipe=fastest", "batch_size=abc", "stages=1,2")), text
    assert page.locator(".st-key-train_recipe input[role='combobox']").input_value() == "lesson"
    assert page.locator(".st-key-train_batch_size input").input_value() == "64"
    assert page.locator(".st-key-train_name input").input_value() == "ok-name"  # the good part
    assert_no_exception(page)


def stage_cells(pg) -> list[str]:
    """The stages table's cells, row by row (the grid draws them once it is laid out)."""
    cells = pg.locator(".st-key-train_stages_editor [role='gridcell']")
    cells.first.wait_for(state="attached", timeout=30_000)
    return [cells.nth(i).inner_text() for i in range(cells.count())]


def test_an_edited_stages_table_survives_home_and_back_and_opens_from_its_link(page, browser):
    open_page(page, "Training")
    choose(page, "train_recipe", "tiny")
    assert stage_cells(page) == ["1", "32", "3e-03:3e-03", "false", "0.3"]
    edited = ["3", "32", "3e-03:3e-03", "false", "0.3"]
    grid = page.locator(".st-key-train_stages_editor [data-testid='stDataFrameResizable']")
    editor = page.locator(".gdg-input")  # glide-data-grid's overlay editor for one cell
    for _ in range(5):  # the canvas grid may take a moment to take input after a redraw
        grid.dblclick(position={"x": 90, "y": 52})  # the epochs cell of the first stage
        try:
            editor.wait_for(state="visible", timeout=3000)
        except PlaywrightTimeout:
            continue
        editor.fill("3")
        editor.press("Enter")
        wait_for_run(page)
        if stage_cells(page) == edited:
            break
    assert stage_cells(page) == edited
    assert "stages=3%2C32%2C3e-03" in page.url, page.url
    url = page.url

    open_page(page, "Home")
    open_page(page, "Training")
    assert stage_cells(page) == edited  # the edit, not the recipe's table
    assert page.url == url

    with fresh_page(browser, url) as other:
        assert stage_cells(other) == edited
        assert_no_exception(other)
