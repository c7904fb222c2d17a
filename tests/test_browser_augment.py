"""The Augmentation page in a real browser: the 3×3 grid renders, a slider redraws it, and a padding
change reaches the sections below the settings (they once kept the old padding until a full rerun);
settings survive a page switch, live in the URL and in JSON files; a tile's hover shows its values;
a batch of shapes, A/B with B from a settings file, and a trained checkpoint's labels on the tiles.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import torch

from explorer import augment as aug

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

TILE = re.compile(r"^[0-8]: ")  # the grid's captions: "i: rotate … · zoom …"


def _tiles(pg) -> list[tuple[str, str]]:
    """(img src, caption) of the 3×3 grid (the tile component), in order."""
    out = []
    figures = pg.locator(".st-key-augment_tiles figure.tile")
    figures.nth(8).wait_for(state="attached")  # the component's JS draws them after the run
    for i in range(figures.count()):
        fig = figures.nth(i)
        text = fig.locator("figcaption").inner_text()
        if TILE.match(text):
            out.append((fig.locator("img").get_attribute("src"), text))
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
            .map(b => b.querySelector("img"))
            .map(i => [i.naturalWidth, i.naturalHeight])"""
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


def _slider_value(pg, key: str) -> float:
    return float(pg.locator(f".st-key-{key} input[type='range']").first.input_value())


def _set_settings(pg) -> None:
    """max rotate 180°, zeros padding, tile size 64 and one new draw (seed 1)."""
    pg.locator(".st-key-augment_max_rotate input[type='range']").focus()
    pg.keyboard.press("End")
    wait_for_run(pg)
    pg.locator(".st-key-augment_padding label", has_text="zeros").click()
    wait_for_run(pg)
    pg.locator(".st-key-augment_size input[type='range']").focus()
    pg.keyboard.press("Home")
    wait_for_run(pg)
    pg.locator(".st-key-augment_new_draw button").click()
    wait_for_run(pg)


def _check_settings(pg) -> None:
    assert _slider_value(pg, "augment_max_rotate") == 180.0
    checked = pg.locator(".st-key-augment_padding input[type='radio']:checked")
    assert checked.get_attribute("value") == str(aug.PADDING_MODES.index("zeros"))  # its index
    shapes = pg.locator("[data-testid='stCaptionContainer']", has_text="Shapes:").first
    assert "tiles (9, 3, 64, 64)" in shapes.inner_text()
    assert pg.locator(".st-key-augment_seed input").input_value() == "1"


def test_settings_survive_home_and_back_and_a_copied_link_opens_them(page, browser, server):
    pg = page
    open_page(pg, "Augmentation")
    _set_settings(pg)
    _eventually(pg, lambda: _check_settings(pg))
    tiles = _tiles(pg)
    url = pg.url
    assert all(f in url for f in ("max_rotate=180", "padding=zeros", "size=64", "seed=1")), url

    open_page(pg, "Home")
    open_page(pg, "Augmentation")
    _eventually(pg, lambda: _check_settings(pg))
    assert _tiles(pg) == tiles  # the same draw, pixel for pixel
    assert_no_exception(pg)

    with fresh_page(browser, url) as other:
        _eventually(other, lambda: _check_settings(other))
        assert [c for _, c in _tiles(other)] == [c for _, c in tiles]
        assert_no_exception(other)
        assert warnings(other, main_only=False).count() == 0


def test_a_bad_link_opens_with_defaults_and_one_sentence(page, server):
    pg = page
    pg.goto(f"{server}/augment?max_rotate=abc&size=65&max_zoom=1.5")
    wait_for_run(pg)
    text = one_warning(pg)
    assert "max_rotate=abc" in text and "size=65" in text
    assert _slider_value(pg, "augment_max_rotate") == 20.0  # the lesson's default
    assert _slider_value(pg, "augment_max_zoom") == 1.5  # the good value is kept
    assert len(_tiles(pg)) == 9
    assert_no_exception(pg)


def _upload_settings(pg, path) -> None:
    box = pg.locator("[data-testid='stExpander']", has_text="Settings file (JSON)")
    if not box.locator(".st-key-augment_settings_file").is_visible():
        box.locator("summary").click()
    pg.locator(".st-key-augment_settings_file input[type='file']").set_input_files(str(path))
    pg.wait_for_timeout(500)
    wait_for_run(pg)


def test_settings_json_downloads_and_a_good_file_loads_and_a_bad_one_is_refused(page, tmp_path):
    pg = page
    open_page(pg, "Augmentation")
    pg.locator(".st-key-augment_max_rotate input[type='range']").focus()
    pg.keyboard.press("End")
    wait_for_run(pg)
    pg.locator("[data-testid='stExpander'] summary", has_text="Settings file (JSON)").click()
    with pg.expect_download() as got:
        pg.locator(".st-key-augment_settings_download button").click()
    with open(got.value.path()) as f:
        saved = aug.AugSettings.from_dict(json.load(f))
    # the settings the widgets show: the ratio slider holds fastai's 4/3 to its step, 0.01
    assert saved == aug.AugSettings.lesson(max_rotate=180.0, resize_crop_ratio=1.33)

    good = tmp_path / "good.json"
    good.write_text(aug.AugSettings.lesson(max_rotate=45.0, padding_mode="border").to_json())
    _upload_settings(pg, good)
    _eventually(pg, lambda: _check_value(pg, "augment_max_rotate", 45.0))
    assert pg.locator("[data-testid='stMain'] [data-testid='stAlertContentError']").count() == 0

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"max_rotate": 10.0, "p_affine": 2.0}))
    _upload_settings(pg, bad)
    errors = pg.locator("[data-testid='stMain'] [data-testid='stAlertContentError']")
    _eventually(pg, lambda: _check_count(errors, 1))
    text = errors.first.inner_text()
    assert text.startswith("bad.json was not loaded") and "p_affine" in text
    assert _slider_value(pg, "augment_max_rotate") == 45.0  # the current settings stay
    assert_no_exception(pg)


def _check_value(pg, key: str, want: float) -> None:
    assert _slider_value(pg, key) == want


def _check_count(loc, n: int) -> None:
    assert loc.count() == n


RUN_COUNTER = """() => {
  window.__runs = 0;
  const app = document.querySelector("[data-testid='stApp']");
  new MutationObserver((records) => {
    if (records.some((r) => r.oldValue === "running" || app.dataset.testScriptState === "running"))
      window.__runs += 1;
  }).observe(app, {attributes: true, attributeOldValue: true,
                   attributeFilter: ["data-test-script-state"]});
}"""


def test_hovering_a_tile_shows_the_values_drawn_for_it(page):
    pg = page
    open_page(pg, "Augmentation")
    params = aug.draw(aug.AugSettings.lesson(), 9, torch.Generator().manual_seed(0))
    figures = pg.locator(".st-key-augment_tiles figure.tile")
    figures.nth(8).wait_for(state="attached")  # the component's JS draws them after the run
    assert figures.count() == 9
    pg.evaluate(RUN_COUNTER)
    for i in (0, 4, 8):
        figures.nth(i).hover()
        panel = figures.nth(i).locator(".values")
        panel.wait_for(state="visible")
        assert sum(figures.nth(j).locator(".values").is_visible() for j in range(9)) == 1
        rows = {
            r.locator("th").inner_text(): r.locator("td").inner_text()
            for r in panel.locator("tr").all()
        }
        v = params.values(i)
        assert float(rows["rotate"].rstrip("°")) == pytest.approx(v["angle"], abs=0.005)
        zoom = [float(x) for x in re.findall(r"\d+\.\d+", rows["zoom"])]
        assert zoom == pytest.approx([v["zoom"], v["zoom_row"], v["zoom_col"]], abs=5e-4)
        assert float(rows["brightness"]) == pytest.approx(v["brightness"], abs=5e-4)
        assert float(rows["contrast"].lstrip("×")) == pytest.approx(v["contrast"], abs=5e-4)
        warp = [float(w) for w in rows["warp"].strip("[]").split(",")]
        assert warp == pytest.approx(v["warp"], abs=5e-4)
        assert rows["flip ↔"] == ("yes" if v["flip"] else "no")
        assert len(rows) >= 15  # every transform, changed or not
    # the keyboard too: focus a tile, arrows move between tiles and the values follow
    pg.mouse.move(0, 0)
    figures.nth(0).focus()
    pg.keyboard.press("ArrowRight")
    pg.keyboard.press("ArrowDown")
    figures.nth(4).locator(".values").wait_for(state="visible")
    assert figures.nth(4).evaluate("f => f.matches(':focus')")
    assert pg.evaluate("() => window.__runs") == 0  # hover and keys ran no script
    # hovering shows values without a rerun; a click selects the tile for the inspector
    figures.nth(4).click()
    wait_for_run(pg)
    _eventually(pg, lambda: _check_value(pg, "augment_tile", 4.0))
    assert pg.evaluate("() => window.__runs") >= 1  # the click did rerun: the counter counts
    figures.nth(4).hover()
    pg.wait_for_timeout(200)
    screenshot(pg, "augmentation")
    assert_no_exception(pg)


def test_with_flip_off_vertical_flips_and_their_p_are_disabled(page):
    pg = page
    open_page(pg, "Augmentation")

    def disabled(key: str) -> bool:
        box = pg.locator(f".st-key-{key}")
        return box.locator("input").first.is_disabled()

    assert not disabled("augment_flip_vert") and not disabled("augment_p_flip")
    pg.locator(".st-key-augment_do_flip label").click()
    wait_for_run(pg)
    _eventually(pg, lambda: _check_disabled(disabled, True))
    pg.locator(".st-key-augment_do_flip label").click()
    wait_for_run(pg)
    _eventually(pg, lambda: _check_disabled(disabled, False))
    assert_no_exception(pg)


def _check_disabled(disabled, want: bool) -> None:
    assert disabled("augment_flip_vert") is want
    assert disabled("augment_p_flip") is want
    assert disabled("augment_p_dihedral") is True  # dihedral needs vertical flips as well


# ------------------------------------------------------------------ batch, A/B, predictions

PREDICTED = re.compile(r"^(⚠ )?(circle|square|triangle|cross|star) \d+% · ")


def _server_home(tmp_path_factory) -> Path:
    """The EXPLORER_HOME of this module's server (conftest makes it with mktemp("home"))."""
    homes = sorted(
        tmp_path_factory.getbasetemp().glob("home*/server.log"), key=lambda p: p.stat().st_mtime
    )
    assert homes, "no server home"
    return homes[-1].parent


def _train_tiny_shapes_checkpoint(folder: Path) -> str:
    """A resnet18 trained a few Adam steps on 64-px shapes (seconds on a CPU)."""
    from explorer import images, models
    from explorer.shapes import make_shapes

    torch.manual_seed(0)
    sd = make_shapes(48, size=64, seed=2)
    model = models.create_cnn("resnet18", len(sd.classes), seed=0).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    mean = torch.tensor(images.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(images.IMAGENET_STD).view(1, 3, 1, 1)
    x = (sd.images.float() / 255 - mean) / std
    losses = []
    for _ in range(4):
        loss = torch.nn.functional.cross_entropy(model(x), sd.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]  # it did learn something
    meta = {
        "arch": "resnet18",
        "classes": list(sd.classes),
        "size": 64,
        "mean": list(images.IMAGENET_MEAN),
        "std": list(images.IMAGENET_STD),
        "config": {"data": "shapes", "n_shapes": 48, "seed": 2, "valid_pct": 0.25},
    }
    models.save(model.eval(), "tiny-shapes", meta, folder=folder)
    return "tiny-shapes"


def _captions(pg, key: str, n: int) -> list[tuple[str, bool]]:
    """(caption, flagged) of the n tiles of tile grid `key`."""
    figures = pg.locator(f".st-key-{key} figure.tile")
    figures.nth(n - 1).wait_for(state="attached")
    assert figures.count() == n
    return [
        (
            figures.nth(i).locator("figcaption").inner_text(),
            "flag" in (figures.nth(i).get_attribute("class") or ""),
        )
        for i in range(n)
    ]


def test_batch_a_b_and_predictions_with_a_trained_shapes_checkpoint(
    page, server, tmp_path_factory, tmp_path
):
    name = _train_tiny_shapes_checkpoint(_server_home(tmp_path_factory) / "weights")
    pg = page
    view = "Batch+%26+A%2FB"
    pg.goto(f"{server}/augment?model={name}&view={view}&batch_source=Shapes&batch_n=6")
    wait_for_run(pg)
    assert_no_exception(pg)
    # the 9 draws of the photo: each labelled, flagged exactly where the label flipped
    grid = _captions(pg, "augment_tiles", 9)
    for caption, flagged in grid:
        assert PREDICTED.match(caption), caption
        assert flagged == caption.startswith("⚠ ")
    # the batch: six different shapes, each with its own draw and its own prediction
    batch = _captions(pg, "augment_batch_tiles", 6)
    from explorer.augment.sources import from_shapes

    params = aug.draw(aug.AugSettings.lesson(), 6, torch.Generator().manual_seed(0))
    labels = from_shapes(6, size=192, seed=0).labels
    for i, (caption, _) in enumerate(batch):
        assert PREDICTED.match(caption), caption
        assert caption.endswith(f"shape {i} ({labels[i]}): {params.describe(i)}"), caption
    srcs = pg.locator(".st-key-augment_batch_tiles figure.tile img")
    assert len({srcs.nth(i).get_attribute("src") for i in range(6)}) == 6
    screenshot(pg, "augment_batch_predictions")

    # A/B: B (fastai's defaults) beside A on the same pictures; B from a file, good and bad
    pg.locator(".st-key-augment_ab label").first.click()
    wait_for_run(pg)
    a, b = _captions(pg, "augment_a_tiles", 6), _captions(pg, "augment_b_tiles", 6)
    assert [c.split(" · ")[1].split(":")[0] for c, _ in a] == [
        c.split(" · ")[1].split(":")[0] for c, _ in b
    ]  # the same pictures, in the same order
    mine = aug.AugSettings.off(max_rotate=33.0)
    good = tmp_path / "b.json"
    good.write_text(mine.to_json())
    pg.locator(".st-key-augment_b_file input[type='file']").set_input_files(str(good))
    pg.wait_for_timeout(500)
    wait_for_run(pg)
    want = aug.draw(mine, 6, torch.Generator().manual_seed(0))

    def b_is_mine() -> None:
        got = _captions(pg, "augment_b_tiles", 6)
        assert all(c.endswith(want.describe(i)) for i, (c, _) in enumerate(got)), got

    _eventually(pg, b_is_mine)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"max_rotate": 10.0, "p_lighting": -1}))
    pg.locator(".st-key-augment_b_file input[type='file']").set_input_files(str(bad))
    pg.wait_for_timeout(500)
    wait_for_run(pg)
    errors = pg.locator("[data-testid='stMain'] [data-testid='stAlertContentError']")
    _eventually(pg, lambda: _check_count(errors, 1))
    text = errors.first.inner_text()
    assert text.startswith("bad.json was not loaded as B") and "p_lighting" in text
    b_is_mine()  # B stays as it was
    screenshot(pg, "augment_a_b")

    # another tab and back: the batch's widgets keep their values (and B its settings)
    pg.locator(".st-key-augment_view [role='tab']", has_text="Export").click()
    wait_for_run(pg)
    pg.locator(".st-key-augment_view [role='tab']", has_text="Batch & A/B").click()
    wait_for_run(pg)
    source = pg.locator(".st-key-augment_batch_source input[type='radio']:checked")
    assert source.get_attribute("value") == "3"  # Shapes, the fourth source
    assert _slider_value(pg, "augment_batch_n") == 6.0
    _eventually(pg, b_is_mine)
    assert_no_exception(pg)
