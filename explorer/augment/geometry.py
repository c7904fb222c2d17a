"""Geometry: every geometric transform of a sample as one 3×3 matrix, and its sampling grid.

Affine maps and 4-point homographies are composed per sample, hence one sampling grid and one
batched `grid_sample`. Coordinates: grids use `align_corners=True` (±1 are the centres of the
corner pixels, as in fastai v1). That choice makes flips and 90° turns exact and makes
grid_sample's padding modes agree pixel for pixel with `F.pad`'s: zeros = constant 0, border =
replicate, reflection = reflect (mirror about the edge pixel's centre, so the edge pixel is not
repeated).
"""

from __future__ import annotations

import torch
from torch import Tensor

from explorer.augment.params import AugParams, to_device
from explorer.augment.pixel import hash_uniform

ALIGN_CORNERS = True  # see the module docstring: exact flips/rot90 and padding that matches F.pad

_ORIG_PTS = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)
# How each warp moves the four corners (x, y), per unit of magnitude. Corner order as in _ORIG_PTS.
_SYM_DIRS = torch.tensor(  # symmetric_warp's 4 magnitudes: right, left, bottom, top edge
    [
        [[0, 0], [0, 0], [0, -1], [0, 1]],
        [[0, -1], [0, 1], [0, 0], [0, 0]],
        [[0, 0], [-1, 0], [0, 0], [1, 0]],
        [[-1, 0], [0, 0], [1, 0], [0, 0]],
    ],
    dtype=torch.float64,
)
_TILT_DIRS = _SYM_DIRS  # tilt: one of the four symmetric edge moves, chosen at random
_SKEW_DIRS = torch.tensor(  # skew: one coordinate of one corner pushed outwards
    [
        [[-1, 0], [0, 0], [0, 0], [0, 0]],
        [[0, -1], [0, 0], [0, 0], [0, 0]],
        [[0, 0], [-1, 0], [0, 0], [0, 0]],
        [[0, 0], [0, 1], [0, 0], [0, 0]],
        [[0, 0], [0, 0], [1, 0], [0, 0]],
        [[0, 0], [0, 0], [0, -1], [0, 0]],
        [[0, 0], [0, 0], [0, 0], [1, 0]],
        [[0, 0], [0, 0], [0, 0], [0, 1]],
    ],
    dtype=torch.float64,
)


# Public names for the tables above, so a display never copies their order. Derived from the
# tables themselves: a corner's name from its signs, an edge's from the coordinate its moved
# corners share, a skew's from the one coordinate it pushes.
CORNER_NAMES = tuple(
    ("top" if y < 0 else "bottom") + "-" + ("left" if x < 0 else "right")
    for x, y in _ORIG_PTS.tolist()
)


def _edge_name(move: Tensor) -> str:
    """The edge whose two corners `move` displaces: (4, 2) corner moves."""
    moved = _ORIG_PTS[move.abs().sum(1) > 0]
    x_shared = bool((moved[:, 0] == moved[0, 0]).all())
    if x_shared:
        return "left" if moved[0, 0] < 0 else "right"
    return "top" if moved[0, 1] < 0 else "bottom"


EDGE_NAMES = tuple(_edge_name(m) for m in _SYM_DIRS)  # symmetric_warp's and tilt's edges
SKEW_PULLS = tuple(  # which coordinate of which corner each skew direction pushes out
    f"{CORNER_NAMES[int(c)]} {'xy'[int(k)]}"
    for c, k in (m.nonzero()[0].tolist() for m in _SKEW_DIRS)
)


def _eye(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.eye(3, dtype=dtype, device=device).expand(n, 3, 3).clone()


def homography(orig: Tensor, targ: Tensor) -> Tensor:
    """The perspective maps sending each `targ` point to its `orig` point (4 points each).

    Solves the 8×8 linear system of the 4-point correspondence with `torch.linalg.solve`
    (batched), the modern replacement for the `torch.solve` fastai v1 used.

    Args:
        orig: (4, 2) or (n, 4, 2) points (x, y).
        targ: (n, 4, 2) points (x, y).

    Returns:
        (n, 3, 3) matrices H, bottom-right 1, with H·[targ, 1] ∝ [orig, 1].

    Shape:
        (n, 4, 2), (n, 4, 2) -> (n, 3, 3)
    """
    orig = orig.to(targ).expand_as(targ)
    tx, ty, ox, oy = targ[..., 0], targ[..., 1], orig[..., 0], orig[..., 1]
    one, zero = torch.ones_like(tx), torch.zeros_like(tx)
    rows_x = torch.stack([tx, ty, one, zero, zero, zero, -ox * tx, -ox * ty], dim=-1)
    rows_y = torch.stack([zero, zero, zero, tx, ty, one, -oy * tx, -oy * ty], dim=-1)
    a = torch.stack([rows_x, rows_y], dim=-2).flatten(-3, -2)  # (n, 8, 8), rows x0 y0 x1 y1 ...
    b = torch.stack([ox, oy], dim=-1).flatten(-2)  # (n, 8)
    h = torch.linalg.solve(a, b)
    return torch.cat([h, torch.ones_like(h[:, :1])], dim=1).view(-1, 3, 3)


def square_matrices(params: AugParams) -> Tensor:
    """Each sample's geometry in the output square's own units (±1 = the crop's corners).

    The product flip/dihedral · rotate · squish · zoom · warps maps a point of the output tile to
    the point of the square crop window it samples, i.e. the picture is flipped, then rotated,
    squished, zoomed and finally warped.

    Returns:
        (n, 3, 3) float64 on the params' device.

    Shape:
        AugParams(n) -> (n, 3, 3)
    """
    n, dev, f64 = params.n, params.angle.device, torch.float64
    k = params.dihedral
    dx = torch.where(k & 1 > 0, -1.0, 1.0).to(f64)
    dy = torch.where(k & 2 > 0, -1.0, 1.0).to(f64)
    swap = k & 4 > 0
    d = _eye(n, f64, dev)  # dihedral: mirror x and/or y, then maybe swap the axes
    d[:, 0, 0] = torch.where(swap, 0.0, dx)
    d[:, 0, 1] = torch.where(swap, dx, 0.0)
    d[:, 1, 0] = torch.where(swap, dy, 0.0)
    d[:, 1, 1] = torch.where(swap, 0.0, dy)
    fl = _eye(n, f64, dev)
    fl[:, 0, 0] = torch.where(params.flip, -1.0, 1.0).to(f64)

    r = _eye(n, f64, dev)
    a = torch.deg2rad(params.angle.to(f64))
    r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()

    q = _eye(n, f64, dev)
    sq = params.squish.to(f64)
    q[:, 0, 0] = torch.where(sq <= 1, sq, 1.0)
    q[:, 1, 1] = torch.where(sq <= 1, 1.0, 1 / sq)

    z = _eye(n, f64, dev)
    inv = 1 / params.zoom.to(f64)
    z[:, 0, 0] = z[:, 1, 1] = inv
    z[:, 0, 2] = (1 - inv) * (2 * params.zoom_col.to(f64) - 1)
    z[:, 1, 2] = (1 - inv) * (2 * params.zoom_row.to(f64) - 1)

    return fl @ d @ r @ q @ z @ warp_matrices(params)


def warp_matrices(params: AugParams) -> Tensor:
    """The composed homography of symmetric_warp, perspective_warp, tilt and skew per sample.

    Returns:
        (n, 3, 3) float64; the identity where every warp magnitude is 0.

    Shape:
        AugParams(n) -> (n, 3, 3)
    """
    n, dev, f64 = params.n, params.angle.device, torch.float64
    out = _eye(n, f64, dev)
    active = (
        params.warp.abs().sum(1)
        + params.perspective.abs().sum((1, 2))
        + params.tilt.abs()
        + params.skew.abs()
    ) > 0
    if not active.any():
        return out
    orig = _ORIG_PTS.to(dev)
    sym = orig + torch.einsum("nk,kpc->npc", params.warp.to(f64), _SYM_DIRS.to(dev))
    persp = orig + params.perspective.to(f64)
    tilt = orig + _TILT_DIRS.to(dev)[params.tilt_dir] * params.tilt.to(f64)[:, None, None]
    skew = orig + _SKEW_DIRS.to(dev)[params.skew_dir] * params.skew.to(f64)[:, None, None]
    hs = homography(orig, torch.cat([sym, persp, tilt, skew])).view(4, n, 3, 3)
    out = hs[3] @ hs[2] @ hs[1] @ hs[0]  # symmetric warp nearest the output tile
    return torch.where(active[:, None, None], out, _eye(n, f64, dev))


def matrices(params: AugParams, in_hw: tuple[int, int]) -> Tensor:
    """The full per-sample map from output grid coordinates to input grid coordinates.

    It is crop-window · square_matrices: the window is the largest centred square of the (padded)
    picture, moved to (crop_row, crop_col) and reshaped by rand_resize_crop; coordinates follow
    grid_sample's align_corners=True convention (±1 = centres of the corner pixels).

    Args:
        params: n drawn parameter sets.
        in_hw: the input picture's (height, width), each at least 2.

    Returns:
        (n, 3, 3) float64 homographies on the params' device.

    Shape:
        AugParams(n), (H, W) -> (n, 3, 3)
    """
    h, w = in_hw
    if h < 2 or w < 2:
        raise ValueError("The picture must be at least 2×2 pixels.")
    n, dev, f64 = params.n, params.angle.device, torch.float64
    pad = params.pad.to(f64)
    half = (min(h, w) + 2 * pad - 1) / 2  # half the crop square's side, pixel centre to centre
    hx, hy = half * params.win_w.to(f64), half * params.win_h.to(f64)
    cx = (w - 1) / 2 + (2 * params.crop_col.to(f64) - 1) * ((w - 1) / 2 + pad - hx)
    cy = (h - 1) / 2 + (2 * params.crop_row.to(f64) - 1) * ((h - 1) / 2 + pad - hy)
    frame = _eye(n, f64, dev)  # square units -> input pixels -> input grid units
    frame[:, 0, 0], frame[:, 0, 2] = hx * 2 / (w - 1), cx * 2 / (w - 1) - 1
    frame[:, 1, 1], frame[:, 1, 2] = hy * 2 / (h - 1), cy * 2 / (h - 1) - 1
    return frame @ square_matrices(params)


def project(mats: Tensor, xs: Tensor, ys: Tensor, perspective: bool | None = None) -> Tensor:
    """Apply (n,3,3) homographies to the grid of points (xs[j], ys[i]) -> (n, len(ys), len(xs), 2).

    The grid is separable, so each coordinate is a row term plus a column term: the result is
    written in grid_sample's interleaved (x, y) layout by one broadcast multiply-add (no matmul,
    no copy into place; a non-contiguous grid makes CPU grid_sample ~2× slower).
    `perspective` says whether any bottom row differs from (0, 0, 1); pass it when known (a check
    on a GPU tensor would wait for the GPU).
    """
    n, w, h = mats.shape[0], xs.shape[0], ys.shape[0]
    m = mats.to(xs.dtype)
    col = ys.view(1, h, 1)
    # xy[n, i, (j, c)] = ys[i] · M[c,1] + (M[c,2] + xs[j] · M[c,0])
    row = torch.addcmul(m[:, :2, 2, None], m[:, :2, 0, None], xs)  # (n, 2, w)
    row = row.transpose(1, 2).reshape(n, 1, 2 * w)
    slope = m[:, None, :2, 1].expand(n, w, 2).reshape(n, 1, 2 * w)
    xy = torch.addcmul(row, col, slope)  # (n, h, 2w)
    if perspective is None:
        perspective = bool((mats[:, 2, :2] != 0).any())
    if perspective:  # divide by the third coordinate, computed in the same layout
        zrow = torch.addcmul(m[:, 2, 2, None], m[:, 2, 0, None], xs)  # (n, w)
        zrow = zrow[:, :, None].expand(n, w, 2).reshape(n, 1, 2 * w)
        # (one operand broadcast along the row at a time keeps the CPU loop vectorised)
        z = zrow + col * m[:, 2, 1].view(n, 1, 1)
        if _clamps_needed(zrow, row, slope, m[:, 2, 1], ys):
            # points at or behind the horizon (z <= 0) go far outside the picture, into the padding
            xy.div_(z.clamp_(min=1e-6)).clamp_(-1e4, 1e4)
        else:
            xy.div_(z)
    return xy.view(n, h, w, 2)


def _clamps_needed(zrow: Tensor, row: Tensor, slope: Tensor, zslope: Tensor, ys: Tensor) -> bool:
    """Whether a grid's division can meet z ≤ 1e-6 or give points beyond ±1e4, from bounds on the
    small separable terms alone (z = zrow[j] + y·zslope, numerator = row[j] + y·slope[j]).

    On the CPU these bounds cost microseconds and spare two passes over the grid; on a GPU reading
    them would wait for the GPU, so there the clamps always run (they are cheap there).
    """
    if zrow.device.type != "cpu":
        return True
    y = float(ys.abs().max())
    z_low = float((zrow.amin(dim=(1, 2)) - y * zslope.abs()).min())
    top = float(row.abs().max()) + y * float(slope.abs().max())
    return z_low <= 1e-6 or top / z_low > 1e4


def sampling_grid(
    params: AugParams,
    in_hw: tuple[int, int],
    size: int,
    device: torch.device | str | None = None,
) -> Tensor:
    """The grid_sample grid of every sample: where each output pixel reads the input.

    The 3×3 matrices are composed where the params live (the CPU after `draw`: a few dozen tiny
    ops that would each be a kernel launch on a GPU); only they and the seeds move to `device`.

    Args:
        params: n parameter sets.
        in_hw: the input's (height, width).
        size: output side in pixels.
        device: where the grid is built (default: the params' device).

    Returns:
        (n, size, size, 2) float32 (x, y) in the input's align_corners=True grid units.

    Shape:
        AugParams(n), (H, W), size -> (n, size, size, 2)
    """
    dev = torch.device(device) if device is not None else params.angle.device
    mats64 = matrices(params, in_hw)
    perspective = bool((mats64[:, 2, :2] != 0).any())
    lin = torch.linspace(-1, 1, size, device=dev, dtype=torch.float32)
    grid = project(to_device(mats64, dev, torch.float32), lin, lin, perspective)
    if bool((params.jitter > 0).any()):
        # jitter is in square-crop units: convert to input grid units through the map's scale
        scale = torch.stack(
            [
                mats64[:, 0, 0].abs() + mats64[:, 0, 1].abs(),
                mats64[:, 1, 0].abs() + mats64[:, 1, 1].abs(),
            ],
            -1,
        )
        amp = to_device(params.jitter[:, None] * scale, dev, torch.float32)[:, None, None, :]
        noise = hash_uniform(to_device(params.seed, dev), size * size * 2).view(-1, size, size, 2)
        grid = grid + (noise * 2 - 1) * amp
    return grid


def grid_in_pixels(params: AugParams, in_hw: tuple[int, int], lines: int = 11) -> Tensor:
    """A coarse version of each sampling grid in input pixel coordinates (x = column, y = row).

    Drawing these points joined row by row and column by column over the input picture shows
    where the output tile's lattice lands: the "warped sampling grid".

    Shape:
        AugParams(n), (H, W) -> (n, lines, lines, 2)
    """
    if lines < 2:
        raise ValueError("Draw at least 2 grid lines.")
    h, w = in_hw
    grid = sampling_grid(params.set(jitter=0.0), in_hw, lines).to(torch.float64)
    scale = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=torch.float64, device=grid.device)
    return (grid + 1) * scale
