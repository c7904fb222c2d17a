"""Browser tests of the Heatmap page: the untrained model explains its false certainty, the size and
class pickers show what the page computes, the views, the channel browser and the cell view answer
in the browser, settings survive a page switch and a copied link, odd uploads and the PNG download
(of the map the view shows) all work in a real browser.
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import heatmap as hm
from explorer import models
from explorer.images import IMAGENET_MEAN, IMAGENET_STD, sample_images

from .browser_kit import (
    COUNT_RUNS,
    assert_no_exception,
    fresh_page,
    one_warning,
    open_page,
    screenshot,
    wait_for_run,
)

pytestmark = pytest.mark.browser

MAIN = "[data-testid='stMain']"
RANDOM = "resnet34, random weights: the map shows untrained filters"
APP = "[data-testid='stApp']"


def choose(pg, key: str, option: str) -> None:
    pg.locator(f".st-key-{key} input[role='combobox']").click()
    pg.get_by_role("option", name=option, exact=True).first.click()
    wait_for_run(pg)


def shown(pg, key: str) -> str:
    """What a selectbox displays in the browser."""
    return pg.locator(f".st-key-{key} input[role='combobox']").input_value()


def shapes(pg) -> str:
    return pg.locator(f"{MAIN} [data-testid='stCode']").first.inner_text()


def open_view(pg, label: str) -> None:
    pg.locator(".st-key-heatmap_tab button", has_text=label).click()
    wait_for_run(pg)


def open_heatmap(pg) -> None:
    open_page(pg, "Heatmap")
    if shown(pg, "heatmap_model") != RANDOM:  # ImageNet weights may be cached on this machine
        choose(pg, "heatmap_model", RANDOM)


def url_params(pg) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(pg.url).query).items()}


def untrained_at(size: int, layer: str = "0"):
    """The page's untrained resnet34 and the sample picture at `size`, computed here."""
    net = models.create_cnn("resnet34", 37, seed=0).eval()
    x, picture = hm.prepare(sample_images()["chelsea"], size, IMAGENET_MEAN, IMAGENET_STD)
    return net, x, picture


def canvas_pixels(pg, selector: str) -> np.ndarray:
    """The RGB pixels of a canvas inside the page (components draw into an open shadow root)."""
    w, h, data = pg.locator(selector).evaluate(
        "c => [c.width, c.height, Array.from(c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data)]"
    )
    return np.asarray(data, dtype=np.int16).reshape(h, w, 4)[..., :3]


def test_untrained_model_size_views_channel_and_cell(page):
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

    open_view(page, "Channels")
    browser = page.locator(".st-key-heatmap_channels")
    browser.get_by_text("Channel 0", exact=True).wait_for()
    page.evaluate(COUNT_RUNS)
    browser.locator("input[type='range']").focus()
    page.keyboard.press("End")
    assert browser.get_by_text("Channel 511", exact=True).count() == 1
    assert browser.get_by_text("acts[511]").count() == 1
    assert page.evaluate("window.__runs") == 0  # drawn in the browser, no rerun
    # The picture is the overlay of acts[511], as explorer.heatmap.overlay draws it.
    net, x, picture = untrained_at(224)
    acts = hm.activations(net, x, "0")
    expected = np.asarray(hm.overlay(picture, acts[511]), dtype=np.int16)
    got = canvas_pixels(page, ".st-key-heatmap_channels canvas.picture")
    assert got.shape == expected.shape
    assert np.abs(got - expected).mean() < 0.5 and np.abs(got - expected).max() <= 3
    # Once the person pauses, the channel is committed (one rerun) and lands in the URL.
    page.wait_for_function("() => new URL(location.href).searchParams.get('channel') === '511'")
    wait_for_run(page)
    # The wheel over the picture steps through channels, also without a rerun.
    page.evaluate(COUNT_RUNS)
    canvas = browser.locator("canvas.picture")
    canvas.scroll_into_view_if_needed()
    canvas.hover()
    page.mouse.wheel(0, -100)
    browser.get_by_text("Channel 510", exact=True).wait_for()
    assert page.evaluate("window.__runs") == 0
    page.wait_for_function("() => new URL(location.href).searchParams.get('channel') === '510'")
    wait_for_run(page)

    open_view(page, "What a cell sees")
    assert page.locator(MAIN).get_by_text("Cell (3, 3) of the 7×7 map").count() == 1
    pic = page.locator(".st-key-heatmap_cells img.picture")
    pic.scroll_into_view_if_needed()
    box = pic.bounding_box()
    side = box["width"] / 7
    page.evaluate(COUNT_RUNS)
    # Hover any cell, not only a dot: its boxes and region appear without a rerun.
    page.mouse.move(box["x"] + side * 2.5, box["y"] + side * 6.5, steps=3)
    cells = page.locator(".st-key-heatmap_cells")
    assert "Under the mouse: cell (6, 2)" in cells.locator(".info").inner_text()
    region = hm.cell_region(net, "0", (224, 224), (7, 7), 6, 2)
    drawn = [float(cells.locator("rect.cell").get_attribute(a)) for a in ("x", "y", "width")]
    assert drawn == pytest.approx([region.cell_box[0], region.cell_box[1], 32.0], abs=0.01)
    fx0, fy0, fx1, fy1 = region.field_box
    info = cells.locator(".info").inner_text()
    assert f"receptive field x {fx0:.0f}–{fx1:.0f}, y {fy0:.0f}–{fy1:.0f}" in info
    assert page.evaluate("window.__runs") == 0
    # A click commits the cell to Python.
    page.mouse.click(box["x"] + side * 0.5, box["y"] + side * 0.5)
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


def test_the_download_saves_the_grad_cam_that_is_shown(page):
    open_heatmap(page)
    choose(page, "heatmap_size", "224")
    open_view(page, "Grad-CAM")
    with page.expect_download() as dl:
        page.locator(".st-key-heatmap_download button").click()
    assert dl.value.suggested_filename == "heatmap-lesson-0-224.png"
    got = np.asarray(Image.open(io.BytesIO(dl.value.path().read_bytes())), dtype=np.int16)
    # The oracle: the lesson's Grad-CAM by plain autograd, drawn with the page's defaults.
    net, x, picture = untrained_at(224)
    store = {}
    handle = net[0].register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    try:
        out = net(x)
        a = store["a"]
        (g,) = torch.autograd.grad(out[0, int(out[0].argmax())], a)
    finally:
        handle.remove()
    lesson = (a[0] * g[0].mean(dim=(1, 2))[:, None, None]).mean(0).detach()
    cam = np.asarray(hm.overlay(picture, lesson), dtype=np.int16)
    mean = np.asarray(hm.overlay(picture, a[0].detach().mean(0)), dtype=np.int16)
    assert np.abs(got - cam).mean() < 0.5
    assert np.abs(got - mean).mean() > 5 * np.abs(got - cam).mean() + 1  # not the mean map
    assert_no_exception(page)


def test_settings_survive_home_and_back_and_a_copied_link(page, browser):
    open_heatmap(page)
    choose(page, "heatmap_layer", "m[0][5]: layer2 (stride 8)")
    choose(page, "heatmap_size", "224")
    open_view(page, "Channels")
    assert "torch.Size([128, 28, 28])" in shapes(page)
    open_page(page, "Home")
    open_page(page, "Heatmap")
    assert shown(page, "heatmap_layer") == "m[0][5]: layer2 (stride 8)"
    assert shown(page, "heatmap_size") == "224"
    assert "torch.Size([128, 28, 28])" in shapes(page)
    assert page.locator(".st-key-heatmap_channels").get_by_text("Channel 0", exact=True).count()
    params = url_params(page)
    assert params["layer"] == "0.5" and params["size"] == "224" and params["view"] == "Channels"

    with fresh_page(browser, page.url) as other:
        assert shown(other, "heatmap_layer") == "m[0][5]: layer2 (stride 8)"
        assert shown(other, "heatmap_size") == "224"
        assert shapes(other) == shapes(page)
        assert other.locator(".st-key-heatmap_channels").get_by_text("Channel 0").count() == 1
        assert_no_exception(other)


def test_a_bad_link_opens_with_defaults_and_a_sentence(page, server):
    page.goto(f"{server}/heatmap?layer=9.9&size=banana&view=Nope&channel=-4")
    wait_for_run(page)
    warning = one_warning(page, has_text="could not be used")
    for name in ("layer=9.9", "size=banana", "view=Nope", "channel=-4"):
        assert name in warning
    assert "torch.Size([512, 11, 11])" in shapes(page) or "torch.Size([512, 7, 7])" in shapes(page)
    assert shown(page, "heatmap_layer") == "m[0]: the whole body, as in the lesson"
    assert_no_exception(page)


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


def test_screenshot_of_the_page(page):
    open_heatmap(page)
    open_view(page, "Channels")
    browser = page.locator(".st-key-heatmap_channels")
    browser.get_by_text("Channel 0", exact=True).wait_for()
    # Nearest interpolation in the browser equals overlay(..., interpolation="nearest") too.
    drawn = browser.locator(".hm-channels")
    before = int(drawn.get_attribute("data-drawn"))
    page.locator(".st-key-heatmap_interp").get_by_text("nearest").click()
    wait_for_run(page)
    # The new look arrives as new data: wait until the browser has drawn with it.
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('.st-key-heatmap_channels *')].some((e) =>"
        " e.shadowRoot && Number(e.shadowRoot.querySelector('.hm-channels').dataset.drawn) > n)",
        arg=before,
    )
    net, x, picture = untrained_at(352)
    acts = hm.activations(net, x, "0")
    expected = np.asarray(hm.overlay(picture, acts[0], interpolation="nearest"), dtype=np.int16)
    got = canvas_pixels(page, ".st-key-heatmap_channels canvas.picture")
    assert np.abs(got - expected).mean() < 0.5 and np.abs(got - expected).max() <= 3
    page.locator(".st-key-heatmap_interp").get_by_text("bilinear").click()
    wait_for_run(page)
    browser.get_by_text("Channel 0", exact=True).wait_for()
    assert_no_exception(page)
    # Streamlit scrolls inside its main element: a tall viewport shows the whole page.
    page.set_viewport_size({"width": 1400, "height": 2600})
    wait_for_run(page)
    screenshot(page, "heatmap")


# --- the CAM family, faithfulness, across training and top losses, checkpoints on disk ---------


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    """A home with two shapes checkpoints (64 and 96 px) and a run whose checkpoint is on disk."""
    import json
    import os

    from explorer import paths

    from .test_interpret import save_run, tiny_config
    from .test_page_heatmap import save_shapes_ckpt

    home = tmp_path_factory.mktemp("trained-home")
    old = os.environ.get("EXPLORER_HOME")
    os.environ["EXPLORER_HOME"] = str(home)
    try:
        save_run(tiny_config())
        save_shapes_ckpt("shapes96", 96, seed=1)
        save_shapes_ckpt("shapes64", 64)  # the newest, but under 96 px: not the default
        assert (paths.runs_dir() / "run-1" / "config.json").is_file()
        json.loads((paths.runs_dir() / "run-1" / "config.json").read_text())
    finally:
        if old is None:
            os.environ.pop("EXPLORER_HOME")
        else:
            os.environ["EXPLORER_HOME"] = old
    return home


@pytest.fixture(scope="module")
def trained_server(trained_home):
    """`streamlit run` of the app on that home (the shared `server` has an empty one)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from . import browser_kit

    if not os.path.exists(browser_kit.CHROMIUM):
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install -y chromium)")
    port = browser_kit.free_port()
    env = dict(
        os.environ,
        EXPLORER_HOME=str(trained_home),
        STREAMLIT_SERVER_HEADLESS="true",
        STREAMLIT_SERVER_PORT=str(port),
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
    )
    cmd = [sys.executable, "-m", "streamlit", "run", str(browser_kit.ROOT / "app.py")]
    with open(trained_home / "server.log", "w") as log:
        proc = subprocess.Popen(
            [*cmd, "--server.address", "127.0.0.1"],
            cwd=browser_kit.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
        proc.terminate()
        proc.wait(10)


def caption_texts(pg) -> list[str]:
    return pg.locator(f"{MAIN} [data-testid='stImageCaption']").all_inner_texts()


def metric_value(pg, label: str) -> str:
    box = pg.locator("[data-testid='stMetric']", has_text=label).first
    return box.locator("[data-testid='stMetricValue']").inner_text()


def test_methods_faithfulness_training_row_and_top_losses(
    browser, trained_server, trained_home, monkeypatch
):
    from explorer import interpret

    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)
    # The 64 px model by name: unnamed, the page opens the newest checkpoint trained at >= 96 px.
    link = "model=ckpt:shapes64&layer=0.6&view=Grad-CAM&map=hirescam&faith=1"
    pg.goto(f"{trained_server}/heatmap?{link}")
    wait_for_run(pg)
    assert shown(pg, "heatmap_model").startswith("shapes64")
    assert shown(pg, "heatmap_map") == "HiResCAM"
    # The map and the faithfulness beside it are those computed here, by their own functions.
    monkeypatch.setenv("EXPLORER_HOME", str(trained_home))
    model, _ = models.load("shapes64")
    x, _ = hm.prepare(sample_images()["chelsea"], 64, [0.5] * 3, [0.25] * 3)
    with torch.no_grad():
        k = int(model(x)[0].argmax())
    m = hm.cam_map(model, x, "0.6", k, "hirescam")
    f = hm.faithfulness(model, x, m, k, steps=10)
    assert any(c.startswith("hirescam: range") for c in caption_texts(pg))
    assert metric_value(pg, "Deletion area") == f"{f.deletion.auc:.3f}"
    assert metric_value(pg, "Insertion area") == f"{f.insertion.auc:.3f}"
    assert pg.locator(".st-key-heatmap_faith_chart .js-plotly-plot").count() == 1
    # Switching the method redraws the map and its panel.
    choose(pg, "heatmap_map", "Score-CAM (slow: one forward per channel)")
    assert any(c.startswith("scorecam: range") for c in caption_texts(pg))
    assert url_params(pg)["map"] == "scorecam"
    s = hm.cam_map(model, x, "0.6", k, "scorecam", dtype=hm.fast_dtype("cpu"))
    fs = hm.faithfulness(model, x, s, k, steps=10)
    # Score-CAM's passes run batched in another process: the last digit may differ.
    assert float(metric_value(pg, "Deletion area")) == pytest.approx(fs.deletion.auc, abs=2e-3)
    # The method table, with the pointing game on fresh shapes.
    pg.locator(".st-key-heatmap_compare label").click()
    wait_for_run(pg)
    assert pg.locator(f"{MAIN} [data-testid='stDataFrame']").count() == 1
    assert pg.locator("[data-testid='stAlertContentSuccess']", has_text="Most faithful").count()
    # Across training (two checkpoints, each at its own size) and after the run (top losses with
    # their Grad-CAM), opened from a link.
    ckpts = "ckpt:shapes64,ckpt:shapes96"
    pg.goto(f"{trained_server}/heatmap?layer=0.6&ckpts={ckpts}&run=run-1&interpret=1")
    wait_for_run(pg)
    row = [c for c in caption_texts(pg) if " px · " in c]
    assert [c.split(" · ")[:2] for c in row] == [["shapes64", "64 px"], ["shapes96", "96 px"]]
    assert url_params(pg)["ckpts"] == ckpts
    it = interpret.interpret_run(trained_home / "runs" / "run-1", layer="0.6")
    losses = [c for c in caption_texts(pg) if c.count(" / ") == 3]
    assert len(losses) == len(it.top) == 9
    t = it.top[0]
    assert (
        losses[0] == f"{it.classes[t.pred]} / {it.classes[t.label]} / {t.loss:.2f} / {t.prob:.2f}"
    )
    assert_no_exception(pg)
    screenshot(pg, "heatmap-methods")
    ctx.close()
