"""explorer.convolve against independent oracles: nn.Conv2d / F.pad, a numpy loop, hand cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from explorer import conv_matrix as cmx
from explorer import convolve as cv
from explorer import filters

MODES = ["zeros", "border", "reflection"]
NP_MODES = {"zeros": "constant", "border": "edge", "reflection": "reflect"}
TORCH_MODES = {"zeros": "zeros", "border": "replicate", "reflection": "reflect"}
FPAD_MODES = {"zeros": "constant", "border": "replicate", "reflection": "reflect"}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _conv_oracle(img: torch.Tensor, kernel: torch.Tensor, padding: int, mode: str, stride: int):
    """nn.Conv2d with its own padding_mode: the library's convolution, not ours."""
    x = img if img.ndim == 3 else img[None]
    k = kernel if kernel.ndim == 3 else kernel[None]
    conv = nn.Conv2d(
        x.shape[0],
        1,
        tuple(k.shape[-2:]),
        stride=stride,
        padding=padding,
        padding_mode=TORCH_MODES[mode],
        bias=False,
    ).to(x.dtype)
    with torch.no_grad():
        conv.weight.copy_(k[None])
        return conv(x[None])[0, 0]


def _numpy_loop(img: np.ndarray, kernel: np.ndarray, padding: int, mode: str, stride: int):
    """The setosa picture written as plain loops over numpy's own padding."""
    x = np.pad(img, ((0, 0), (padding, padding), (padding, padding)), mode=NP_MODES[mode])
    c, kh, kw = kernel.shape
    oh = (x.shape[1] - kh) // stride + 1
    ow = (x.shape[2] - kw) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[i, j] = (win * kernel).sum()
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_convolve_matches_conv2d(mode, stride, channels):
    g = _gen(stride * 10 + (channels or 0))
    shape = (7, 9) if channels is None else (channels, 7, 9)
    img = torch.rand(shape, generator=g, dtype=torch.float64)
    kshape = (3, 3) if channels is None else (channels, 3, 3)
    kernel = torch.randn(kshape, generator=g, dtype=torch.float64)
    for padding in (0, 1, 2):
        got = cv.convolve(img, kernel, padding, mode, stride)
        torch.testing.assert_close(got, _conv_oracle(img, kernel, padding, mode, stride))


@pytest.mark.parametrize("mode", MODES)
def test_convolve_matches_numpy_loop_with_rectangular_kernel(mode):
    g = _gen(3)
    img = torch.rand(2, 6, 5, generator=g, dtype=torch.float64)
    kernel = torch.randn(2, 2, 3, generator=g, dtype=torch.float64)
    got = cv.convolve(img, kernel, padding=2, padding_mode=mode, stride=2)
    want = _numpy_loop(img.numpy(), kernel.numpy(), 2, mode, 2)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_2d_kernel_on_rgb_is_the_lessons_expand():
    g = _gen(4)
    img = torch.rand(3, 8, 8, generator=g)
    k = torch.randn(3, 3, generator=g)
    want = F.conv2d(img[None], k.expand(1, 3, 3, 3))[0, 0]
    torch.testing.assert_close(cv.convolve(img, k), want)


def test_integer_image_gives_float_result():
    img = torch.arange(16, dtype=torch.uint8).view(4, 4)
    out = cv.convolve(img, torch.ones(2, 2, dtype=torch.int64))
    assert out.dtype == torch.float32
    assert out[0, 0].item() == 0 + 1 + 4 + 5


@pytest.mark.parametrize("mode", MODES)
def test_convolve_channels_is_per_channel(mode):
    g = _gen(5)
    img = torch.rand(3, 6, 7, generator=g, dtype=torch.float64)
    k = torch.randn(3, 3, generator=g, dtype=torch.float64)
    got = cv.convolve_channels(img, k, 1, mode, 2)
    assert got.shape == (3, 3, 4)
    for c in range(3):
        torch.testing.assert_close(got[c], _conv_oracle(img[c], k, 1, mode, 2))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize(("padding", "stride"), [(0, 1), (1, 1), (2, 2), (1, 3)])
def test_step_equals_convolve_everywhere(mode, channels, padding, stride):
    g = _gen(6)
    shape = (5, 6) if channels is None else (channels, 5, 6)
    img = torch.rand(shape, generator=g, dtype=torch.float64)
    kernel = torch.randn((3, 3) if channels is None else (channels, 3, 3), generator=g)
    kernel = kernel.double()
    full = cv.convolve(img, kernel, padding, mode, stride)
    padded = F.pad((img if channels else img[None])[None], (padding,) * 4, mode=FPAD_MODES[mode])[0]
    for row in range(full.shape[0]):
        for col in range(full.shape[1]):
            s = cv.step(img, kernel, row, col, padding, mode, stride)
            assert s.value == pytest.approx(full[row, col].item(), abs=1e-12)
            r0, c0 = row * stride, col * stride
            want_window = padded[:, r0 : r0 + 3, c0 : c0 + 3]
            if channels is None:
                want_window = want_window[0]
            torch.testing.assert_close(s.window, want_window)
            torch.testing.assert_close(s.products, want_window * kernel)
            assert (s.top, s.left) == (r0 - padding, c0 - padding)
            rows = torch.arange(s.top, s.top + 3)
            cols = torch.arange(s.left, s.left + 3)
            want_inside = ((rows >= 0) & (rows < 5))[:, None] & ((cols >= 0) & (cols < 6))[None]
            assert torch.equal(s.inside, want_inside)


def test_step_float32_value_close_to_convolve():
    g = _gen(7)
    img = torch.rand(3, 9, 9, generator=g)
    k = cv.preset_kernel(cv.LESSON_PRESET)
    full = cv.convolve(img, k, 1, "reflection", 1)
    s = cv.step(img, k, 4, 0, 1, "reflection", 1)
    assert s.value == pytest.approx(full[4, 0].item(), abs=1e-5)


def test_step_outside_output_refused():
    with pytest.raises(ValueError, match="outside"):
        cv.step(torch.rand(5, 5), torch.ones(3, 3), 3, 0)
    with pytest.raises(ValueError, match="outside"):
        cv.step(torch.rand(5, 5), torch.ones(3, 3), 0, -1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_source_index_rebuilds_f_pad(mode, n):
    p = n - 1 if mode == "reflection" else n + 1
    x = torch.arange(n * 4, dtype=torch.float64).view(4, n) + 1
    idx = torch.arange(-p, n + p)
    src, live = cv.source_index(idx, n, mode)
    built = x[:, src] * live
    want = F.pad(x[None], (p, p), mode=FPAD_MODES[mode])[0]
    torch.testing.assert_close(built, want)


@pytest.mark.parametrize(
    ("args", "want"),
    [
        ((5, 5, 3, 1, 1), (5, 5)),
        ((5, 5, 3, 0, 1), (3, 3)),
        ((352, 352, 7, 3, 2), (176, 176)),  # resnet's conv1 in the lesson
        ((4, 6, (2, 3), 0, 2), (2, 2)),
        ((1, 1, 3, 1, 1), (1, 1)),
    ],
)
def test_output_size(args, want):
    assert cv.output_size(*args) == want


def test_output_size_refuses_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        cv.output_size(2, 2, 3, 0, 1)
    with pytest.raises(ValueError, match="Stride"):
        cv.output_size(5, 5, 3, 0, 0)


def test_preset_values():
    t = torch.tensor
    want = {
        "identity": t([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        "blur": t([[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]]),
        "sharpen": t([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "outline": t([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
        "emboss": t([[-2.0, -1, 0], [-1, 1, 1], [0, 1, 2]]),
        "top sobel": t([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]]),
        "bottom sobel": t([[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]),
        "left sobel": t([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]),
        "right sobel": t([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    }
    lesson = t([[0.0, -5 / 3, 1], [-5 / 3, -5 / 3, 1], [1.0, 1, 1]]).expand(1, 3, 3, 3) / 6
    assert set(cv.PRESETS) == {*want, cv.LESSON_PRESET}
    assert cv.DEFAULT_PRESET == "sharpen"
    for name, k in want.items():
        assert torch.equal(cv.preset_kernel(name), k), name
    assert torch.equal(cv.preset_kernel(cv.LESSON_PRESET), lesson[0])
    # A fresh tensor each time: editing one cannot change the preset.
    cv.preset_kernel("identity")[1, 1] = 9
    assert cv.preset_kernel("identity")[1, 1] == 1
    with pytest.raises(ValueError, match="no kernel preset"):
        cv.preset_kernel("nope")


def test_identity_preset_returns_the_image():
    img = torch.rand(3, 6, 6, generator=_gen(8))
    for mode in MODES:
        out = cv.convolve_channels(img, cv.preset_kernel("identity"), 1, mode)
        torch.testing.assert_close(out, img)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_kernel_refused(bad):
    k = torch.zeros(3, 3)
    k[0, 2] = bad
    img = torch.rand(5, 5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        cv.convolve(img, k)
    with pytest.raises(ValueError, match="NaN or infinite"):
        cv.step(img, k, 0, 0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        cmx.conv_matrix(5, 5, k)


def test_bad_arguments_refused():
    img = torch.rand(3, 5, 5)
    with pytest.raises(ValueError, match="channels"):
        cv.convolve(img, torch.ones(2, 3, 3))
    with pytest.raises(ValueError, match="padding mode"):
        cv.convolve(img, torch.ones(3, 3), 1, "wrap")
    with pytest.raises(ValueError, match="Padding"):
        cv.convolve(img, torch.ones(3, 3), -1)
    with pytest.raises(ValueError, match="image must be"):
        cv.convolve(torch.rand(1, 1, 5, 5), torch.ones(3, 3))


def test_one_pixel_image():
    img = torch.tensor([[0.5]], dtype=torch.float64)
    k = torch.arange(9, dtype=torch.float64).view(3, 3)
    # zeros: only the centre weight sees the pixel; border: every weight sees it.
    assert cv.convolve(img, k, 1, "zeros").item() == pytest.approx(0.5 * 4)
    assert cv.convolve(img, k, 1, "border").item() == pytest.approx(0.5 * 36)
    assert cv.step(img, k, 0, 0, 1, "border").value == pytest.approx(0.5 * 36)
    with pytest.raises(RuntimeError):
        F.pad(img[None, None], (1, 1, 1, 1), mode="reflect")  # the library refuses too
    for fn in (
        lambda: cv.convolve(img, k, 1, "reflection"),
        lambda: cv.step(img, k, 0, 0, 1, "reflection"),
        lambda: cv.pad(img, 1, "reflection"),
    ):
        with pytest.raises(ValueError, match="Reflection padding"):
            fn()
    with pytest.raises(ValueError, match="does not fit"):
        cv.convolve(img, k)  # no padding: a 3×3 kernel cannot sit on one pixel


def test_two_by_two_image():
    img = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    k = torch.randn(3, 3, generator=_gen(9), dtype=torch.float64)
    for mode in MODES:
        got = cv.convolve(img, k, 1, mode)
        torch.testing.assert_close(got, _conv_oracle(img, k, 1, mode, 1))
        for r in range(2):
            for c in range(2):
                assert cv.step(img, k, r, c, 1, mode).value == pytest.approx(got[r, c].item())
    # Reflection of 1 px mirrors the other pixel: [[4 3 4 3] [2 1 2 1] ...].
    assert cv.pad(img, 1, "reflection")[0].tolist() == [4.0, 3.0, 4.0, 3.0]
    with pytest.raises(ValueError, match="Reflection padding of 2"):
        cv.convolve(img, k, 2, "reflection")
    assert cv.convolve(img, k, 2, "border").shape == (4, 4)


def test_stepper_grid():
    img = Image.fromarray(
        np.random.default_rng(0).integers(0, 256, (30, 60, 3), dtype=np.uint8), "RGB"
    )
    grey = cv.stepper_grid(img, 20)
    assert grey.shape == (10, 20)
    want = np.asarray(img.resize((20, 10), Image.Resampling.BOX).convert("L"), dtype=np.float32)
    np.testing.assert_array_equal(grey.numpy(), want)
    rgb = cv.stepper_grid(img, 16, "rgb", scale=1.0)
    assert rgb.shape == (3, 8, 16)
    want_rgb = np.asarray(img.resize((16, 8), Image.Resampling.BOX), dtype=np.float32) / 255
    np.testing.assert_allclose(rgb.permute(1, 2, 0).numpy(), want_rgb, rtol=1e-6)
    with pytest.raises(ValueError, match="grid size"):
        cv.stepper_grid(img, 1)


def test_shrink():
    img = Image.new("RGB", (400, 100))
    assert cv.shrink(img, 200).size == (200, 50)
    assert cv.shrink(img, 500) is img


def test_display_range():
    t = torch.tensor([-4.0, -1.0, 0.0, 2.0])
    assert cv.display_range(t, "symmetric", q=100) == (-4.0, 4.0)
    assert cv.display_range(t, "percentile", q=100) == (-4.0, 2.0)
    assert cv.display_range(t, "clip", clip=(0, 255)) == (0.0, 255.0)
    lo, hi = cv.display_range(torch.full((5,), 3.0), "percentile")
    assert (lo, hi) == (2.5, 3.5)
    assert cv.display_range(torch.zeros(4), "symmetric") == (-0.5, 0.5)
    # Percentiles ignore one extreme pixel among many.
    big = torch.cat([torch.linspace(-1, 1, 999), torch.tensor([1000.0])])
    assert cv.display_range(big, "symmetric", q=99)[1] < 2
    with pytest.raises(ValueError, match="display range"):
        cv.display_range(t, "log")
    out = cv.rescale(t, -2.0, 2.0)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.25, 0.5, 1.0]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    g = _gen(10)
    img = torch.rand(3, 20, 20, generator=g)
    k = torch.randn(3, 3, 3, generator=g)
    dev = torch.device("cuda")
    for mode in MODES:
        got = cv.convolve(img.to(dev), k.to(dev), 1, mode, 2)
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), cv.convolve(img, k, 1, mode, 2), rtol=1e-4, atol=1e-4)
        s = cv.step(img.to(dev), k, 3, 4, 1, mode, 2)
        assert s.value == pytest.approx(got[3, 4].item(), abs=1e-4)
    check = cmx.conv_as_matmul(img[:, :5, :5].to(dev), k.to(dev), padding=1)
    assert check.product.device.type == "cuda" and check.equal
    torch.testing.assert_close(
        check.product.cpu(), cv.convolve(img[:, :5, :5], k, 1), rtol=1e-4, atol=1e-4
    )


def test_filled_until_and_channel_sums():
    out = torch.arange(12.0).view(3, 4)
    part = cv.filled_until(out, 1, 1)
    assert part[:1].tolist() == [[0, 1, 2, 3]] and part[1, :2].tolist() == [4, 5]
    assert bool(part[1, 2:].isnan().all() and part[2].isnan().all())
    img = torch.rand(3, 5, 5, generator=_gen(14), dtype=torch.float64)
    k = torch.randn(3, 3, 3, generator=_gen(15), dtype=torch.float64)
    s = cv.step(img, k, 1, 2)
    for c in range(3):
        want = F.conv2d(img[None, c : c + 1], k[None, c : c + 1])[0, 0, 1, 2].item()
        assert s.channel_sums[c] == pytest.approx(want)
    assert sum(s.channel_sums) == pytest.approx(s.value)
    assert cv.step(img[0], k[0], 0, 0).channel_sums == pytest.approx(
        (cv.step(img[0], k[0], 0, 0).value,)
    )


def test_auto_display_method_follows_the_kernel_sum():
    for name in ("outline", "top sobel", "bottom sobel", "left sobel", "right sobel"):
        assert cv.auto_display_method(cv.preset_kernel(name)) == "symmetric", name
    assert cv.auto_display_method(cv.preset_kernel(cv.LESSON_PRESET)) == "symmetric"
    for name in ("identity", "blur", "sharpen", "emboss"):
        assert cv.auto_display_method(cv.preset_kernel(name)) == "clip", name


# --- the browser stepper's data -----------------------------------------------------------------


def _fmt_oracle(v: float) -> str:
    """The page's 4-significant-digit text, written out independently of cv.fmt."""
    if v == 0:
        return "0"
    return f"{v:.4g}" if abs(v) >= 1e-4 else f"{v:.1e}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("channels", "stride", "padding"), [(None, 1, 1), (3, 2, 1), (None, 2, 0)])
def test_stepper_data_equals_conv2d_at_every_position(mode, channels, stride, padding):
    g = _gen(20)
    shape = (7, 9) if channels is None else (channels, 7, 9)
    grid = torch.randint(0, 256, shape, generator=g).float()
    kernel = (
        torch.randn(3, 3, generator=g) if channels is None else torch.randn(3, 3, 3, generator=g)
    )
    d = cv.stepper_data(grid, kernel, padding, mode, stride, 255.0, "clip")
    want = _conv_oracle(grid.double(), kernel.double(), padding, mode, stride)
    assert (d["oh"], d["ow"]) == tuple(want.shape)
    torch.testing.assert_close(torch.tensor(d["out"], dtype=torch.float64).view(want.shape), want)
    assert d["out_text"] == [_fmt_oracle(v) for v in want.flatten().tolist()]
    for row in range(d["oh"]):  # `step`, which the committed panel shows, agrees
        for col in range(d["ow"]):
            value = cv.step(grid, kernel, row, col, padding, mode, stride).value
            assert value == pytest.approx(d["out"][row * d["ow"] + col], rel=1e-5, abs=1e-3)
    # The padded grid rebuilt from its value table is F.pad's.
    x = grid if grid.ndim == 3 else grid[None]
    padded = F.pad(x[None].double(), (padding,) * 4, mode=FPAD_MODES[mode])[0] if padding else x
    values = torch.tensor(d["values"], dtype=torch.float64)
    rebuilt = values[torch.tensor(d["grid"])].view(padded.shape)
    torch.testing.assert_close(rebuilt, padded.double())
    # At every position the product table gives window × kernel, as the browser looks them up.
    k = kernel if kernel.ndim == 3 else kernel[None].expand(x.shape[0], -1, -1)
    nv = len(d["values"])
    idx = torch.tensor(d["grid"]).view(padded.shape)
    for row in range(d["oh"]):
        for col in range(d["ow"]):
            win = padded[:, row * stride : row * stride + 3, col * stride : col * stride + 3]
            vidx = idx[:, row * stride : row * stride + 3, col * stride : col * stride + 3]
            for c in range(x.shape[0]):
                for i in range(3):
                    for j in range(3):
                        cell = (c * 9 + i * 3 + j) * nv + int(vidx[c, i, j])
                        want_p = float(win[c, i, j]) * float(k[c, i, j].double())
                        assert d["products"][cell] == _fmt_oracle(want_p)
    if channels == 3:
        per = F.conv2d(padded[None], k.double()[:, None], stride=stride, groups=3)[0]
        assert d["channel_text"] == [_fmt_oracle(v) for v in per.flatten().tolist()]
        torch.testing.assert_close(per.sum(0), want)
    else:
        assert d["channel_text"] == []
    assert d["kernel_text"] == [_fmt_oracle(v) for v in k.double().flatten().tolist()]


def test_stepper_data_version_follows_the_content():
    grid = torch.arange(25.0).view(5, 5)
    k = cv.preset_kernel("sharpen")
    a = cv.stepper_data(grid, k, 1, "zeros", 1)
    assert cv.stepper_data(grid.clone(), k.clone(), 1, "zeros", 1)["version"] == a["version"]
    assert cv.stepper_data(grid, k, 1, "border", 1)["version"] != a["version"]
    assert cv.stepper_data(grid, k * 2, 1, "zeros", 1)["version"] != a["version"]
    lo, hi = cv.display_range(torch.tensor(a["out"]), "clip", clip=(0.0, 255.0))
    assert (a["lo"], a["hi"]) == (lo, hi) == (0.0, 255.0)
    with pytest.raises(cv.ConvolveError, match="Reflection padding of 3"):
        cv.stepper_data(torch.ones(3, 3), k, 3, "reflection", 1)


def test_clamp_weight_says_what_is_used():
    assert cv.clamp_weight(2.5) == (2.5, None)
    assert cv.clamp_weight(-1000.0) == (-1000.0, None)
    used, why = cv.clamp_weight(5000.0)
    assert used == 1000.0 and "5000" in why and "using 1000" in why
    used, why = cv.clamp_weight(-1e300)
    assert used == -1000.0 and "using -1000" in why
    assert cv.clamp_weight(float("inf"))[0] == 1000.0
    assert cv.clamp_weight(float("nan"))[0] == 0.0


def test_fmt_and_cell_label():
    assert [cv.fmt(v) for v in (0.0, -0.0, 401.0, 1 / 3, -2.5e-5, 123456.0)] == [
        "0",
        "0",
        "401",
        "0.3333",
        "-2.5e-05",
        "1.235e+05",
    ]
    assert [cv.cell_label(v) for v in (254.6, 12.345, 0.50196, 0.0)] == [
        "255",
        "12.3",
        "0.502",
        "0",
    ]


def test_person_errors_are_convolve_errors_and_bugs_stay_value_errors():
    from explorer.errors import UserError

    person = [
        lambda: cv.preset_kernel("nope"),
        lambda: cv.convolve(torch.rand(5, 5), torch.ones(3, 3), 1, "wrap"),
        lambda: cv.convolve(torch.rand(2, 2), torch.ones(3, 3)),
        lambda: cv.convolve(torch.rand(2, 2), torch.ones(3, 3), 2, "reflection"),
        lambda: cv.convolve(torch.rand(5, 5), torch.full((3, 3), float("nan"))),
        lambda: cv.stepper_grid(Image.new("RGB", (9, 9)), 1),
        lambda: cmx.conv_matrix(200, 200, torch.ones(3, 3)),
        lambda: filters.first_conv(nn.Linear(2, 2)),
    ]
    for fn in person:
        with pytest.raises(cv.ConvolveError) as info:
            fn()
        assert isinstance(info.value, UserError)
    bugs = [
        lambda: cv.convolve(torch.rand(1, 1, 5, 5), torch.ones(3, 3)),
        lambda: cv.convolve(torch.rand(5, 5), [[1.0]]),
        lambda: cv.step(torch.rand(5, 5), torch.ones(3, 3), 3, 0),
        lambda: cv.stepper_grid(Image.new("RGB", (9, 9)), 8, "cmyk"),
        lambda: cv.display_range(torch.rand(4), "log"),
    ]
    for fn in bugs:
        with pytest.raises(ValueError) as info:
            fn()
        assert not isinstance(info.value, UserError), info.value


def test_whole_output_sums_or_keeps_channels_and_clips_to_the_input_range():
    img = torch.rand(3, 6, 7, generator=_gen(30))
    k = cv.preset_kernel("blur")
    out, lo, hi = cv.whole_output(img, k, 1, "border", 1, False, "clip")
    torch.testing.assert_close(out, _conv_oracle(img, k.expand(3, 3, 3), 1, "border", 1))
    assert (lo, hi) == (0.0, 3.0)  # three channels of [0, 1] summed
    out, lo, hi = cv.whole_output(img, k, 1, "border", 2, True, "clip")
    padded = F.pad(img[None], (1,) * 4, mode="replicate")
    want = F.conv2d(padded, k.expand(3, 1, 3, 3), stride=2, groups=3)[0]
    torch.testing.assert_close(out, want)
    assert (lo, hi) == (0.0, 1.0)
    _, lo, hi = cv.whole_output(
        img[0], cv.preset_kernel("outline"), 0, "zeros", 1, False, "symmetric"
    )
    assert lo == -hi and hi > 0
