"""The Convolution page under AppTest: every control changes the shown value to what F.conv2d says."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer import convolve as cv
from explorer import images

FPAD = {"zeros": "constant", "border": "replicate", "reflection": "reflect"}


def _oracle(kernel: torch.Tensor, row: int, col: int, *, size=24, colour="grey", pad=1, mode="zeros",
            stride=1, scale=255.0) -> str:  # fmt: skip
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
        0, -1, 0, -1, 5, -1, 0, -1, 0
    ]  # fmt: skip

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


def test_editing_a_cell_switches_to_custom_and_buttons_step(app_test):
    at = app_test("convolve")
    # float32 weights: a typed 1e300 would turn into inf, so the cells stop at ±1000
    assert (at.number_input(key="convolve_k00").min, at.number_input(key="convolve_k00").max) == (
        -1000,
        1000,
    )
    at.number_input(key="convolve_k00").set_value(2.0).run()
    _no_errors(at)
    assert at.selectbox(key="convolve_preset").value == cv.CUSTOM
    custom = torch.tensor([[2.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    assert _shown(at)[1] == _oracle(custom, 0, 0)

    at.button(key="convolve_next").click().run()
    assert _shown(at) == ("Output at row 0, column 1", _oracle(custom, 0, 1))
    at.button(key="convolve_prev").click().run()
    at.button(key="convolve_prev").click().run()  # wraps to the last output pixel
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
