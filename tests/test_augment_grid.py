"""The batched sampling grid and fused lighting of explorer.augment against the construction they
replaced: every transform as its own 3×3 matrix, the full product, all four warp homographies
solved, and the grid by broadcast multiply-adds (frozen below as the oracle), for many random
draws, every flip and dihedral case, padding, perspective and all three padding modes; and
against the float64 homography of every pixel centre."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from explorer import augment as A
from explorer.augment.geometry import _ORIG_PTS, _SKEW_DIRS, _SYM_DIRS, _TILT_DIRS

F64 = torch.float64


# ------------------------------------------------------------------ the previous construction


def _eye(n: int) -> torch.Tensor:
    return torch.eye(3, dtype=F64).expand(n, 3, 3).clone()


def _old_square(p: A.AugParams) -> torch.Tensor:
    """fl · d · r · q · z · warps, each factor its own (n, 3, 3) matrix."""
    n, k = p.n, p.dihedral
    dx = torch.where(k & 1 > 0, -1.0, 1.0).to(F64)
    dy = torch.where(k & 2 > 0, -1.0, 1.0).to(F64)
    swap = k & 4 > 0
    d = _eye(n)
    d[:, 0, 0], d[:, 0, 1] = torch.where(swap, 0.0, dx), torch.where(swap, dx, 0.0)
    d[:, 1, 0], d[:, 1, 1] = torch.where(swap, dy, 0.0), torch.where(swap, 0.0, dy)
    fl = _eye(n)
    fl[:, 0, 0] = torch.where(p.flip, -1.0, 1.0).to(F64)
    r = _eye(n)
    a = torch.deg2rad(p.angle.to(F64))
    r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
    q = _eye(n)
    sq = p.squish.to(F64)
    q[:, 0, 0], q[:, 1, 1] = torch.where(sq <= 1, sq, 1.0), torch.where(sq <= 1, 1.0, 1 / sq)
    z = _eye(n)
    inv = 1 / p.zoom.to(F64)
    z[:, 0, 0] = z[:, 1, 1] = inv
    z[:, 0, 2] = (1 - inv) * (2 * p.zoom_col.to(F64) - 1)
    z[:, 1, 2] = (1 - inv) * (2 * p.zoom_row.to(F64) - 1)
    return fl @ d @ r @ q @ z @ _old_warps(p)


def _old_warps(p: A.AugParams) -> torch.Tensor:
    """All four warp homographies solved for every sample, then composed."""
    n, orig = p.n, _ORIG_PTS
    sym = orig + torch.einsum("nk,kpc->npc", p.warp.to(F64), _SYM_DIRS)
    persp = orig + p.perspective.to(F64)
    tilt = orig + _TILT_DIRS[p.tilt_dir] * p.tilt.to(F64)[:, None, None]
    skew = orig + _SKEW_DIRS[p.skew_dir] * p.skew.to(F64)[:, None, None]
    hs = A.homography(orig, torch.cat([sym, persp, tilt, skew])).view(4, n, 3, 3)
    active = p.warp.abs().sum(1) + p.perspective.abs().sum((1, 2)) + p.tilt.abs() + p.skew.abs()
    return torch.where(active[:, None, None] > 0, hs[3] @ hs[2] @ hs[1] @ hs[0], _eye(n))


def _old_matrices(p: A.AugParams, in_hw: tuple[int, int]) -> torch.Tensor:
    h, w = in_hw
    pad = p.pad.to(F64)
    half = (min(h, w) + 2 * pad - 1) / 2
    hx, hy = half * p.win_w.to(F64), half * p.win_h.to(F64)
    cx = (w - 1) / 2 + (2 * p.crop_col.to(F64) - 1) * ((w - 1) / 2 + pad - hx)
    cy = (h - 1) / 2 + (2 * p.crop_row.to(F64) - 1) * ((h - 1) / 2 + pad - hy)
    frame = _eye(p.n)
    frame[:, 0, 0], frame[:, 0, 2] = hx * 2 / (w - 1), cx * 2 / (w - 1) - 1
    frame[:, 1, 1], frame[:, 1, 2] = hy * 2 / (h - 1), cy * 2 / (h - 1) - 1
    return frame @ _old_square(p)


def _old_project(mats: torch.Tensor, lin: torch.Tensor) -> torch.Tensor:
    """Per-tile broadcast multiply-adds in the grid's layout, then the clamped division."""
    n, s = mats.shape[0], lin.shape[0]
    m = mats.to(lin.dtype)
    col = lin.view(1, s, 1)
    row = torch.addcmul(m[:, :2, 2, None], m[:, :2, 0, None], lin).transpose(1, 2)
    slope = m[:, None, :2, 1].expand(n, s, 2).reshape(n, 1, 2 * s)
    xy = torch.addcmul(row.reshape(n, 1, 2 * s), col, slope)
    zrow = torch.addcmul(m[:, 2, 2, None], m[:, 2, 0, None], lin)[:, :, None].expand(n, s, 2)
    z = zrow.reshape(n, 1, 2 * s) + col * m[:, 2, 1].view(n, 1, 1)
    return (xy / z.clamp(min=1e-6)).clamp(-1e4, 1e4).view(n, s, s, 2)


# ------------------------------------------------------------------ random draws of everything

EVERYTHING = dict(
    max_rotate=45.0,
    max_zoom=1.6,
    min_zoom=0.6,
    max_warp=0.4,
    p_affine=0.8,
    max_squish=1.5,
    p_squish=0.6,
    max_perspective=0.3,
    p_perspective=0.5,
    max_tilt=0.3,
    p_tilt=0.5,
    max_skew=0.3,
    p_skew=0.5,
    max_resize_crop=2.5,
    p_resize_crop=0.7,
    pad=5,
    p_pad=0.5,
    max_lighting=0.5,
    p_lighting=0.7,
)
SETTINGS = {
    "lesson": A.AugSettings.lesson(),
    "everything": A.AugSettings(**EVERYTHING),
    "everything_dihedral": A.AugSettings(**EVERYTHING, flip_vert=True, p_dihedral=0.9),
    "affine_only": A.AugSettings.lesson(max_warp=0.0),
    "off": A.AugSettings.off(),
}
SHAPES = [(375, 500), (30, 41), (17, 17), (64, 23)]


def _draws(name: str, count: int = 25):
    for seed in range(count):
        n = (1, 4, 9)[seed % 3]
        yield A.draw(SETTINGS[name], n, torch.Generator().manual_seed(seed)), SHAPES[seed % 4]


def _grid_close(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-6) -> None:
    """Equal to `tol` in grid units, relative beyond ±1 (points far out in the padding)."""
    err = (got.to(F64) - want.to(F64)).abs() / want.to(F64).abs().clamp(min=1)
    assert float(err.max()) <= tol, float(err.max())


@pytest.mark.parametrize("name", list(SETTINGS))
def test_matrices_equal_the_product_of_one_matrix_per_transform(name):
    for p, in_hw in _draws(name):
        torch.testing.assert_close(A.square_matrices(p), _old_square(p), atol=1e-12, rtol=0)
        torch.testing.assert_close(A.warp_matrices(p), _old_warps(p), atol=1e-12, rtol=0)
        torch.testing.assert_close(
            A.matrices(p, in_hw), _old_matrices(p, in_hw), atol=1e-12, rtol=0
        )


@pytest.mark.parametrize("name", list(SETTINGS))
def test_sampling_grid_equals_the_per_tile_construction(name):
    for p, in_hw in _draws(name):
        for size in (2, 7, 33):
            lin = torch.linspace(-1, 1, size)
            want = _old_project(_old_matrices(p, in_hw).float(), lin)
            got = A.sampling_grid(p, in_hw, size)
            assert got.shape == want.shape and got.dtype == torch.float32 and got.is_contiguous()
            _grid_close(got, want)


@pytest.mark.parametrize("name", ["lesson", "everything_dihedral"])
def test_float64_projection_equals_the_per_tile_construction(name):
    for p, in_hw in _draws(name, count=10):
        mats = A.matrices(p, in_hw)
        lin = torch.linspace(-1, 1, 13, dtype=F64)
        got = A.project(mats, lin, lin)
        assert got.dtype == F64 and got.is_contiguous()
        _grid_close(got, _old_project(mats, lin), tol=1e-12)


def test_every_flip_and_dihedral_case_is_the_same_matrix_exactly():
    k = torch.arange(16)
    p = A.AugParams.identity(16).set(dihedral=k % 8, flip=k >= 8, angle=30.0, zoom=1.2)
    assert torch.equal(A.square_matrices(p), _old_square(p))  # (-0.0 equals 0.0)
    q = p.set(angle=0.0, zoom=1.0)  # pure flips: every grid point lands on a pixel centre
    want = _old_project(_old_matrices(q, (9, 9)).float(), torch.linspace(-1, 1, 9))
    assert torch.equal(A.sampling_grid(q, (9, 9), 9), want)


def test_grid_is_the_float64_homography_of_every_pixel_centre_with_every_warp():
    p = A.draw(A.AugSettings(**EVERYTHING), 40, torch.Generator().manual_seed(3))
    in_hw, size = (30, 41), 11
    lin = torch.linspace(-1, 1, size, dtype=F64)
    ys, xs = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(-1, 3)
    h = torch.einsum("nij,pj->npi", _old_matrices(p, in_hw), pts)
    front = (h[..., 2] > 1e-3).all(1)  # samples whose points all lie well in front of the horizon
    assert front.sum() > 30
    want = (h[..., :2] / h[..., 2:]).reshape(40, size, size, 2)[front]
    _grid_close(A.sampling_grid(p, in_hw, size)[front], want, tol=2e-6)


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_resample_equals_grid_sample_on_the_per_tile_grid(padding_mode, dtype):
    img = torch.rand(3, 30, 41, generator=torch.Generator().manual_seed(1), dtype=dtype)
    for name in ("lesson", "everything_dihedral"):
        p = A.draw(SETTINGS[name], 9, torch.Generator().manual_seed(2))
        grid = _old_project(_old_matrices(p, (30, 41)).float(), torch.linspace(-1, 1, 16))
        want = F.grid_sample(
            img[None].expand(9, -1, -1, -1),
            grid.to(dtype),
            padding_mode=padding_mode,
            align_corners=True,
        )
        got = A.resample(img, p, 16, padding_mode)
        assert got.dtype == dtype
        torch.testing.assert_close(got, want, atol=2e-5, rtol=0)


# ------------------------------------------------------------------ lighting, fused on the CPU


def _lighting_f64(x: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """sigmoid((logit x + logit b) · c) in float64, per sample."""
    lb = torch.logit(b.to(F64))[:, None, None, None]
    return torch.sigmoid((torch.logit(x.to(F64)) + lb) * c.to(F64)[:, None, None, None])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_cpu_lighting_equals_the_formula_and_the_batched_passes(dtype):
    g = torch.Generator().manual_seed(4)
    x = torch.rand(6, 3, 9, 7, generator=g, dtype=dtype) * 0.98 + 0.01
    x[0, 0, 0, :2] = torch.tensor([0.0, 1.0], dtype=dtype)  # black and white stay
    b = torch.rand(6, generator=g, dtype=F64) * 0.6 + 0.2
    c = torch.rand(6, generator=g, dtype=F64) + 0.5
    got = A.lighting(x, b, c)
    assert got.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(got.to(F64), _lighting_f64(x, b, c), atol=tol, rtol=0)
    assert got[0, 0, 0, 0] == 0 and got[0, 0, 0, 1] == 1
    # the batched passes (the GPU path, and the one autograd takes) give the same tiles
    shift = (torch.logit(b) * c).to(dtype)[:, None, None, None]
    batched = torch.sigmoid(torch.logit(x) * c.to(dtype)[:, None, None, None] + shift)
    torch.testing.assert_close(got, batched, atol=tol, rtol=0)
    with_grad = A.lighting(x.clone().requires_grad_(), b, c)
    torch.testing.assert_close(with_grad.detach(), got, atol=tol, rtol=0)


def test_apply_lights_in_place_and_returns_the_formula():
    img = torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(5)) * 0.9 + 0.05
    p = A.draw(A.AugSettings.lesson(), 9, torch.Generator().manual_seed(6))
    tiles = A.resample(img, p, 12, "reflection")
    got = A.apply(img, p, 12, "reflection")
    assert got.is_contiguous() and got.shape == (9, 3, 12, 12)
    want = _lighting_f64(tiles, p.brightness, p.contrast)
    torch.testing.assert_close(got.to(F64), want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("clamp", [False, True])
def test_tile_by_tile_and_batched_projections_agree(clamp):
    # the CPU runs tile by tile, a GPU batched: the same numbers either way, clamps included
    from explorer.augment.geometry import _project_batched, _project_tile_by_tile

    g = torch.Generator().manual_seed(8)
    rows = torch.stack([torch.linspace(-1, 1, 9), torch.ones(9)], -1)
    coef = torch.randn(2, 5, 2, 14, generator=g)
    coef[1, :, 1] += 0.5 if clamp else 4.0  # z crosses the horizon only in the clamped case
    a = _project_tile_by_tile(rows, coef, clamp)
    b = _project_batched(rows, coef, clamp)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    if clamp:
        assert a.abs().max() == 1e4  # points behind the horizon went far into the padding
    else:
        torch.testing.assert_close(a, (rows @ coef[0]) / (rows @ coef[1]), atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------------ the draw's shortcuts

# (a transform on, the fields it draws): off, its uniforms are still drawn and nothing computed
DRAWN_BY = {
    "max_squish": (1.4, ("squish",)),
    "max_perspective": (0.2, ("perspective",)),
    "max_tilt": (0.2, ("tilt",)),
    "max_skew": (0.2, ("skew",)),
    "max_jitter": (0.05, ("jitter",)),
    "max_resize_crop": (2.0, ("win_w", "win_h", "crop_row", "crop_col")),
    "max_brightness": (0.3, ("brightness",)),
    "max_contrast": (0.3, ("contrast",)),
    "max_lighting": (0.3, ("brightness", "contrast")),
    "max_rgb": (0.4, ("rgb_on", "rgb")),
}


@pytest.mark.parametrize("field", list(DRAWN_BY))
def test_a_transform_off_draws_identity_and_leaves_every_other_draw_bit_for_bit(field):
    on_value, changed = DRAWN_BY[field]
    base = dict(max_lighting=0.0, rand_crop=False)  # lighting and crop position off too
    off = A.draw(A.AugSettings.lesson(**base), 64, torch.Generator().manual_seed(9))
    on = A.draw(
        A.AugSettings.lesson(**{**base, field: on_value}), 64, torch.Generator().manual_seed(9)
    )
    identity = A.AugParams.identity(64)
    for name in identity.__dataclass_fields__:
        if name in changed:
            assert not torch.equal(getattr(on, name), getattr(off, name)), name
            assert torch.equal(getattr(off, name), getattr(identity, name)), name
        else:
            assert torch.equal(getattr(on, name), getattr(off, name)), name


def test_draw_is_its_definition_on_torchs_stream():
    # the first draws of the lesson's settings rebuilt from the generator's raw stream by hand
    s, n = A.AugSettings.lesson(), 16
    p = A.draw(s, n, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(n, *shape, generator=g, dtype=F64)

    flip_u, _dihedral_u, _k = u(), u(), torch.randint(0, 8, (n,), generator=g)
    rot_u, angle_u, zoom_on_u, zoom_u, row_u, col_u, _warp_on, warp_u = (
        u(),
        u(),
        u(),
        u(),
        u(),
        u(),
        u(),
        u(4),
    )
    _light_on, bright_u, _contrast_on, contrast_u = u(), u(), u(), u()
    assert torch.equal(p.flip, flip_u < 0.5)
    assert torch.equal(p.angle, torch.where(rot_u < 1.0, -20.0 + 40.0 * angle_u, 0.0))
    assert torch.equal(p.zoom, torch.where(zoom_on_u < 1.0, 1.0 + (1.3 - 1.0) * zoom_u, 1.0))
    assert torch.equal(p.zoom_row, row_u) and torch.equal(p.zoom_col, col_u)
    assert torch.equal(p.warp, -0.4 + 0.8 * warp_u)
    b = 0.5 * (1 - 0.4) + (0.5 * (1 + 0.4) - 0.5 * (1 - 0.4)) * bright_u
    torch.testing.assert_close(p.brightness, b, atol=1e-15, rtol=0)
    lo, hi = torch.log(torch.tensor(0.6, dtype=F64)), torch.log(torch.tensor(1 / 0.6, dtype=F64))
    torch.testing.assert_close(
        p.contrast, torch.exp(lo + (hi - lo) * contrast_u), atol=1e-14, rtol=0
    )
