"""Geometry: every geometric transform of a sample as one 3×3 matrix, and its sampling grid.

Affine maps and 4-point homographies are composed per sample, hence one sampling grid and one
batched `grid_sample`. Coordinates: grids use `align_corners=True` (±1 are the centres of the
corner pixels, as in fastai v1). That choice makes flips and 90° turns exact and makes
grid_sample's padding modes agree pixel for pixel with `F.pad`'s: zeros = constant 0, border =
replicate, reflection = reflect (mirror about the edge pixel's centre, so the edge pixel is not
repeated).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
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


Array = NDArray[np.float64]

# the tables as numpy arrays (the same memory): the matrices are composed on the host in numpy
_ORIG_NP, _SYM_NP, _SKEW_NP = _ORIG_PTS.numpy(), _SYM_DIRS.numpy(), _SKEW_DIRS.numpy()
_TILT_NP = _SYM_NP


def _flip_table() -> Array:
    """flip_lr · dihedral k as 2×2 matrices, indexed [flip, k] (k's bits as in AugParams)."""
    table = np.zeros((2, 8, 2, 2))
    for k in range(8):
        dx, dy = (-1.0 if k & 1 else 1.0), (-1.0 if k & 2 else 1.0)
        d = [[0.0, dx], [dy, 0.0]] if k & 4 else [[dx, 0.0], [0.0, dy]]  # bit 4 swaps the axes
        table[0, k] = d
        table[1, k] = [[-v for v in d[0]], d[1]]  # flip_lr mirrors x afterwards
    return table


_FLIPS = _flip_table()


def _host(t: Tensor) -> NDArray[Any]:
    """A parameter as a numpy array on the host: a view for CPU tensors (one read from a GPU)."""
    try:
        return t.numpy()
    except (TypeError, RuntimeError):  # on a GPU, or part of a graph
        return t.detach().cpu().numpy()


def _f64(t: Tensor) -> Array:
    return _host(t).astype(np.float64, copy=False)


def _torch(a: Array, params: AugParams) -> Tensor:
    """A composed float64 array as a tensor on the params' device (no copy on the CPU)."""
    return to_device(torch.from_numpy(a), params.angle.device)


def _eye(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.eye(3, dtype=dtype, device=device).expand(n, 3, 3).clone()


def _solve_homographies(orig: Array, targ: Array) -> Array:
    """`homography` in numpy: (4, 2) or (n, 4, 2), (n, 4, 2) -> (n, 3, 3)."""
    n = targ.shape[0]
    ox, oy = orig[..., 0, None], orig[..., 1, None]
    a = np.zeros((n, 4, 2, 8))  # rows x0 y0 x1 y1 ... of the 8×8 system
    a[:, :, 0, 0:2] = a[:, :, 1, 3:5] = targ
    a[:, :, 0, 2] = a[:, :, 1, 5] = 1.0
    a[:, :, 0, 6:] = -ox * targ
    a[:, :, 1, 6:] = -oy * targ
    b = np.broadcast_to(orig, targ.shape).reshape(n, 8, 1)
    out = np.ones((n, 9))
    out[:, :8] = np.linalg.solve(a.reshape(n, 8, 8), b)[..., 0]
    return out.reshape(n, 3, 3)


def homography(orig: Tensor, targ: Tensor) -> Tensor:
    """The perspective maps sending each `targ` point to its `orig` point (4 points each).

    Solves the 8×8 linear system of the 4-point correspondence (batched, `np.linalg.solve`), the
    modern replacement for the `torch.solve` fastai v1 used.

    Args:
        orig: (4, 2) or (n, 4, 2) points (x, y).
        targ: (n, 4, 2) points (x, y).

    Returns:
        (n, 3, 3) matrices H (solved in float64; targ's dtype and device), bottom-right 1, with
        H·[targ, 1] ∝ [orig, 1].

    Shape:
        (n, 4, 2), (n, 4, 2) -> (n, 3, 3)
    """
    h = _solve_homographies(_f64(orig), _f64(targ))
    return to_device(torch.from_numpy(h), targ.device, targ.dtype)


def _affine(params: AugParams) -> Array:
    """flip/dihedral · rotate · squish · zoom per sample, as an affine 3×3 matrix.

    Written out entry by entry on the host (a few dozen numpy operations on (n,) arrays, instead
    of five 3×3 matrices built and multiplied as tensors: each tiny torch op costs microseconds).

    Shape:
        AugParams(n) -> (n, 3, 3) float64
    """
    n = params.n
    flips = _FLIPS[_host(params.flip).astype(np.intp), _host(params.dihedral) & 7]  # (n, 2, 2)
    a = np.deg2rad(_f64(params.angle))
    cos, sin = np.cos(a), np.sin(a)
    sq = _f64(params.squish)
    qx, qy = np.where(sq <= 1, sq, 1.0), np.where(sq <= 1, 1.0, 1 / sq)  # squish: one axis
    rot_squish = np.empty((n, 2, 2))
    rot_squish[:, 0, 0], rot_squish[:, 0, 1] = cos * qx, -sin * qy
    rot_squish[:, 1, 0], rot_squish[:, 1, 1] = sin * qx, cos * qy
    lin = flips @ rot_squish
    inv = 1 / _f64(params.zoom)
    # zoom: scale by 1/zoom about the focus, which stays where it was
    shift = np.empty((n, 2, 1))
    shift[:, 0, 0] = (1 - inv) * (2 * _f64(params.zoom_col) - 1)
    shift[:, 1, 0] = (1 - inv) * (2 * _f64(params.zoom_row) - 1)
    out = np.zeros((n, 3, 3))
    out[:, :2, :2], out[:, :2, 2:], out[:, 2, 2] = lin * inv[:, None, None], lin @ shift, 1.0
    return out


def _with_warps(affine: Array, params: AugParams) -> Array:
    """The affine maps times the warps' homography, where any sample warps.

    Shape:
        (n, 3, 3), AugParams(n) -> (n, 3, 3)
    """
    warps = _warps(params)
    return affine if warps is None else affine @ warps


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
    with np.errstate(divide="ignore", invalid="ignore"):  # like torch: inf/nan, no warning
        return _torch(_with_warps(_affine(params), params), params)


def warp_matrices(params: AugParams) -> Tensor:
    """The composed homography of symmetric_warp, perspective_warp, tilt and skew per sample.

    Returns:
        (n, 3, 3) float64; the identity where every warp magnitude is 0.

    Shape:
        AugParams(n) -> (n, 3, 3)
    """
    warps = _warps(params)
    return _torch(np.tile(np.eye(3), (params.n, 1, 1)) if warps is None else warps, params)


def _warps(params: AugParams) -> Array | None:
    """`warp_matrices`, or None when no sample warps; solves only the kinds some sample uses.

    Shape:
        AugParams(n) -> (n, 3, 3) or None
    """
    n = params.n
    sym, persp = _f64(params.warp), _f64(params.perspective)
    tilt, skew = _f64(params.tilt), _f64(params.skew)
    mags = np.array([abs(sym).sum(1), abs(persp).sum((1, 2)), abs(tilt), abs(skew)])
    on = np.greater(mags, 0)  # (4, n): kind k moves sample i
    kinds = on.any(axis=1).tolist()  # (4,): which kinds any sample uses
    if not any(kinds):
        return None
    moves = []  # each used kind's corner displacements (n, 4, 2), in the order they compose
    if kinds[0]:
        moves.append((sym @ _SYM_NP.reshape(4, 8)).reshape(n, 4, 2))
    if kinds[1]:
        moves.append(persp)
    if kinds[2]:
        moves.append(_TILT_NP[_host(params.tilt_dir)] * tilt[:, None, None])
    if kinds[3]:
        moves.append(_SKEW_NP[_host(params.skew_dir)] * skew[:, None, None])
    hs = _solve_homographies(_ORIG_NP, _ORIG_NP + np.concatenate(moves))
    hs = hs.reshape(len(moves), n, 3, 3)
    out = hs[-1]  # skew · tilt · perspective · symmetric: the symmetric warp nearest the tile
    for h in hs[-2::-1]:
        out = out @ h
    return np.where(on.any(axis=0)[:, None, None], out, np.eye(3))


def _matrices(params: AugParams, in_hw: tuple[int, int]) -> Array:
    """`matrices` as a float64 numpy array on the host."""
    h, w = in_hw
    if h < 2 or w < 2:
        raise ValueError("The picture must be at least 2×2 pixels.")
    pad = _f64(params.pad)
    half = (min(h, w) + 2 * pad - 1) / 2  # half the crop square's side, pixel centre to centre
    hx, hy = half * _f64(params.win_w), half * _f64(params.win_h)
    cx = (w - 1) / 2 + (2 * _f64(params.crop_col) - 1) * ((w - 1) / 2 + pad - hx)
    cy = (h - 1) / 2 + (2 * _f64(params.crop_row) - 1) * ((h - 1) / 2 + pad - hy)
    # the crop window: square units -> input pixels -> input grid units, a scale and a shift
    with np.errstate(divide="ignore", invalid="ignore"):  # like torch: inf/nan, no warning
        m = _affine(params)
        m[:, 0, :] *= (hx * 2 / (w - 1))[:, None]
        m[:, 1, :] *= (hy * 2 / (h - 1))[:, None]
        m[:, 0, 2] += cx * 2 / (w - 1) - 1
        m[:, 1, 2] += cy * 2 / (h - 1) - 1
        return _with_warps(m, params)


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
    return _torch(_matrices(params, in_hw), params)


def project(mats: Tensor, xs: Tensor, ys: Tensor, perspective: bool | None = None) -> Tensor:
    """Apply (n,3,3) homographies to the grid of points (xs[j], ys[i]) -> (n, len(ys), len(xs), 2).

    The grid is separable: each coordinate is ys[i] · slope + a column term, so a tile's grid (and
    its third coordinate) is one matmul of [ys, 1] by per-sample coefficients, written straight in
    grid_sample's interleaved (x, y) layout (a non-contiguous grid makes CPU grid_sample ~2×
    slower), then one division. On the CPU that runs tile by tile, so the third coordinate (one
    tile's worth, reused) never leaves the core's cache; on a GPU it is two batched matmuls.
    `perspective` says whether any bottom row differs from (0, 0, 1); pass it when known (a check
    on a GPU tensor would wait for the GPU).

    Shape:
        (n, 3, 3), (w,), (h,) -> (n, h, w, 2)
    """
    n, w, h = mats.shape[0], xs.shape[0], ys.shape[0]
    m = mats.to(xs.dtype)
    if perspective is None:
        perspective = bool((mats[:, 2, :2] != 0).any())
    # col[n, c, j] = M[c,2] + xs[j] · M[c,0]: the column term of coordinate c (x, y, z)
    col = torch.addcmul(m[:, :, 2, None], m[:, :, 0, None], xs)  # (n, 3, w)
    rows = torch.stack([ys, torch.ones_like(ys)], dim=-1)  # (h, 2): [y_i, 1]
    # out[part, n, i, (j, c)] = y_i · slope + column term; part 0: (x, y), part 1: z twice
    coef = xs.new_empty(2 if perspective else 1, n, 2, w, 2)
    coef[0, :, 0] = m[:, None, :2, 1]
    coef[0, :, 1] = col[:, :2].transpose(1, 2)
    if not perspective:
        return torch.matmul(rows, coef[0].view(n, 2, 2 * w)).view(n, h, w, 2)
    coef[1, :, 0] = m[:, None, 2:, 1]
    coef[1, :, 1] = col[:, 2, :, None]
    coef = coef.view(2, n, 2, 2 * w)
    clamp = _clamps_needed(mats, xs, ys)
    tiles = _project_tile_by_tile if xs.device.type == "cpu" else _project_batched
    return tiles(rows, coef, clamp).view(n, h, w, 2)


def _project_tile_by_tile(rows: Tensor, coef: Tensor, clamp: bool) -> Tensor:
    """(x, y) / z tile by tile: z, one tile's worth reused, stays in the core's cache.

    Shape:
        (h, 2), (2, n, 2, 2w) -> (n, h, 2w)
    """
    n, h = coef.shape[1], rows.shape[0]
    xy, z = rows.new_empty(n, h, coef.shape[-1]), rows.new_empty(h, coef.shape[-1])
    for i in range(n):
        torch.mm(rows, coef[0, i], out=xy[i])
        torch.mm(rows, coef[1, i], out=z)
        _divide_(xy[i], z, clamp)
    return xy


def _project_batched(rows: Tensor, coef: Tensor, clamp: bool) -> Tensor:
    """(x, y) / z for all tiles at once: two batched matmuls and a division (GPU kernels).

    Shape:
        (h, 2), (2, n, 2, 2w) -> (n, h, 2w)
    """
    xy = torch.matmul(rows, coef[0])
    _divide_(xy, torch.matmul(rows, coef[1]), clamp)
    return xy


def _divide_(xy: Tensor, z: Tensor, clamp: bool) -> None:
    """xy /= z in place; with `clamp`, points at or behind the horizon (z <= 0) are sent far
    outside the picture, into the padding."""
    if clamp:
        xy.div_(z.clamp_(min=1e-6)).clamp_(-1e4, 1e4)
    else:
        xy.div_(z)


def _clamps_needed(mats: Tensor, xs: Tensor, ys: Tensor) -> bool:
    """Whether a grid's division can meet z ≤ 1e-6 or give points beyond ±1e4, from bounds on
    the matrices alone (|x| ≤ max|xs|, |y| ≤ max|ys|), with room for float32 rounding.

    On the CPU these bounds cost microseconds and spare two passes over the grid; on a GPU reading
    them would wait for the GPU, so there the clamps always run (they are cheap there).
    """
    if mats.device.type != "cpu":
        return True
    m = mats.numpy().astype(np.float64)
    a, xa, ya = np.abs(m), float(xs.abs().max()), float(ys.abs().max())
    spread = a[:, 2, 0] * xa + a[:, 2, 1] * ya
    z_low = float((m[:, 2, 2] - spread - 1e-5 * (a[:, 2, 2] + spread)).min())
    top = float((a[:, :2, 2] + a[:, :2, 0] * xa + a[:, :2, 1] * ya).max())
    return z_low <= 1e-6 or top > 0.99e4 * z_low


def sampling_grid(
    params: AugParams,
    in_hw: tuple[int, int],
    size: int,
    device: torch.device | str | None = None,
) -> Tensor:
    """The grid_sample grid of every sample: where each output pixel reads the input.

    The 3×3 matrices are composed on the host in numpy (a few dozen tiny operations, each a
    kernel launch on a GPU and microseconds of dispatch as torch ops on the CPU); only they and
    the seeds move to `device`.

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
    mats64 = _matrices(params, in_hw)
    perspective = bool((mats64[:, 2, :2] != 0).any())
    lin = torch.linspace(-1, 1, size, device=dev, dtype=torch.float32)
    mats = to_device(torch.from_numpy(mats64.astype(np.float32)), dev)
    grid = project(mats, lin, lin, perspective)
    if bool((params.jitter > 0).any()):
        # jitter is in square-crop units: convert to input grid units through the map's scale
        scale = np.abs(mats64[:, :2, :2]).sum(2)  # (n, 2): |M[c,0]| + |M[c,1]|
        amp = _f64(params.jitter)[:, None] * scale
        amp_t = to_device(torch.from_numpy(amp.astype(np.float32)), dev)[:, None, None, :]
        noise = hash_uniform(to_device(params.seed, dev), size * size * 2).view(-1, size, size, 2)
        grid = grid + (noise * 2 - 1) * amp_t
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
