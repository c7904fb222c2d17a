"""export to albumentations and kornia, run with the real libraries (dev dependencies).

Each exported pipeline runs on real pictures for several settings (the lesson's among them) and
gives `size`-square output; where the library has an exact counterpart (crops, flips, the dihedral
group, padding modes, cutout) its output is compared with ours or with torch's own ops.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import augment as A

alb = pytest.importorskip("albumentations")
kornia = pytest.importorskip("kornia")

CASES = {
    "lesson": A.AugSettings.lesson(size=32),
    "defaults": A.AugSettings(size=32),
    "dihedral_cutout_pad": A.AugSettings.lesson(
        size=32, flip_vert=True, cutout_holes=3, pad=4, padding_mode="border"
    ),
    "resize_crop_extra_light": A.AugSettings.lesson(
        size=24, max_resize_crop=2.0, max_brightness=0.3, max_contrast=0.2, padding_mode="zeros"
    ),
    "zoom_out_cutout_range": A.AugSettings.lesson(
        size=32, min_zoom=0.6, cutout_holes=2, cutout_size=0.3, cutout_size_min=0.1
    ),
    "everything": A.AugSettings.lesson(
        size=20,
        max_squish=1.3,
        max_perspective=0.2,
        max_tilt=0.2,
        max_skew=0.2,
        max_jitter=0.01,
        max_rgb=0.5,
        zoom_row=0.3,
        zoom_col=0.6,
        rand_crop=False,
    ),
}


def _picture(h: int = 40, w: int = 52, seed: int = 0) -> torch.Tensor:
    """(3, H, W) float: smooth colours plus detail, no pixel 0 (so zeros mean padding/holes)."""
    yy, xx = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    smooth = torch.stack([(xx / 7).sin(), (yy / 5).cos(), ((xx - yy) / 9).sin()]) * 0.3 + 0.5
    noise = torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed)) * 0.1
    return (smooth + noise - 0.05).clamp(0.05, 0.95)


def _hwc(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().to(torch.uint8).permute(1, 2, 0).numpy().copy()


def _run(target: str, s: A.AugSettings) -> tuple[object, list[str]]:
    code, notes = A.export(s, target)
    ns: dict = {}
    exec(compile(code, f"export_{target}", "exec"), ns)
    return ns["transform"], notes


# ------------------------------------------------------------------ albumentations


@pytest.mark.parametrize("case", list(CASES))
def test_albumentations_pipeline_runs_and_gives_size_square_tiles(case):
    s = CASES[case]
    transform, notes = _run("albumentations", s)
    assert isinstance(transform, alb.Compose)
    for h, w in ((40, 52), (61, 33)):
        out = transform(image=_hwc(_picture(h, w)))["image"]
        assert out.shape == (s.size, s.size, 3) and out.dtype == np.uint8
    if case == "everything":
        gaps = next(n for n in notes if n.startswith("No albumentations equivalent"))
        for name in ("squish", "tilt", "skew", "jitter", "rgb_randomize", "zoom focus"):
            assert name in gaps
    else:
        assert not any(n.startswith("No albumentations") for n in notes)


def test_albumentations_off_is_our_centre_crop_and_draws_vary():
    pic = _picture(32, 46)  # short side = size: no resize, the crop alone (at whole pixels)
    off, _ = _run("albumentations", A.AugSettings.off(size=32))
    ours = A.center_crop_resize(pic, 32)[0]
    np.testing.assert_array_equal(off(image=_hwc(pic))["image"], _hwc(ours))
    lesson, _ = _run("albumentations", CASES["lesson"])
    a, b = (lesson(image=_hwc(pic))["image"] for _ in range(2))
    assert not np.array_equal(a, b)  # a new draw per call


def test_albumentations_flip_and_dihedral_match_ours_exactly():
    pic = _picture(32, 32)
    flip, _ = _run("albumentations", A.AugSettings.off(size=32, do_flip=True, p_flip=1.0))
    mirrored = A.apply(pic, A.AugParams.identity(1).set(flip=True), 32)[0]
    np.testing.assert_array_equal(flip(image=_hwc(pic))["image"], _hwc(mirrored))
    dihedral, _ = _run("albumentations", A.AugSettings.off(size=32, do_flip=True, flip_vert=True))
    ours = A.apply(pic, A.AugParams.identity(8).set(dihedral=torch.arange(8)), 32)
    cases = [_hwc(t) for t in ours]
    seen = set()
    for _ in range(80):
        out = dihedral(image=_hwc(pic))["image"]
        match = [k for k, c in enumerate(cases) if np.array_equal(out, c)]
        assert len(match) == 1  # always exactly one of our eight cases
        seen.add(match[0])
    assert seen == set(range(8))


@pytest.mark.parametrize("mode", A.PADDING_MODES)
def test_albumentations_rotation_pads_like_our_padding_mode(mode):
    s = A.AugSettings.off(size=32, max_rotate=45.0, p_affine=1.0, padding_mode=mode)
    transform, _ = _run("albumentations", s)
    pic = _hwc(_picture(32, 32))
    corner_black = [bool((transform(image=pic)["image"][0, 0] == 0).all()) for _ in range(32)]
    if mode == "zeros":  # turns beyond ~10° uncover the corner pixel
        assert sum(corner_black) > 0.3 * 32
    else:
        assert not any(corner_black)
    # ours agrees at 45°: the corner is black with zeros padding only
    ours = A.affine_resample(_picture(32, 32), 45.0, 1.0, 32, mode)
    assert bool((ours[:, 0, 0] == 0).all()) == (mode == "zeros")


def test_albumentations_cutout_cuts_up_to_holes_squares_of_the_set_size():
    s = A.AugSettings.off(size=40, cutout_holes=3, cutout_size=0.2, p_cutout=1.0)
    transform, _ = _run("albumentations", s)
    pic = _picture(40, 40)
    side = 8  # 0.2 of 40 pixels
    for _ in range(10):
        out = transform(image=_hwc(pic))["image"]
        zeros = int((out == 0).all(-1).sum())
        assert side * side <= zeros <= 3 * side * side


def test_albumentations_brightness_moves_mid_grey_by_at_most_half_the_magnitude():
    s = A.AugSettings.off(size=16, max_lighting=0.4, p_lighting=1.0)
    transform, _ = _run("albumentations", s)
    grey = np.full((16, 16, 3), 128, np.uint8)
    means = [transform(image=grey)["image"].mean() for _ in range(40)]
    # brightness ±0.2 and contrast ×0.6..1.667 about black, from 128
    assert min(means) >= 128 * 0.6 - 0.2 * 255 - 1 and max(means) <= 255
    assert max(means) - min(means) > 20  # it does change


# ------------------------------------------------------------------ kornia


@pytest.mark.parametrize("case", list(CASES))
def test_kornia_pipeline_runs_batched_and_gives_size_square_tiles(case):
    s = CASES[case]
    transform, notes = _run("kornia", s)
    assert isinstance(transform, kornia.augmentation.AugmentationSequential)
    for h, w in ((40, 52), (61, 33)):
        batch = torch.stack([_picture(h, w, seed=i) for i in range(4)])
        out = transform(batch)
        assert out.shape == (4, 3, s.size, s.size) and out.dtype == torch.float32
        assert torch.isfinite(out).all()
    if case == "everything":
        gaps = next(n for n in notes if n.startswith("No kornia equivalent"))
        for name in ("squish", "tilt", "skew", "jitter", "rgb_randomize", "zoom focus"):
            assert name in gaps


def test_kornia_off_is_our_centre_crop_and_each_image_gets_its_own_draw():
    pic = _picture(32, 46)
    off, _ = _run("kornia", A.AugSettings.off(size=32))
    torch.testing.assert_close(
        off(pic[None])[0], A.center_crop_resize(pic, 32)[0], atol=1e-5, rtol=0
    )
    lesson, _ = _run("kornia", CASES["lesson"])
    out = lesson(pic[None].expand(6, -1, -1, -1)).flatten(1)
    assert (torch.cdist(out, out) + torch.eye(6) * 1e3 > 1e-2).all()


def test_kornia_flip_and_dihedral_match_ours():
    pic = _picture(32, 32)
    flip, _ = _run("kornia", A.AugSettings.off(size=32, do_flip=True, p_flip=1.0))
    mirrored = A.apply(pic, A.AugParams.identity(1).set(flip=True), 32)[0]
    torch.testing.assert_close(flip(pic[None])[0], mirrored, atol=1e-5, rtol=0)
    dihedral, _ = _run("kornia", A.AugSettings.off(size=32, do_flip=True, flip_vert=True))
    cases = A.apply(pic, A.AugParams.identity(8).set(dihedral=torch.arange(8)), 32).flatten(1)
    out = dihedral(pic[None].expand(200, -1, -1, -1)).flatten(1)
    dist = torch.cdist(out, cases)  # (200, 8)
    best = dist.argmin(1)
    # every output is one of our eight cases (a quarter turn through kornia's affine warp is exact
    # up to float noise, ~1e-4 a pixel) and far from the seven others
    assert (dist.min(1).values < 0.05).all() and (dist.kthvalue(2, 1).values > 1).all()
    assert set(best.tolist()) == set(range(8))  # and all eight turn up


@pytest.mark.parametrize("mode", A.PADDING_MODES)
def test_kornia_rotation_pads_like_our_padding_mode(mode):
    s = A.AugSettings.off(size=32, max_rotate=45.0, p_affine=1.0, padding_mode=mode)
    transform, _ = _run("kornia", s)
    pic = _picture(32, 32)
    out = transform(pic[None].expand(32, -1, -1, -1))
    corner_black = (out[:, :, 0, 0] == 0).all(1)
    if mode == "zeros":
        assert corner_black.float().mean() > 0.3  # turns beyond ~10° uncover the corner pixel
    else:
        assert not corner_black.any()


def test_kornia_cutout_cuts_one_square_of_the_set_area():
    s = A.AugSettings.off(size=40, cutout_holes=1, cutout_size=0.25, p_cutout=1.0)
    transform, _ = _run("kornia", s)
    out = transform(_picture(40, 40)[None].expand(5, -1, -1, -1))
    zeros = (out == 0).all(1).flatten(1).sum(1)
    assert ((zeros >= 81) & (zeros <= 121)).all(), zeros  # a 10×10 square, ±1 pixel a side


@pytest.mark.parametrize("target", ["torchvision", "albumentations", "kornia"])
def test_zoom_out_reaches_the_padding_in_every_library(target):
    """min_zoom < 1 shrinks the picture: with zeros padding the corner pixel turns black (for any
    zoom below ~0.97, so in most of ten draws from [0.5, 1])."""
    s = A.AugSettings.off(size=32, min_zoom=0.5, max_zoom=1.0, p_affine=1.0, padding_mode="zeros")
    transform, _ = _run(target, s)
    pic = _picture(32, 32)
    black = 0
    for _ in range(10):
        if target == "albumentations":
            out = torch.from_numpy(transform(image=_hwc(pic))["image"]).permute(2, 0, 1) / 255
        elif target == "kornia":
            out = transform(pic[None])[0]
        else:
            out = transform((pic * 255).round().to(torch.uint8))
        assert out.shape == (3, 32, 32) and (out[:, 16, 16] > 0).all()
        black += bool((out[:, 0, 0] == 0).all())
    assert black >= 6
    ours = A.apply(pic, A.draw(s, 10, torch.Generator().manual_seed(0)), 32, "zeros")
    assert (ours[:, :, 0, 0] == 0).all(1).sum() >= 6
