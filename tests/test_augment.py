"""Tests for explorer.augment: each transform against torch's own ops or hand-computed oracles."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from explorer import augment as A

TOL = dict(atol=2e-5, rtol=0)  # float32 grid coordinates: "exact" up to rounding


def _img(c: int = 3, h: int = 12, w: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(c, h, w, generator=torch.Generator().manual_seed(seed))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# (settings that turn one transform on, predicate "sample i was changed by it")
TRANSFORMS = {
    "flip_lr": (dict(do_flip=True, p_flip=1.0), lambda p: p.flip),
    # case 0 of the 8 is "unchanged", so ~1/8 of the dihedral draws change nothing even at p = 1
    "dihedral": (dict(do_flip=True, flip_vert=True, p_dihedral=1.0), lambda p: p.dihedral != 0),
    "rotate": (dict(max_rotate=30.0, p_affine=1.0), lambda p: p.angle != 0),
    "zoom": (dict(max_zoom=1.5, p_affine=1.0), lambda p: p.zoom != 1),
    "symmetric_warp": (dict(max_warp=0.3, p_affine=1.0), lambda p: p.warp.abs().sum(1) > 0),
    "lighting": (
        dict(max_lighting=0.4, p_lighting=1.0),
        lambda p: (p.brightness != 0.5) & (p.contrast != 1),
    ),
    "brightness": (dict(max_brightness=0.4, p_brightness=1.0), lambda p: p.brightness != 0.5),
    "contrast": (dict(max_contrast=0.4, p_contrast=1.0), lambda p: p.contrast != 1),
    "squish": (dict(max_squish=1.5, p_squish=1.0), lambda p: p.squish != 1),
    "perspective": (
        dict(max_perspective=0.3, p_perspective=1.0),
        lambda p: p.perspective.abs().sum((1, 2)) > 0,
    ),
    "tilt": (dict(max_tilt=0.3, p_tilt=1.0), lambda p: p.tilt != 0),
    "skew": (dict(max_skew=0.3, p_skew=1.0), lambda p: p.skew != 0),
    "jitter": (dict(max_jitter=0.05, p_jitter=1.0), lambda p: p.jitter > 0),
    "rand_resize_crop": (
        dict(max_resize_crop=3.0, p_resize_crop=1.0),
        lambda p: (p.win_w != 1) | (p.win_h != 1),
    ),
    "pad": (dict(pad=3, p_pad=1.0), lambda p: p.pad == 3),
    "cutout": (dict(cutout_holes=2, p_cutout=1.0), lambda p: p.cutout_on.any(1)),
    "rgb_randomize": (dict(max_rgb=0.5, p_rgb=1.0), lambda p: p.rgb_on),
}
P_FIELD = {
    "flip_lr": "p_flip",
    "dihedral": "p_dihedral",
    "rotate": "p_affine",
    "zoom": "p_affine",
    "symmetric_warp": "p_affine",
    "lighting": "p_lighting",
    "brightness": "p_brightness",
    "contrast": "p_contrast",
    "squish": "p_squish",
    "perspective": "p_perspective",
    "tilt": "p_tilt",
    "skew": "p_skew",
    "jitter": "p_jitter",
    "rand_resize_crop": "p_resize_crop",
    "pad": "p_pad",
    "cutout": "p_cutout",
    "rgb_randomize": "p_rgb",
}


def _same_params(a: A.AugParams, b: A.AugParams) -> bool:
    return all(
        torch.equal(x, y) for x, y in zip(a.__dict__.values(), b.__dict__.values(), strict=True)
    )


def _identity_fields(p: A.AugParams) -> A.AugParams:
    """p with the fields every transform leaves alone at p=0 compared (seeds/positions ignored)."""
    return p.set(seed=0, zoom_row=0.5, zoom_col=0.5, tilt_dir=0, skew_dir=0, rgb_channel=0).set(
        cutout=0.5, cutout_size=0.2
    )


# ------------------------------------------------------------------ identity and probabilities


def test_all_off_is_identity_on_a_square_image():
    img = _img()
    p = A.draw(A.AugSettings.off(), 4, _gen())
    out = A.apply(img, p, 12, "zeros")
    assert out.shape == (4, 3, 12, 12)
    for tile in out:
        torch.testing.assert_close(tile, img, **TOL)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_zero_magnitude_is_identity(name):
    on, _ = TRANSFORMS[name]
    # keep each probability, zero each magnitude (flip/dihedral have none: case 0 is tested below)
    zeroed = {k: (0 if k.startswith("max_") and k != "max_zoom" else v) for k, v in on.items()}
    zeroed = {
        k: (1.0 if k in ("max_zoom", "max_squish", "max_resize_crop") else v)
        for k, v in zeroed.items()
    }
    zeroed.pop("pad", None)
    zeroed.pop("cutout_holes", None)
    if name in ("flip_lr", "dihedral"):
        zeroed["do_flip"] = False
    img = _img()
    p = A.draw(A.AugSettings.off(**zeroed), 3, _gen())
    torch.testing.assert_close(A.apply(img, p, 12, "zeros"), img.expand(3, -1, -1, -1), **TOL)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_probability_zero_never_and_one_always(name):
    on, changed = TRANSFORMS[name]
    never = A.draw(A.AugSettings.off(**{**on, P_FIELD[name]: 0.0}), 64, _gen(1))
    assert not changed(never).any()
    if name == "dihedral":
        assert (never.dihedral == 0).all()
    assert _same_params(_identity_fields(never), _identity_fields(A.AugParams.identity(64)))
    always = A.draw(A.AugSettings.off(**{**on, P_FIELD[name]: 1.0}), 64, _gen(1))
    if name == "dihedral":  # all 8 cases turn up, case 0 ("unchanged") about 1/8 of the time
        assert set(always.dihedral.tolist()) == set(range(8))
        assert 0.75 < changed(always).double().mean() < 0.97
    else:
        assert changed(always).all()
    img = _img(h=10, w=14)
    torch.testing.assert_close(
        A.apply(img, never[:4], 8, "zeros"),
        A.apply(img, A.AugParams.identity(4), 8, "zeros"),
        **TOL,
    )


def test_half_probability_is_about_half():
    p = A.draw(A.AugSettings.off(max_rotate=10.0, p_affine=0.5), 2000, _gen(3))
    frac = (p.angle != 0).double().mean().item()
    assert 0.45 < frac < 0.55


# ------------------------------------------------------------------ lighting


def test_brightness_half_and_contrast_one_are_identity():
    x = torch.rand(2, 3, 5, 5, generator=_gen(5))
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 0.0, 1.0
    out = A.lighting(x, torch.tensor([0.5, 0.5]), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_lighting_matches_closed_forms():
    x = torch.rand(1, 3, 4, 4, generator=_gen(6), dtype=torch.float64) * 0.98 + 0.01
    b, c = 0.7, 1.8
    # brightness alone: odds multiplied by b/(1-b)
    bright = A.lighting(x, torch.tensor([b]), torch.tensor([1.0]))
    torch.testing.assert_close(bright, x * b / (x * b + (1 - x) * (1 - b)))
    # contrast alone: x^c / (x^c + (1-x)^c)
    con = A.lighting(x, torch.tensor([0.5]), torch.tensor([c]))
    torch.testing.assert_close(con, x**c / (x**c + (1 - x) ** c))


def test_lighting_gradient_matches_the_closed_form():
    # d/dx sigmoid(c · (logit x + logit b)) = c · y (1 - y) / (x (1 - x)), checked by autograd
    x = torch.tensor([[[[0.2, 0.5], [0.7, 0.9]]]], dtype=torch.float64, requires_grad=True)
    b, c = torch.tensor([0.3], dtype=torch.float64), torch.tensor([1.5], dtype=torch.float64)
    y = A.lighting(x, b, c)
    y.sum().backward()
    xd, yd = x.detach(), y.detach()
    torch.testing.assert_close(x.grad, 1.5 * yd * (1 - yd) / (xd * (1 - xd)))


def test_lesson_draws_stay_in_fastai_ranges():
    s = A.AugSettings.lesson()
    assert (s.max_rotate, s.max_zoom, s.max_lighting, s.max_warp) == (20.0, 1.3, 0.4, 0.4)
    assert (s.p_affine, s.p_lighting, s.padding_mode) == (1.0, 1.0, "reflection")
    p = A.draw(s, 500, _gen(7))
    assert p.angle.abs().max() <= 20 and (p.angle != 0).all()
    assert p.zoom.min() >= 1 and p.zoom.max() <= 1.3
    assert p.warp.abs().max() <= 0.4
    assert p.brightness.min() >= 0.3 and p.brightness.max() <= 0.7
    assert p.contrast.min() >= 0.6 - 1e-12 and p.contrast.max() <= 1 / 0.6 + 1e-12
    assert 0.4 < p.flip.double().mean() < 0.6
    defaults = A.AugSettings()
    assert (defaults.max_rotate, defaults.max_zoom, defaults.p_affine) == (10.0, 1.1, 0.75)


# ------------------------------------------------------------------ pixel transforms


def test_rgb_randomize_replaces_exactly_one_channel_and_can_pick_any():
    p = A.draw(A.AugSettings.off(max_rgb=0.5, p_rgb=1.0), 60, _gen(8))
    assert set(p.rgb_channel.tolist()) == {0, 1, 2}  # fastai never picked the last one
    img = _img(h=8, w=8) * 0.4 + 0.6  # every pixel above 0.6 > any noise level
    out = A.apply(img, p[:6], 8, "zeros")
    for i in range(6):
        ch = int(p.rgb_channel[i])
        for c in range(3):
            if c == ch:
                assert out[i, c].max() <= p.rgb[i] + 1e-6
            else:
                torch.testing.assert_close(out[i, c], img[c], **TOL)


def test_cutout_zeroes_the_holes_and_nothing_else():
    p = A.AugParams.identity(1)
    p.cutout = torch.tensor([[[0.25, 0.5]] + [[0.5, 0.5]] * (A.MAX_CUTOUT_HOLES - 1)])
    p.cutout_on = torch.tensor([[True] + [False] * (A.MAX_CUTOUT_HOLES - 1)])
    p.cutout_size = torch.tensor([0.25], dtype=torch.float64)
    img = _img(h=16, w=16) + 0.1
    out = A.apply(img, p, 16, "zeros")[0]
    # centre (row 4, col 8), side 4: rows 2..5, cols 6..9
    hole = torch.zeros(16, 16, dtype=torch.bool)
    hole[2:6, 6:10] = True
    assert torch.all(out[:, hole] == 0)
    torch.testing.assert_close(out[:, ~hole], img[:, ~hole], **TOL)


def test_sampling_grid_is_the_homography_of_every_pixel_centre_and_contiguous():
    # oracle: each output pixel centre (x, y, 1) through the float64 matrix, divided by its z
    p = A.draw(A.AugSettings.lesson(), 5, _gen(4))
    in_hw, size = (30, 41), 17
    mats = A.matrices(p, in_hw)
    lin = torch.linspace(-1, 1, size, dtype=torch.float64)
    ys, xs = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(-1, 3)
    h = torch.einsum("nij,pj->npi", mats, pts)
    assert bool((h[..., 2] > 0).all())  # the lesson's warps keep every point in front
    expected = (h[..., :2] / h[..., 2:]).reshape(5, size, size, 2)
    grid = A.sampling_grid(p, in_hw, size)
    assert grid.shape == (5, size, size, 2) and grid.is_contiguous()  # CPU grid_sample's fast path
    torch.testing.assert_close(grid.double(), expected, atol=2e-6, rtol=0)


def test_jitter_moves_each_sample_at_most_its_magnitude():
    p = A.draw(A.AugSettings.off(max_jitter=0.05, p_jitter=1.0), 3, _gen(9))
    still = A.sampling_grid(p.set(jitter=0.0), (20, 20), 16)
    moved = A.sampling_grid(p, (20, 20), 16)
    shift = (moved - still).abs().amax(dim=(1, 2, 3))
    assert torch.all(shift <= p.jitter.float() + 1e-6) and torch.all(shift > 0.5 * p.jitter.float())
    torch.testing.assert_close(A.sampling_grid(p, (20, 20), 16), moved, atol=0, rtol=0)


def test_hash_noise_is_uniform_and_seed_dependent():
    u = A.hash_uniform(torch.tensor([1, 2]), 5000)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.02 and abs(u.var().item() - 1 / 12) < 0.01
    assert not torch.equal(u[0], u[1])
    assert torch.equal(A.hash_uniform(torch.tensor([2]), 5000)[0], u[1])  # the seed alone decides


def test_rgb_randomize_noise_is_uniform_per_seed_and_reproducible():
    # at level 1 the replaced channel is the noise itself: seen through apply, the public path
    p = A.AugParams.identity(3).set(rgb_on=True, rgb=1.0, rgb_channel=0)
    p.seed = torch.tensor([1, 2, 1])
    out = A.apply(_img(h=71, w=71), p, 71, "zeros")[:, 0].flatten(1)
    assert 0 <= out.min() and out.max() < 1
    for u in out:
        assert abs(u.mean().item() - 0.5) < 0.02 and abs(u.var().item() - 1 / 12) < 0.01
    assert not torch.allclose(out[0], out[1]) and torch.equal(out[0], out[2])


# ------------------------------------------------------------------ crops, non-square, resize-crop


def test_non_square_centre_crop_and_crop_positions():
    img = _img(h=10, w=20)
    p = A.AugParams.identity(3).set(crop_col=torch.tensor([0.5, 0.0, 1.0]))
    out = A.apply(img, p, 10, "zeros")
    torch.testing.assert_close(out[0], img[:, :, 5:15], **TOL)
    torch.testing.assert_close(out[1], img[:, :, :10], **TOL)
    torch.testing.assert_close(out[2], img[:, :, 10:], **TOL)
    tall = _img(h=20, w=10)
    out = A.apply(tall, A.AugParams.identity(1).set(crop_row=0.0), 10, "zeros")[0]
    torch.testing.assert_close(out, tall[:, :10, :], **TOL)


def test_resize_crop_windows_have_the_drawn_area_and_fit():
    s = A.AugSettings.off(max_resize_crop=3.0, resize_crop_ratio=1.5)
    p = A.draw(s, 300, _gen(10))
    area = p.win_w * p.win_h
    assert torch.all(area >= 1 / 3 - 1e-9) and torch.all(area <= 1 + 1e-9)
    ratio = p.win_w / p.win_h
    assert torch.all(ratio >= 1 / 1.5 - 1e-9) and torch.all(ratio <= 1.5 + 1e-9)
    assert torch.all(p.win_w <= 1) and torch.all(p.win_h <= 1)
    # a window half as wide and tall, top-left, covers the top-left quarter of a square picture
    img = _img(h=9, w=9)
    q = A.AugParams.identity(1).set(win_w=0.5, win_h=0.5, crop_row=0.0, crop_col=0.0)
    torch.testing.assert_close(A.apply(img, q, 5, "zeros")[0], img[:, :5, :5], **TOL)


def test_center_crop_resize_and_uint8_input():
    img = (torch.rand(2, 3, 10, 14, generator=_gen(11)) * 255).to(torch.uint8)
    out = A.center_crop_resize(img, 10)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 10, 10)
    torch.testing.assert_close(out, img[..., 2:12].float() / 255, **TOL)
    p = A.draw(A.AugSettings.lesson(), 2, _gen(12))
    torch.testing.assert_close(A.apply(img, p, 8), A.apply(img.float() / 255, p, 8), **TOL)


# ------------------------------------------------------------------ reproducibility and batching


def _everything() -> A.AugSettings:
    return A.AugSettings.lesson(
        flip_vert=True,
        max_squish=1.4,
        max_perspective=0.2,
        max_tilt=0.2,
        max_skew=0.2,
        max_jitter=0.01,
        max_resize_crop=2.0,
        pad=3,
        cutout_holes=2,
        max_rgb=0.4,
        max_brightness=0.2,
        max_contrast=0.2,
    )


def test_same_generator_same_output_and_saved_params_same_output():
    img = _img(h=20, w=28)
    s = _everything()
    a = A.apply(img, A.draw(s, 5, _gen(13)), 16, "reflection")
    b = A.apply(img, A.draw(s, 5, _gen(13)), 16, "reflection")
    assert torch.equal(a, b)
    c = A.apply(img, A.draw(s, 5, _gen(14)), 16, "reflection")
    assert not torch.allclose(a, c)
    params = A.draw(s, 5, _gen(13))
    # Saved the way the project saves tensors (safetensors: nothing is unpickled), then reloaded.
    blob = save_safetensors({k: v.contiguous() for k, v in params.__dict__.items()})
    loaded = A.AugParams(**load_safetensors(blob))
    assert torch.equal(A.apply(img, loaded, 16, "reflection"), a)


def test_batch_equals_one_by_one():
    s = _everything()
    params = A.draw(s, 4, _gen(15))
    batch = torch.rand(4, 3, 18, 24, generator=_gen(16))
    together = A.apply(batch, params, 12, "border")
    for i in range(4):
        torch.testing.assert_close(together[i], A.apply(batch[i], params[i], 12, "border")[0])
    single = A.apply(batch[0], params, 12, "border")  # one picture, four draws
    for i in range(4):
        torch.testing.assert_close(single[i], A.apply(batch[0], params[i], 12, "border")[0])


def test_changing_one_magnitude_keeps_the_other_draws():
    a = A.draw(A.AugSettings.lesson(), 8, _gen(17))
    b = A.draw(A.AugSettings.lesson(max_rotate=5.0), 8, _gen(17))
    torch.testing.assert_close(b.angle, a.angle / 4)
    for name in ("zoom", "warp", "crop_row", "crop_col", "brightness", "contrast", "flip"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_zoom_out_shrinks_the_picture_inside_the_padding():
    img = _img(h=9, w=9) + 0.1  # no pixel 0
    out = A.apply(img, A.AugParams.identity(1).set(zoom=0.5), 9, "zeros")[0]
    # ×0.5 about the centre: output pixel 2 + j reads input pixel 2j; the rim is padding
    torch.testing.assert_close(out[:, 2:7, 2:7], img[:, ::2, ::2], **TOL)
    rim = torch.ones(9, 9, dtype=torch.bool)
    rim[1:8, 1:8] = False
    assert out[:, rim].abs().max() < 1e-6
    p = A.draw(A.AugSettings.off(min_zoom=0.5, max_zoom=1.5, p_affine=1.0), 400, _gen(21))
    assert p.zoom.min() >= 0.5 and p.zoom.max() <= 1.5
    assert 0.4 < (p.zoom < 1).double().mean() < 0.6  # half the range zooms out


def test_cutout_size_range_draws_each_tiles_side_and_keeps_the_other_draws():
    fixed = A.draw(A.AugSettings.off(cutout_holes=2, cutout_size=0.3), 200, _gen(22))
    assert torch.equal(fixed.cutout_size, torch.full((200,), 0.3, dtype=torch.float64))
    ranged = A.draw(
        A.AugSettings.off(cutout_holes=2, cutout_size=0.3, cutout_size_min=0.1), 200, _gen(22)
    )
    assert ranged.cutout_size.min() >= 0.1 and ranged.cutout_size.max() <= 0.3
    assert ranged.cutout_size.std() > 0.04  # uniform on [0.1, 0.3]: std 0.058
    for name in ("cutout", "cutout_on", "angle", "seed", "rgb_channel", "crop_row"):
        assert torch.equal(getattr(fixed, name), getattr(ranged, name)), name
    # and the holes have the drawn sides: a lone centred hole of side 0.25 · 16 = 4 pixels
    q = A.AugParams.identity(1)
    q.cutout = torch.full((1, A.MAX_CUTOUT_HOLES, 2), 0.5, dtype=torch.float64)
    q.cutout_on = torch.tensor([[True] + [False] * (A.MAX_CUTOUT_HOLES - 1)])
    q.cutout_size = torch.tensor([0.25], dtype=torch.float64)
    out = A.apply(_img(h=16, w=16) + 0.1, q, 16, "zeros")[0]
    assert int((out == 0).all(0).sum()) == 16


def test_outputs_stay_in_unit_range_and_finite():
    img = _img(h=30, w=40)
    out = A.apply(img, A.draw(_everything(), 16, _gen(18)), 24, "zeros")
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


# ------------------------------------------------------------------ readable params, errors


def test_describe_names_the_changes():
    assert A.AugParams.identity(1).describe(0) == "unchanged"
    p = A.AugParams.identity(1).set(angle=12.34, flip=True, brightness=0.6)
    text = p.describe(0)
    assert "rotate +12.3°" in text and "flip" in text and "brightness 0.60" in text
    assert p.values(0)["angle"] == pytest.approx(12.34)


def test_matrix_of_identity_maps_square_crop():
    assert torch.equal(A.AugParams.identity(2).matrix(1), torch.eye(3, dtype=torch.float64))
    m = A.AugParams.identity(1).matrix(0, (10, 20))
    # the square's corners (±1) land on input columns 5 and 14 of 0..19 (grid units)
    expected = torch.tensor([[9 / 19, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(m, expected)


def test_bad_settings_and_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="probability"):
        A.AugSettings(p_affine=1.5)
    with pytest.raises(ValueError):
        A.AugSettings(max_zoom=0.5)
    with pytest.raises(ValueError):
        A.AugSettings(max_lighting=1.0)
    with pytest.raises(ValueError, match="RGB"):
        A.apply(torch.rand(4, 8, 8), A.AugParams.identity(1), 8)
    with pytest.raises(ValueError, match="parameter sets"):
        A.apply(torch.rand(3, 3, 8, 8), A.AugParams.identity(2), 8)
    with pytest.raises(ValueError):
        A.apply(torch.rand(3, 1, 8), A.AugParams.identity(1), 8)


# ------------------------------------------------------------------ one resample vs a chain


def test_one_resample_is_closer_to_the_reference_than_a_chain():
    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    img = torch.stack([(xx / 4).sin(), (yy / 3).cos(), ((xx + yy) / 5).sin()]) * 0.4 + 0.5
    ref = A.reference_resample(img, 20.0, 1.2, 32, "reflection")
    ours = A.psnr(A.affine_resample(img, 20.0, 1.2, 32, "reflection"), ref)
    chain = A.psnr(A.chain_resample(img, 20.0, 1.2, 32, "reflection"), ref)
    assert ours > chain + 3


def test_psnr_values():
    a = torch.zeros(4, 4)
    assert A.psnr(a, a) == math.inf
    assert A.psnr(a + 0.1, a) == pytest.approx(20.0)


# ------------------------------------------------------------------ CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batch_matches_cpu():
    params = A.draw(_everything(), 8, _gen(19))
    batch = (torch.rand(8, 3, 40, 48, generator=_gen(20)) * 255).to(torch.uint8)
    cpu = A.apply(batch, params, 32, "reflection")
    gpu = A.apply(batch.cuda(), params, 32, "reflection")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batch_never_waits_for_the_gpu():
    """CPU-drawn params on a CUDA batch (the trainer's path) move without a stream sync: a blocking
    CPU -> GPU copy would wait for every queued kernel, several times per training batch."""
    params = A.draw(_everything(), 8, _gen(19))
    batch = (torch.rand(8, 3, 40, 48, generator=_gen(20)) * 255).to(torch.uint8)
    xb = batch.cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        gpu = A.apply(xb, params, 32, "reflection")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    cpu = A.apply(batch, params, 32, "reflection")
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
