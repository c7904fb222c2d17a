"""AppTest of the Augmentation page: the grid renders, and sliders, padding and draws change it;
tiles carry every drawn value, settings come from the URL and from JSON files, and controls that
do nothing in the current settings are disabled. A batch of shapes or uploads gets one draw per
picture, A/B shows settings B (from a file) beside A, a library's pipeline runs beside ours, and a
checkpoint labels every tile and measures its robustness."""

from __future__ import annotations

import json
import re

import pytest
import torch

from explorer import augment as aug


def _component(at) -> dict:
    """The data the tile grid component was mounted with ({"tiles": [...], ...})."""
    found = [
        el
        for el in at.main.get("bidi_component")
        if getattr(el.proto, "component_name", "") == "cnn_explorer.tiles"
    ]
    assert len(found) == 1
    return json.loads(found[0].proto.json)


def _grid(at) -> list[tuple[str, str]]:
    """(image url, caption) of the 3×3 grid's tiles, in order (their captions start "i: ")."""
    tiles = []
    for tile in _component(at)["tiles"]:
        if tile["caption"][:2] in {f"{i}:" for i in range(9)}:
            tiles.append((tile["src"], tile["caption"]))
    return tiles


def test_grid_renders_and_reacts_to_sliders_padding_draws_and_presets(app_test):
    at = app_test("augment")
    assert not at.exception
    grid = _grid(at)
    assert len(grid) == 9
    # the lesson's settings: every tile rotated (p_affine = 1) and lit (p_lighting = 1)
    assert all("rotate" in cap and "brightness" in cap for _, cap in grid)

    at.slider(key="augment_max_rotate").set_value(90.0).run()
    assert not at.exception
    turned = _grid(at)
    assert [u for u, _ in turned] != [u for u, _ in grid]

    at.radio(key="augment_padding").set_value("zeros").run()
    assert not at.exception
    zeros = _grid(at)
    assert [u for u, _ in zeros] != [u for u, _ in turned]
    assert [c for _, c in zeros] == [c for _, c in turned]  # same draw, other padding

    at.button(key="augment_new_draw").click().run()
    assert not at.exception
    assert at.number_input(key="augment_seed").value == 1
    assert [c for _, c in _grid(at)] != [c for _, c in zeros]

    at.button(key="augment_preset_off").click().run()
    assert not at.exception
    assert [c for _, c in _grid(at)] == [f"{i}: unchanged" for i in range(9)]
    at.selectbox(key="augment_series").set_value("symmetric_warp")
    at.slider(key="augment_chain_angle").set_value(-30.0)
    at.slider(key="augment_tile").set_value(4).run()
    assert not at.exception
    captions = [img.caption for el in at.main.get("image") for img in el.proto.imgs]
    assert any(c.startswith("warp magnitude") for c in captions)
    psnrs = [float(c.split("PSNR ")[1].split(" dB")[0]) for c in captions if "PSNR" in c]
    assert len(psnrs) == 2 and psnrs[0] > psnrs[1]  # one resample beats the chain


def test_photo_too_small_to_augment_is_one_sentence(app_test, monkeypatch):
    """A 1-pixel-wide strip cannot be resampled: one error naming its size, no traceback."""
    from explorer import images

    strip = images.Image.new("RGB", (1, 3000), (9, 9, 9))
    monkeypatch.setattr(images, "sample_images", lambda: {"strip": strip})
    at = app_test("augment")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "strip is 1×3000 pixels; augmentation needs at least 2×2. "
        "Pick another image in the sidebar."
    ]
    assert not at.main.get("image")


def _number(text: str) -> float:
    return float(re.search(r"[-+]?\d+\.\d+|[-+]?\d+", text).group())


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", text)]


def test_every_tile_carries_the_values_drawn_for_it(app_test):
    """Each tile's value rows are the draw's own numbers: an independent draw with the same seed
    and settings (the lesson's, seed 3, perspective and cutout on) gives them back."""
    at = app_test("augment")
    at.number_input(key="augment_seed").set_value(3)
    at.slider(key="augment_max_perspective").set_value(0.3)
    at.slider(key="augment_cutout_holes").set_value(3).run()
    assert not at.exception
    tiles = _component(at)["tiles"]
    assert len(tiles) == 9
    settings = aug.AugSettings.lesson(max_perspective=0.3, cutout_holes=3)
    params = aug.draw(settings, 9, torch.Generator().manual_seed(3))
    for i, tile in enumerate(tiles):
        v = params.values(i)
        rows = {name: (value, changed) for name, value, changed in tile["rows"]}
        assert rows["rotate"][0] == f"{v['angle']:+.2f}°" and rows["rotate"][1]
        assert _numbers(rows["zoom"][0]) == pytest.approx(
            [v["zoom"], v["zoom_row"], v["zoom_col"]], abs=5e-4
        )
        assert _numbers(rows["warp"][0]) == pytest.approx(v["warp"], abs=5e-4)
        corners = [c for corner in v["perspective"] for c in corner]
        assert _numbers(rows["perspective"][0]) == pytest.approx(corners, abs=5e-3)
        assert _number(rows["brightness"][0]) == pytest.approx(v["brightness"], abs=5e-4)
        assert _number(rows["contrast"][0]) == pytest.approx(v["contrast"], abs=5e-4)
        assert _numbers(rows["crop"][0]) == pytest.approx(
            [v["crop_row"], v["crop_col"], v["win_w"], v["win_h"]], abs=5e-4
        )
        assert rows["flip ↔"] == (("yes", True) if v["flip"] else ("no", False))
        assert rows["dihedral"][0] == f"{v['dihedral']} · {aug.DIHEDRAL_NAMES[v['dihedral']]}"
        holes = sum(v["cutout_on"])
        assert (
            rows["cutout"][0] == "off" if not holes else rows["cutout"][0].startswith(f"{holes} ×")
        )
        # unchanged transforms are listed too, marked as such
        assert rows["squish"] == ("1.000", False) and rows["pad"] == ("0 px", False)
        assert tile["caption"] == f"{i}: {params.describe(i)}"


def test_a_link_opens_its_settings_and_a_bad_link_says_what_it_ignored(app_test):
    from streamlit.testing.v1 import AppTest

    from .conftest import APP

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page("app_pages/augment.py")  # the link points at the Augmentation page
    at.query_params.update(max_rotate="90", padding="zeros", size="64", seed="7", do_flip="0")
    at.run()
    assert not at.exception and not at.warning
    assert at.slider(key="augment_max_rotate").value == 90.0
    assert at.radio(key="augment_padding").value == "zeros"
    assert at.select_slider(key="augment_size").value == 64
    assert at.number_input(key="augment_seed").value == 7
    assert at.toggle(key="augment_do_flip").value is False
    settings = aug.AugSettings.lesson(max_rotate=90.0, padding_mode="zeros", size=64, do_flip=False)
    params = aug.draw(settings, 9, torch.Generator().manual_seed(7))
    assert [c for _, c in _grid(at)] == [f"{i}: {params.describe(i)}" for i in range(9)]

    # the inspector's tile and tab are in the link too; only the open tab is computed
    tab = AppTest.from_file(str(APP), default_timeout=60)
    tab.switch_page("app_pages/augment.py")
    tab.query_params.update(view="Export", tile="3")
    tab.run()
    assert not tab.exception and not tab.warning
    lesson = aug.draw(aug.AugSettings.lesson(), 9, torch.Generator().manual_seed(0))
    assert f"Tile 3: {lesson.describe(3)}" in [c.value for c in tab.caption]
    assert any(c.value.startswith("from fastai.vision import *") for c in tab.code)
    captions = [img.caption for el in tab.main.get("image") for img in el.proto.imgs]
    assert not any(c.startswith("zeros:") for c in captions)  # the paddings tab is closed

    bad = AppTest.from_file(str(APP), default_timeout=60)
    bad.switch_page("app_pages/augment.py")
    bad.query_params.update(max_rotate="900", size="65", padding="mirror", seed="x", max_zoom="1.5")
    bad.run()
    assert not bad.exception
    assert len(bad.warning) == 1
    sentence = bad.warning[0].value
    assert all(
        name in sentence for name in ("max_rotate=900", "size=65", "padding=mirror", "seed=x")
    )
    assert bad.slider(key="augment_max_rotate").value == 20.0  # the lesson's default
    assert bad.select_slider(key="augment_size").value == 224
    assert bad.slider(key="augment_max_zoom").value == 1.5  # the good value is kept


def test_settings_file_loads_and_a_bad_one_is_refused_naming_the_field(app_test):
    at = app_test("augment")
    good = aug.AugSettings.lesson(max_rotate=45.0, padding_mode="border", flip_vert=True)
    at.file_uploader(key="augment_settings_file").set_value(
        ("mine.json", good.to_json().encode(), "application/json")
    ).run()
    assert not at.exception and not at.error
    assert at.slider(key="augment_max_rotate").value == 45.0
    assert at.radio(key="augment_padding").value == "border"
    assert at.toggle(key="augment_flip_vert").value is True
    params = aug.draw(good, 9, torch.Generator().manual_seed(0))
    assert [c for _, c in _grid(at)] == [f"{i}: {params.describe(i)}" for i in range(9)]

    for content, field in (
        (b"{not json", None),
        (json.dumps({"max_rotate": 10, "colour": 3}).encode(), "colour"),
        (json.dumps({"p_affine": 1.5}).encode(), "p_affine"),
        (json.dumps({"max_rotate": 300.0}).encode(), "max_rotate"),  # beyond the slider's 180
        (json.dumps({"size": 100}).encode(), "size"),
        (json.dumps([1, 2]).encode(), None),
    ):
        at.file_uploader(key="augment_settings_file").set_value(
            ("bad.json", content, "application/json")
        ).run()
        assert not at.exception
        assert len(at.error) == 1, content
        assert at.error[0].value.startswith("bad.json was not loaded: ")
        if field:
            assert field in at.error[0].value
        # the current settings stay
        assert at.slider(key="augment_max_rotate").value == 45.0
        assert at.radio(key="augment_padding").value == "border"


def _disabled(at, key: str) -> bool:
    for kind in ("slider", "toggle"):
        for w in getattr(at, kind):
            if w.key == key:
                return w.disabled
    raise AssertionError(key)


def test_controls_that_do_nothing_are_disabled(app_test):
    at = app_test("augment")
    flips = ("augment_flip_vert", "augment_p_flip", "augment_p_dihedral")
    assert [_disabled(at, k) for k in flips] == [False, False, True]  # no dihedral yet
    at.toggle(key="augment_do_flip").set_value(False).run()
    assert [_disabled(at, k) for k in flips] == [True, True, True]
    at.toggle(key="augment_do_flip").set_value(True).run()
    at.toggle(key="augment_flip_vert").set_value(True).run()
    assert [_disabled(at, k) for k in flips] == [False, True, False]
    # the lesson's extra transforms are off, so their probabilities are disabled ...
    assert _disabled(at, "augment_p_perspective") and _disabled(at, "augment_p_cutout")
    assert _disabled(at, "augment_zoom_row")  # random zoom focus
    at.slider(key="augment_max_perspective").set_value(0.2).run()
    assert not _disabled(at, "augment_p_perspective")  # ... until the magnitude is on
    assert not at.exception


@pytest.mark.parametrize(
    "settings",
    [
        aug.AugSettings.lesson(do_flip=False),
        aug.AugSettings.lesson(flip_vert=True),
        aug.AugSettings.off(),
        aug.AugSettings.lesson(max_zoom=1.0, max_resize_crop=1.0),
    ],
)
def test_a_disabled_control_really_changes_no_draw(settings):
    """The oracle for the page's rule: draw() gives the same parameters whatever a control that
    the page disables is set to."""
    from explorer.augment import inert_controls

    widget = {**settings.to_dict(), "zoom_random": settings.zoom_row is None}
    inert = inert_controls(widget, photo_square=False)
    assert inert  # every case disables something
    base = aug.draw(settings, 64, torch.Generator().manual_seed(5))
    for name in inert:
        if name in ("zoom_row", "zoom_col") and widget["zoom_random"]:
            continue  # with a random focus the page builds zoom_row=None whatever they show
        if name in ("zoom_random", "zoom_row", "zoom_col"):
            changed = {"zoom_row": 0.1, "zoom_col": 0.9}
        elif isinstance(getattr(settings, name), bool):
            changed = {name: not getattr(settings, name)}
        else:
            lim = aug.FIELD_LIMITS[name]
            changed = {name: 1.7 if lim.hi is None else (lim.lo + (lim.hi or 1)) / 2 + 0.01}
        other = aug.draw(
            aug.AugSettings(**{**settings.to_dict(), **changed}),
            64,
            torch.Generator().manual_seed(5),
        )
        for f in (
            "flip",
            "dihedral",
            "angle",
            "zoom",
            "zoom_row",
            "zoom_col",
            "squish",
            "warp",
            "perspective",
            "win_w",
            "win_h",
            "brightness",
            "contrast",
            "cutout_on",
            "rgb",
        ):
            a, b = getattr(base, f), getattr(other, f)
            if f in ("zoom_row", "zoom_col"):  # the focus only matters where a zoom happened
                a, b = a[base.zoom != 1], b[base.zoom != 1]
            assert torch.equal(a, b), (name, f)


def test_random_crop_position_is_disabled_only_where_a_square_photo_leaves_it_no_room():
    """On a square photo the crop window is the whole photo: with and without rand_crop the same
    draw gives the same tiles (the oracle), so the page disables it; on a wide photo it does not."""
    from explorer.augment import inert_controls

    settings = aug.AugSettings.lesson(max_resize_crop=1.5, p_resize_crop=0.5)
    values = {**settings.to_dict(), "zoom_random": True}
    assert "rand_crop" in inert_controls(values, photo_square=True)
    assert "rand_crop" not in inert_controls(values, photo_square=False)
    torch.manual_seed(0)
    for shape, same in (((3, 40, 40), True), ((3, 40, 64), False)):
        img = torch.rand(shape)
        tiles = [
            aug.apply(
                img,
                aug.draw(
                    aug.AugSettings(**{**settings.to_dict(), "rand_crop": on}),
                    9,
                    torch.Generator().manual_seed(1),
                ),
                24,
                "reflection",
            )
            for on in (True, False)
        ]
        assert torch.allclose(tiles[0], tiles[1], atol=1e-5) is same


# ------------------------------------------------------------------ batch, A/B, predictions


def _page(app_test, **params):
    """The Augmentation page opened from a link with `params` (app_test for its clean home)."""
    from streamlit.testing.v1 import AppTest

    from .conftest import APP

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("app_pages/augment.py")
    at.query_params.update(**params)
    at.run()
    assert not at.exception
    return at


def _mounted(at, key: str) -> list[dict]:
    """The tiles a tile grid with widget key `key` was mounted with."""
    for el in at.main.get("bidi_component"):
        data = json.loads(el.proto.json)
        if getattr(el.proto, "component_name", "") == "cnn_explorer.tiles" and key in el.proto.id:
            return data["tiles"]
    raise AssertionError(f"no tile grid {key}")


def test_batch_of_shapes_gives_each_picture_its_own_draw(app_test):
    from explorer.augment import sources

    at = _page(app_test, view="Batch & A/B", batch_source="Shapes", batch_n="6", seed="4")
    tiles = _mounted(at, "augment_batch_tiles")
    shapes = sources.from_shapes(6, size=192, seed=0)
    params = aug.draw(aug.AugSettings.lesson(), 6, torch.Generator().manual_seed(4))
    assert [t["caption"] for t in tiles] == [
        f"shape {i} ({shapes.labels[i]}): {params.describe(i)}" for i in range(6)
    ]
    assert len({t["src"] for t in tiles}) == 6  # six different pictures
    rows = {r[0]: r[1] for r in tiles[2]["rows"]}
    assert rows["rotate"] == f"{params.values(2)['angle']:+.2f}°"


def _png(colour, size=(40, 30)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_uploaded_pictures_make_the_batch_and_a_bad_file_is_one_sentence(app_test):
    at = _page(app_test, view="Batch & A/B", batch_source="My uploads", seed="0")
    assert not _batch_grids(at)  # nothing uploaded yet: an invitation, no grid
    at.file_uploader(key="augment_batch_files").set_value(
        [
            ("red.png", _png((255, 0, 0)), "image/png"),
            ("broken.png", b"\x89PNG not really", "image/png"),
            ("blue.png", _png((0, 0, 255), (25, 50)), "image/png"),
        ]
    ).run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and at.warning[0].value.startswith("broken.png was left out: ")
    tiles = _mounted(at, "augment_batch_tiles")
    params = aug.draw(aug.AugSettings.lesson(), 2, torch.Generator().manual_seed(0))
    assert [t["caption"] for t in tiles] == [
        f"red.png: {params.describe(0)}",
        f"blue.png: {params.describe(1)}",
    ]


def _batch_grids(at) -> list[str]:
    return [
        el.proto.id
        for el in at.main.get("bidi_component")
        if "batch_tiles" in el.proto.id or "a_tiles" in el.proto.id
    ]


def cap(tile: dict) -> str:
    """A batch tile's caption without the picture's name."""
    return tile["caption"].split(": ", 1)[1]


def test_a_b_shows_both_settings_on_the_same_pictures_and_loads_b_from_a_file(app_test):
    at = _page(app_test, view="Batch & A/B", batch_source="Shapes", batch_n="4", ab="1")
    a = aug.draw(aug.AugSettings.lesson(), 4, torch.Generator().manual_seed(0))
    b = aug.draw(aug.AugSettings(), 4, torch.Generator().manual_seed(0))  # B: fastai's defaults
    assert [cap(t) for t in _mounted(at, "augment_a_tiles")] == [a.describe(i) for i in range(4)]
    assert [cap(t) for t in _mounted(at, "augment_b_tiles")] == [b.describe(i) for i in range(4)]
    names = [t["caption"].split(": ")[0] for t in _mounted(at, "augment_b_tiles")]
    assert names == [t["caption"].split(": ")[0] for t in _mounted(at, "augment_a_tiles")]
    table = at.table[0].value
    assert "max_rotate" in list(table["setting"])

    mine = aug.AugSettings.off(max_rotate=33.0)
    at.file_uploader(key="augment_b_file").set_value(
        ("b.json", mine.to_json().encode(), "application/json")
    ).run()
    assert not at.exception and not at.error
    want = aug.draw(mine, 4, torch.Generator().manual_seed(0))
    assert [cap(t) for t in _mounted(at, "augment_b_tiles")] == [want.describe(i) for i in range(4)]
    for content, field in (
        (json.dumps({"max_rotate": "a lot"}).encode(), "max_rotate"),
        (json.dumps({"cutout_size": 0.1, "cutout_size_min": 0.3}).encode(), "cutout_size_min"),
        (b"[]", None),
    ):
        at.file_uploader(key="augment_b_file").set_value(
            ("bad.json", content, "application/json")
        ).run()
        assert not at.exception and len(at.error) == 1
        assert at.error[0].value.startswith("bad.json was not loaded as B: ")
        if field:
            assert field in at.error[0].value
        assert [cap(t) for t in _mounted(at, "augment_b_tiles")] == [
            want.describe(i) for i in range(4)
        ]  # B stays as it was


def test_with_a_library_shows_its_pipeline_and_notes(app_test):
    at = _page(app_test, view="With a library", library="albumentations")
    captions = [img.caption for el in at.main.get("image") for img in el.proto.imgs]
    assert any(c.startswith("albumentations: its own draws") for c in captions)
    assert any(c.startswith("ours: one resample") for c in captions)
    _, notes = aug.export(aug.AugSettings.lesson(), "albumentations")
    shown = [c.value for c in at.caption]
    assert all(f"• {n}" in shown for n in notes)


def _constant_checkpoint(home, winner: int = 4) -> str:
    """A shapes checkpoint whose head always says class `winner` with probability ≈ 1: its final
    layer has zero weights and a bias of 30 for that class."""
    from explorer import images, models
    from explorer.shapes import SHAPE_CLASSES

    model = models.create_cnn("resnet18", len(SHAPE_CLASSES), seed=0)
    final = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        final.weight.zero_()
        final.bias.zero_()
        final.bias[winner] = 30.0
    meta = {
        "arch": "resnet18",
        "classes": list(SHAPE_CLASSES),
        "size": 64,
        "mean": list(images.IMAGENET_MEAN),
        "std": list(images.IMAGENET_STD),
        "config": {"data": "shapes", "n_shapes": 60, "seed": 2, "valid_pct": 0.2},
    }
    models.save(model, "always-star", meta, folder=home / "weights")
    return "always-star"


def test_predictions_label_every_tile_and_the_robustness_strip_measures(app_test, tmp_path):
    from explorer import data
    from explorer.shapes import make_shapes

    name = _constant_checkpoint(tmp_path)
    at = _page(app_test, model=name)
    assert at.selectbox(key="augment_model").value == name
    tiles = _mounted(at, "augment_tiles")
    assert len(tiles) == 9
    for t in tiles:
        assert t["caption"].startswith("star 100% · ") and not t["flag"]
        assert t["rows"][0] == ["prediction", "star 100% · un-augmented: star 100%", False]
    # robustness: a constant "star" model is right exactly on the stars of its validation split
    at.button(key="augment_robust_run").click().run()
    assert not at.exception and not at.error
    sd = make_shapes(60, size=64, seed=2)
    _, valid = data.split_indices(60, 0.2, 2)
    stars = sum(int(sd.labels[i]) == 4 for i in valid)
    chart = [c for c in at.main.get("plotly_chart") if "robust" in c.proto.id]
    fig = json.loads(chart[0].proto.spec)
    assert fig["data"][0]["y"] == pytest.approx([100 * stars / len(valid)] * 9)
    assert any("accuracy never drops 5 points" in c.value for c in at.caption)


def test_zoom_out_and_a_cutout_size_range_reach_the_draw(app_test):
    at = _page(app_test, view="Export")
    at.slider(key="augment_min_zoom").set_value(0.5)
    at.slider(key="augment_cutout_holes").set_value(3).run()  # the hole size is live from here
    at.slider(key="augment_cutout_size").set_value((0.1, 0.3)).run()
    assert not at.exception
    want = aug.AugSettings.lesson(
        min_zoom=0.5, cutout_holes=3, cutout_size=0.3, cutout_size_min=0.1
    )
    params = aug.draw(want, 9, torch.Generator().manual_seed(0))
    assert [c for _, c in _grid(at)] == [f"{i}: {params.describe(i)}" for i in range(9)]
    assert min(params.zoom.tolist()) < 1  # some tiles zoomed out
    # both ends equal: a fixed hole size (cutout_size_min None), as the settings file shows
    at.slider(key="augment_cutout_size").set_value((0.25, 0.25)).run()
    fixed = aug.AugSettings.lesson(min_zoom=0.5, cutout_holes=3, cutout_size=0.25)
    params = aug.draw(fixed, 9, torch.Generator().manual_seed(0))
    assert [c for _, c in _grid(at)] == [f"{i}: {params.describe(i)}" for i in range(9)]
    # the inert rule knows a zoom-out needs a focus too
    assert not _disabled(at, "augment_zoom_random")


def test_lighting_curves_are_drawn_on_request(app_test):
    at = _page(app_test)
    assert not [c for c in at.main.get("plotly_chart") if "curves" in c.proto.id]
    at.toggle(key="augment_curves").set_value(True).run()
    assert not at.exception
    (chart,) = [c for c in at.main.get("plotly_chart") if "curves" in c.proto.id]
    fig = json.loads(chart.proto.spec)
    _, curves = aug.lighting_curves(0.4)
    named = [t for t in fig["data"] if t.get("showlegend") is not False]
    assert len(named) == len(curves) == 8
    for trace, c in zip(named, curves, strict=True):
        assert trace["y"] == pytest.approx(c.y.tolist())


def test_a_missing_library_is_one_sentence(app_test, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "kornia", None)  # `import kornia` now raises ImportError
    monkeypatch.setitem(sys.modules, "kornia.augmentation", None)
    at = _page(app_test, view="With a library", library="kornia")
    assert [e.value for e in at.error] == [
        "Running the kornia pipeline failed: kornia is not installed on this server, so its "
        "pipeline cannot be shown; `pip install kornia` adds it."
    ]


def test_imagenet_model_when_cached_labels_tiles_and_measures_against_its_own_labels(
    app_test, monkeypatch
):
    from explorer import models

    real = models.pretrained_classifier
    monkeypatch.setattr(models, "imagenet_weights_cached", lambda arch="resnet34": True)
    # offline stand-in for the cached weights: the same structure, random weights
    monkeypatch.setattr(
        models, "pretrained_classifier", lambda arch="resnet34": real("resnet18", pretrained=False)
    )
    at = _page(app_test, model="ImageNet resnet34")
    tiles = _mounted(at, "augment_tiles")
    _, categories = real("resnet18", pretrained=False)
    for t in tiles:
        label = t["caption"].split(" · ")[0].removeprefix("⚠ ").rsplit(" ", 1)[0]
        assert label in categories
        assert t["flag"] == t["caption"].startswith("⚠ ")
    at.slider(key="augment_robust_n").set_value(8)
    at.button(key="augment_robust_run").click().run()
    assert not at.exception and not at.error
    (chart,) = [c for c in at.main.get("plotly_chart") if "robust" in c.proto.id]
    accuracy = json.loads(chart.proto.spec)["data"][0]["y"]
    assert accuracy[0] == 100.0  # unrotated, the model agrees with itself on every photo
    assert len(accuracy) == 9 and all(0 <= a <= 100 for a in accuracy)
    assert any("its own un-augmented labels" in c.value for c in at.caption)


def test_a_broken_or_missing_checkpoint_is_one_sentence_and_the_grid_still_shows(
    app_test, tmp_path
):
    name = _constant_checkpoint(tmp_path)
    (tmp_path / "weights" / f"{name}.safetensors").write_bytes(b"not safetensors")
    at = _page(app_test, model=name)
    assert len(at.warning) == 1
    assert at.warning[0].value.startswith(
        f"The model {name!r} cannot be used here ({name}.safetensors is not a readable "
        "safetensors file"
    )
    assert at.warning[0].value.endswith(", so the tiles show no predictions.")
    assert at.selectbox(key="augment_model").value == "No predictions"
    tiles = _mounted(at, "augment_tiles")
    assert len(tiles) == 9 and all("flag" not in t for t in tiles)
    gone = _page(app_test, model="nowhere")
    assert [w.value for w in gone.warning] == [
        "The model 'nowhere' cannot be used here: there is no such checkpoint, so the tiles show "
        "no predictions."
    ]
