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


def _flip_table() -> Tensor:
    """flip_lr · dihedral k as 2×2 matrices, indexed [flip, k] (k's bits as in AugParams)."""
    table = torch.zeros(2, 8, 2, 2, dtype=torch.float64)
    for k in range(8):
        dx, dy = (-1.0 if k & 1 else 1.0), (-1.0 if k & 2 else 1.0)
        d = [[0.0, dx], [dy, 0.0]] if k & 4 else [[dx, 0.0], [0.0, dy]]  # bit 4 swaps the axes
        table[0, k] = torch.tensor(d)
        table[1, k] = torch.tensor([[-v for v in d[0]], d[1]])  # flip_lr mirrors x afterwards
    return table


_FLIPS = _flip_table()
_BOTTOM = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=torch.float64)  # an affine map's last row


def _affine_rows(params: AugParams) -> Tensor:
    """flip/dihedral · rotate · squish · zoom per sample: the top two rows of its 3×3 matrix.

    Written out entry by entry (a few dozen ops on (n,) tensors whatever n is, instead of five
    3×3 matrices built and multiplied: on the CPU each tiny op costs microseconds).

    Shape:
        AugParams(n) -> (n, 2, 3) float64
    """
    f64 = torch.float64
    flips = _FLIPS.to(params.angle.device)[params.flip.long(), params.dihedral & 7]  # (n, 2, 2)
    a = torch.deg2rad(params.angle.to(f64))
    cos, sin = a.cos(), a.sin()
    sq = params.squish.to(f64)
    qx, qy = torch.where(sq <= 1, sq, 1.0), torch.where(sq <= 1, 1.0, 1 / sq)  # squish: one axis
    rot_squish = torch.stack([cos * qx, -sin * qy, sin * qx, cos * qy], -1).view(-1, 2, 2)
    lin = flips @ rot_squish
    inv = 1 / params.zoom.to(f64)
    # zoom: scale by 1/zoom about the focus, which stays where it was
    focus = torch.stack([params.zoom_col, params.zoom_row], -1).to(f64) * 2 - 1
    shift = (1 - inv)[:, None, None] * focus[:, :, None]  # (n, 2, 1)
    return torch.cat([lin * inv[:, None, None], lin @ shift], dim=2)


def _homogeneous(rows: Tensor, params: AugParams) -> Tensor:
    """Two affine rows + (0, 0, 1), times the warps' homography where any sample warps.

    Shape:
        (n, 2, 3), AugParams(n) -> (n, 3, 3)
    """
    affine = torch.cat([rows, _BOTTOM.to(rows.device).expand(rows.shape[0], 1, 3)], dim=1)
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
    return _homogeneous(_affine_rows(params), params)


def warp_matrices(params: AugParams) -> Tensor:
    """The composed homography of symmetric_warp, perspective_warp, tilt and skew per sample.

    Returns:
        (n, 3, 3) float64; the identity where every warp magnitude is 0.

    Shape:
        AugParams(n) -> (n, 3, 3)
    """
    warps = _warps(params)
    return _eye(params.n, torch.float64, params.angle.device) if warps is None else warps


def _warps(params: AugParams) -> Tensor | None:
    """`warp_matrices`, or None when no sample warps; solves only the kinds some sample uses.

    Shape:
        AugParams(n) -> (n, 3, 3) or None
    """
    n, dev, f64 = params.n, params.angle.device, torch.float64
    sym, persp = params.warp.to(f64), params.perspective.to(f64)
    tilt, skew = params.tilt.to(f64), params.skew.to(f64)
    on = torch.stack([sym.abs().sum(1), persp.abs().sum((1, 2)), tilt.abs(), skew.abs()]) > 0
    kinds = on.any(dim=1).tolist()  # (4,): which kinds any sample uses, one read
    if not any(kinds):
        return None
    moves = []  # each used kind's corner displacements (n, 4, 2), in the order they compose
    if kinds[0]:
        moves.append((sym @ _SYM_DIRS.to(dev).view(4, 8)).view(n, 4, 2))
    if kinds[1]:
        moves.append(persp)
    if kinds[2]:
        moves.append(_TILT_DIRS.to(dev)[params.tilt_dir] * tilt[:, None, None])
    if kinds[3]:
        moves.append(_SKEW_DIRS.to(dev)[params.skew_dir] * skew[:, None, None])
    orig = _ORIG_PTS.to(dev)
    hs = homography(orig, orig + torch.cat(moves)).view(len(moves), n, 3, 3)
    out = hs[-1]  # skew · tilt · perspective · symmetric: the symmetric warp nearest the tile
    for h in reversed(hs[:-1]):
        out = out @ h
    return torch.where(on.any(dim=0)[:, None, None], out, _eye(n, f64, dev))


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
    f64 = torch.float64
    pad = params.pad.to(f64)
    half = (min(h, w) + 2 * pad - 1) / 2  # half the crop square's side, pixel centre to centre
    hx, hy = half * params.win_w.to(f64), half * params.win_h.to(f64)
    cx = (w - 1) / 2 + (2 * params.crop_col.to(f64) - 1) * ((w - 1) / 2 + pad - hx)
    cy = (h - 1) / 2 + (2 * params.crop_row.to(f64) - 1) * ((h - 1) / 2 + pad - hy)
    # the crop window: square units -> input pixels -> input grid units, a scale and a shift
    scale = torch.stack([hx * 2 / (w - 1), hy * 2 / (h - 1)], -1)[:, :, None]  # (n, 2, 1)
    offset = torch.stack([cx * 2 / (w - 1) - 1, cy * 2 / (h - 1) - 1], -1)  # (n, 2)
    rows = _affine_rows(params) * scale
    rows[:, :, 2] += offset
    return _homogeneous(rows, params)


def project(mats: Tensor, xs: Tensor, ys: Tensor, perspective: bool | None = None) -> Tensor:
    """Apply (n,3,3) homographies to the grid of points (xs[j], ys[i]) -> (n, len(ys), len(xs), 2).

    The grid is separable: each coordinate is ys[i] · slope + a column term, so all tiles' grids
    (and their third coordinates) come from one batched matmul of [ys, 1] by per-sample
    coefficients, written straight into grid_sample's interleaved (x, y) layout (a non-contiguous
    grid makes CPU grid_sample ~2× slower), then one division. Eager broadcast multiply-adds over
    the whole grid measured 3× slower on the CPU: broadcast operands defeat their vector loops.
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
    # xy[n, i, (j, c)] = y_i · M[c,1] + col[n, c, j]
    coef = xs.new_empty(n, 2, w, 2)  # [n, (slope, column term), j, c]
    coef[:, 0] = m[:, None, :2, 1]
    coef[:, 1] = col[:, :2].transpose(1, 2)
    xy = torch.matmul(rows, coef.view(n, 2, 2 * w))  # (n, h, 2w)
    if perspective:  # divide by the third coordinate, computed in the same layout
        coef[:, 0] = m[:, None, 2:, 1]
        coef[:, 1] = col[:, 2, :, None]
        # (its own tensor, not a second half of xy's: one allocation of twice the size made
        # the CPU allocator hand back fresh pages, and fault them in, on every call)
        z = torch.matmul(rows, coef.view(n, 2, 2 * w))
        if _clamps_needed(col, m[:, :, 1], ys):
            # points at or behind the horizon (z <= 0) go far outside the picture, into the padding
            xy.div_(z.clamp_(min=1e-6)).clamp_(-1e4, 1e4)
        else:
            xy.div_(z)
    return xy.view(n, h, w, 2)


def _clamps_needed(col: Tensor, slope: Tensor, ys: Tensor) -> bool:
    """Whether a grid's division can meet z ≤ 1e-6 or give points beyond ±1e4, from bounds on the
    small separable terms alone (coordinate c = col[c, j] + y·slope[c], z is c = 2).

    On the CPU these bounds cost microseconds and spare two passes over the grid; on a GPU reading
    them would wait for the GPU, so there the clamps always run (they are cheap there).

    Shape:
        (n, 3, w), (n, 3), (h,) -> bool
    """
    if col.device.type != "cpu":
        return True
    y = float(ys.abs().max())
    z_low = float((col[:, 2].amin(dim=1) - y * slope[:, 2].abs()).min())
    top = float(col[:, :2].abs().max()) + y * float(slope[:, :2].abs().max())
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
