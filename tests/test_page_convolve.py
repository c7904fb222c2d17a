"""The Convolution page under AppTest: every control changes the shown value to what F.conv2d
says; the stepper's payload, the URL, the clamped weight and the ImageNet offer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer import convolve as cv
from explorer import images

FPAD = {"zeros": "constant", "border": "replicate", "reflection": "reflect"}


def _oracle(
    kernel: torch.Tensor,
    row: int,
    col: int,
    *,
    size=24,
    colour="grey",
    pad=1,
    mode="zeros",
    stride=1,
    scale=255.0,
) -> str:
    """The stepper's output value, computed with F.pad + F.conv2d, formatted like the page."""
    grid = cv.stepper_grid(images.sample_images()["chelsea"], size, colour, scale).double()
    x = grid if grid.ndim == 3 else grid[None]
    k = kernel.double()
    k = k if k.ndim == 3 else k.expand(x.shape[0], 3, 3)
    if pad:
        x = F.pad(x[None], (pad,) * 4, mode=FPAD[mode])[0]
    v = F.conv2d(x[None], k[None], stride=stride)[0, 0, row, col].item()
    return "0" if v == 0 else f"{v:.4g}"


def _shown(at) -> tuple[str, str]:
    m = at.metric[0]
    return m.label, m.value


def _no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_preset_position_and_padding_change_the_value(app_test):
    at = app_test("convolve")
    _no_errors(at)
    sharpen = torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    assert _shown(at) == ("Output at row 0, column 0", _oracle(sharpen, 0, 0))
    assert [at.number_input(key=f"convolve_k{r}{c}").value for r in range(3) for c in range(3)] == [
        0,
        -1,
        0,
        -1,
        5,
        -1,
        0,
        -1,
        0,
    ]

    at.slider(key="convolve_row").set_value(3).run()
    at.slider(key="convolve_col").set_value(5).run()
    _no_errors(at)
    assert _shown(at) == ("Output at row 3, column 5", _oracle(sharpen, 3, 5))

    at.selectbox(key="convolve_preset").set_value("blur").run()
    _no_errors(at)
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert at.number_input(key="convolve_k11").value == 0.25
    assert _shown(at) == ("Output at row 3, column 5", _oracle(blur, 3, 5))

    # At the corner the padding decides the value.
    at.slider(key="convolve_row").set_value(0).run()
    at.slider(key="convolve_col").set_value(0).run()
    values = {}
    for mode in ("zeros", "border", "reflection"):
        at.selectbox(key="convolve_padding").set_value(mode).run()
        _no_errors(at)
        values[mode] = _shown(at)[1]
        assert values[mode] == _oracle(blur, 0, 0, mode=mode)
    assert len(set(values.values())) == 3

    # No padding: one pixel smaller per side, and (0, 0) is the window on real pixels only.
    at.selectbox(key="convolve_padding").set_value("none").run()
    _no_errors(at)
    assert at.slider(key="convolve_row").max == 16 - 3
    assert _shown(at)[1] == _oracle(blur, 0, 0, pad=0)


def test_editing_a_cell_switches_to_custom_and_position_clamps(app_test):
    at = app_test("convolve")
    at.number_input(key="convolve_k00").set_value(2.0).run()
    _no_errors(at)
    assert at.selectbox(key="convolve_preset").value == cv.CUSTOM
    custom = torch.tensor([[2.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    assert _shown(at)[1] == _oracle(custom, 0, 0)

    # The committed position (the stepper's clicks set it; prev/next live in the browser now).
    at.slider(key="convolve_col").set_value(1).run()
    assert _shown(at) == ("Output at row 0, column 1", _oracle(custom, 0, 1))
    at.slider(key="convolve_row").set_value(15).run()
    at.slider(key="convolve_col").set_value(23).run()
    assert _shown(at) == ("Output at row 15, column 23", _oracle(custom, 15, 23))

    at.radio(key="convolve_stride").set_value(2).run()
    _no_errors(at)
    assert at.slider(key="convolve_row").max == 7  # clamped into the smaller output
    assert _shown(at) == ("Output at row 7, column 11", _oracle(custom, 7, 11, stride=2))

    # Whole image: summed over RGB like F.conv2d gives one channel; per channel keeps three.
    at.radio(key="convolve_colour").set_value("rgb").run()
    captions = [c for im in at.image for c in im.captions]
    assert any(c.startswith("output (150, 226)") for c in captions), captions
    at.checkbox(key="convolve_per_channel").check().run()
    _no_errors(at)
    captions = [c for im in at.image for c in im.captions]
    assert any(c.startswith("output (3, 150, 226)") for c in captions), captions


def test_out_of_range_weight_is_clamped_and_said(app_test):
    """Typing 5000 used to turn the cell red while the output kept the old weight (issue 11)."""
    at = app_test("convolve")
    # float32 weights: a typed 1e300 would turn into inf, so the cells stop at ±1000
    at.number_input(key="convolve_k11").set_value(5000.0).run()
    assert not at.exception
    assert at.number_input(key="convolve_k11").value == 1000
    warnings = [w.value for w in at.warning]
    want = "Weight 1,1: 5000 is outside ±1000 (larger weights overflow float32 sums); using 1000"
    assert warnings == [want + " instead."], warnings
    used = torch.tensor([[0.0, -1, 0], [-1, 1000, -1], [0, -1, 0]])
    assert _shown(at)[1] == _oracle(used, 0, 0)
    assert at.selectbox(key="convolve_preset").value == cv.CUSTOM
    at.number_input(key="convolve_k00").set_value(-1e300).run()
    assert at.number_input(key="convolve_k00").value == -1000
    used[0, 0] = -1000
    assert _shown(at)[1] == _oracle(used, 0, 0)
    assert any("using -1000 instead" in w.value for w in at.warning)


def test_rgb_lesson_kernel_and_other_sections(app_test):
    at = app_test("convolve")
    at.slider(key="convolve_grid_size").set_value(16).run()
    at.radio(key="convolve_colour").set_value("rgb").run()
    at.selectbox(key="convolve_preset").set_value(cv.LESSON_PRESET).run()
    at.radio(key="convolve_scale").set_value("0–1 (fastai)").run()
    _no_errors(at)
    lesson = cv.preset_kernel(cv.LESSON_PRESET)
    want = _oracle(lesson, 0, 0, size=16, colour="rgb", scale=1.0)
    assert _shown(at) == ("Output at row 0, column 0", want)

    # The lesson's shapes, for the real photo (chelsea is 451×300).
    code = "\n".join(c.value for c in at.code)
    assert "k.shape                     # (1, 3, 3, 3)" in code
    assert "t[None].shape               # (1, 3, 300, 451)" in code
    assert "# (1, 1, 298, 449)" in code

    # Conv as matmul reports agreement with F.conv2d for both sizes.
    for choice in ("3×3 image, 2×2 kernel", "4×4 image, 3×3 kernel"):
        at.radio(key="convolve_mm").set_value(choice).run()
        _no_errors(at)
        assert any("equals F.conv2d" in s.value for s in at.success)

    # Without weights the learned-kernel section says how to get them.
    assert any("No weights yet" in i.value for i in at.info)


def test_learned_kernels_from_a_checkpoint(app_test):
    from explorer import models

    model = models.create_cnn("resnet18", 2)
    with torch.no_grad():
        model[0][0].weight.normal_(generator=torch.Generator().manual_seed(0))
    models.save(model, "tiny", {"arch": "resnet18", "classes": ["a", "b"], "size": 32})
    at = app_test("convolve")  # EXPLORER_HOME is a tmp folder: the checkpoint above lives there
    _no_errors(at)
    assert at.selectbox(key="convolve_model").value == "tiny"
    at.slider(key="convolve_filter").set_value(5).run()
    _no_errors(at)
    captions = [c for im in at.image for c in im.captions]
    assert "all 64 filters, weight (64, 3, 7, 7)" in captions
    assert "filter 5: (3, 7, 7)" in captions
    # The response map keeps the photo's size (padding 3 = half the 7×7 kernel, stride 1).
    assert any(c.startswith("filter 5 on the photo: (300, 451)") for c in captions)


def test_too_thin_photo_gives_one_sentence(app_test, monkeypatch):
    """A 400×2 photo becomes a 16×1 grid: reflection by 1 px is impossible, said in words."""
    strip = images.Image.new("RGB", (400, 2), (9, 9, 9))
    monkeypatch.setattr(images, "sample_images", lambda: {"strip": strip})
    at = app_test("convolve")
    at.selectbox(key="convolve_padding").set_value("reflection").run()
    assert not at.exception
    assert any("Reflection padding of 1 px" in e.value for e in at.error)
    # The unpadded RGB demo and the 3-px reflection preview say so once, in place, not as errors.
    infos = [i.value for i in at.info]
    assert any("at least 3 pixels on each side" in i and "strip" in i for i in infos), infos
    assert any(i.startswith("reflection: Reflection padding of 3 px") for i in infos), infos
    assert not any("RGB" in e.value or "padding comparison" in e.value for e in at.error)


def test_whole_image_range_is_in_the_steppers_units(app_test):
    """Sharpen saturates like setosa: the whole photo is shown from 0 to 255, or 0 to 1."""
    at = app_test("convolve")
    _no_errors(at)
    captions = [c for im in at.image for c in im.captions]
    assert (
        "output (300, 451), shown from 0 (black) to 255 (white), in 0–255 pixel units" in captions
    )
    at.radio(key="convolve_scale").set_value("0–1 (fastai)").run()
    captions = [c for im in at.image for c in im.captions]
    assert "output (300, 451), shown from 0 (black) to 1 (white), in 0–1 pixel units" in captions


# --- what the page sends to the browser stepper, and its URL ------------------------------------

ONE_PAGE = """
import runpy
import ui.state
ui.state.remember("convolve")  # what app.py does before every page
runpy.run_path({path!r}, run_name="__main__")
"""


def _one_page(monkeypatch, tmp_path, params: dict[str, str]):
    """The page opened from a link: a one-page script, so AppTest's first run reads the URL."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from .browser_kit import ROOT

    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    st.cache_data.clear()
    at = AppTest.from_string(
        ONE_PAGE.format(path=str(ROOT / "app_pages" / "convolve.py")), default_timeout=60
    )
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _stepper_payload(at) -> dict:
    """The JSON the page sent to the convolve_stepper component."""
    import json

    def walk(node):
        children = getattr(node, "children", None)
        for ch in children.values() if isinstance(children, dict) else []:
            yield ch
            yield from walk(ch)

    found = [e for e in walk(at.main) if getattr(e, "type", "") == "bidi_component"]
    assert len(found) == 1, found
    proto = found[0].proto
    assert proto.id.endswith("-convolve_stepper") and proto.component_name.endswith("stepper")
    field = proto.WhichOneof("data")
    return json.loads(proto.json if field == "json" else proto.mixed.json)


def test_stepper_payload_equals_conv2d_at_every_position(app_test):
    at = app_test("convolve")
    at.selectbox(key="convolve_padding").set_value("border").run()
    at.radio(key="convolve_stride").set_value(2).run()
    at.slider(key="convolve_row").set_value(4).run()
    at.slider(key="convolve_col").set_value(6).run()
    _no_errors(at)
    d = _stepper_payload(at)
    assert (d["row"], d["col"], d["presenter"], d["speed"]) == (4, 6, False, 20)
    sharpen = torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    grid = cv.stepper_grid(images.sample_images()["chelsea"], 24, "grey", 255.0).double()
    x = F.pad(grid[None, None], (1, 1, 1, 1), mode="replicate")
    want = F.conv2d(x, sharpen.double()[None, None], stride=2)[0, 0]
    assert (d["oh"], d["ow"]) == (8, 12) == tuple(want.shape)
    torch.testing.assert_close(torch.tensor(d["out"], dtype=torch.float64).view(8, 12), want)
    texts = [_oracle(sharpen, r, c, mode="border", stride=2) for r in range(8) for c in range(12)]
    assert d["out_text"] == texts
    assert _shown(at) == ("Output at row 4, column 6", d["out_text"][4 * 12 + 6])

    # Presenter mode: fewer cells (a 12-px grid), and the position is clamped into it.
    at.toggle(key="convolve_presenter").set_value(True).run()
    _no_errors(at)
    d = _stepper_payload(at)
    assert d["presenter"] and max(d["h"], d["w"]) == 12
    assert (d["row"], d["col"]) == (min(4, d["oh"] - 1), min(6, d["ow"] - 1))


def test_a_link_opens_the_same_settings(monkeypatch, tmp_path):
    params = {
        "preset": "custom",
        "k00": "2",
        "k11": "-3.5",
        "grid_size": "16",
        "colour": "rgb",
        "scale": "0–1 (fastai)",
        "range": "symmetric around 0",
        "padding": "reflection",
        "stride": "2",
        "row": "3",
        "col": "4",
        "speed": "60",
        "per_channel": "1",
        "mm": "4×4 image, 3×3 kernel",
        "mm_seed": "7",
    }
    at = _one_page(monkeypatch, tmp_path, params)
    _no_errors(at)
    assert not at.warning
    assert at.selectbox(key="convolve_preset").value == cv.CUSTOM
    assert at.number_input(key="convolve_k00").value == 2
    assert at.number_input(key="convolve_k11").value == -3.5
    assert at.slider(key="convolve_grid_size").value == 16
    assert at.radio(key="convolve_colour").value == "rgb"
    assert at.selectbox(key="convolve_padding").value == "reflection"
    assert at.radio(key="convolve_stride").value == 2
    assert at.checkbox(key="convolve_per_channel").value
    assert at.number_input(key="convolve_mm_seed").value == 7
    kernel = torch.tensor([[2.0, -1, 0], [-1, -3.5, -1], [0, -1, 0]])
    want = _oracle(kernel, 3, 4, size=16, colour="rgb", mode="reflection", stride=2, scale=1.0)
    assert _shown(at) == ("Output at row 3, column 4", want)
    d = _stepper_payload(at)
    assert (d["row"], d["col"], d["speed"], d["c"]) == (3, 4, 60, 3)
    # ...and the URL it writes back is the one it was opened with.
    written = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert written == params


def test_a_bad_link_opens_defaults_with_one_sentence(monkeypatch, tmp_path):
    at = _one_page(
        monkeypatch,
        tmp_path,
        {"k00": "5000", "stride": "3", "row": "abc", "padding": "wrap", "preset": "blur"},
    )
    assert not at.exception
    assert len(at.warning) == 1
    text = at.warning[0].value
    assert text.startswith("Some settings in this link could not be used")
    for name in ("k00=5000", "stride=3", "row=abc", "padding=wrap"):
        assert name in text, text
    # Defaults where the link was bad; the good part (blur) is kept with its own weights.
    assert at.radio(key="convolve_stride").value == 1
    assert at.selectbox(key="convolve_padding").value == "zeros"
    assert at.selectbox(key="convolve_preset").value == "blur"
    assert at.number_input(key="convolve_k00").value == 0.0625
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert _shown(at) == ("Output at row 0, column 0", _oracle(blur, 0, 0))


def test_imagenet_download_says_what_it_costs_before_the_click(app_test, monkeypatch):
    from explorer import models

    monkeypatch.setattr(models, "imagenet_weights_cached", lambda arch="resnet34": False)
    at = app_test("convolve")
    button = at.button(key="convolve_fetch_imagenet")
    assert "83 MB" in button.label and "network" in button.label
    assert any("83 MB" in c.value and "needs the network" in c.value for c in at.caption)
