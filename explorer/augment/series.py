"""One transform at increasing magnitude (fastai docs' "list of transforms"), and tile layouts.

`magnitude_series(name)` gives five parameter sets that change only that transform, from weak to
strong, so a strip of five tiles shows what its magnitude means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from explorer.augment.params import DIHEDRAL_NAMES, AugParams
from explorer.augment.settings import MAX_CUTOUT_HOLES

_PERSPECTIVE_PATTERN = ((-1.0, -1.0), (0.0, 1.0), (1.0, 0.0), (0.5, 0.5))  # one fixed corner move
SERIES: dict[str, tuple[tuple[float, ...], str]] = {
    # name: (five magnitudes, what the number means)
    "brightness": ((0.1, 0.3, 0.5, 0.7, 0.9), "brightness (0.5 = unchanged)"),
    "contrast": ((0.25, 0.5, 1.0, 2.0, 4.0), "contrast scale (1 = unchanged)"),
    "rotate": ((-40.0, -20.0, 0.0, 20.0, 40.0), "degrees"),
    "zoom": ((1.0, 1.25, 1.5, 1.75, 2.0), "zoom"),
    "squish": ((0.5, 0.75, 1.0, 1.5, 2.0), "squish scale"),
    "symmetric_warp": ((-0.4, -0.2, 0.0, 0.2, 0.4), "warp magnitude (right edge +m, left -m)"),
    "perspective_warp": ((-0.4, -0.2, 0.0, 0.2, 0.4), "corner displacement"),
    "tilt": ((-0.4, -0.2, 0.0, 0.2, 0.4), "tilt magnitude (direction 0)"),
    "skew": ((-0.6, -0.3, 0.0, 0.3, 0.6), "skew magnitude (direction 0)"),
    "jitter": ((0.0, 0.01, 0.02, 0.04, 0.08), "jitter magnitude"),
    "dihedral": ((0, 1, 2, 3, 5), "dihedral case"),
    "pad": ((0, 10, 20, 40, 80), "pixels of padding"),
    "rand_resize_crop": ((1.0, 1.5, 2.0, 3.0, 4.0), "window zoom (area 1/zoom)"),
    "cutout": ((0, 1, 2, 3, 4), "holes"),
    "rgb_randomize": ((0.0, 0.25, 0.5, 0.75, 1.0), "noise level of the red channel"),
}
# each transform's magnitude that leaves the picture unchanged (where a robustness sweep starts)
SERIES_IDENTITY: dict[str, float] = {name: 0.0 for name in SERIES} | {
    "brightness": 0.5,
    "contrast": 1.0,
    "zoom": 1.0,
    "squish": 1.0,
    "rand_resize_crop": 1.0,
}


def magnitude_series(
    name: str, magnitudes: Sequence[float] | None = None
) -> tuple[AugParams, list[str]]:
    """Parameter sets applying only transform `name`, one per magnitude (default: SERIES').

    Args:
        name: a key of SERIES.
        magnitudes: the values to show, in SERIES' units (e.g. a robustness sweep from the
            SERIES_IDENTITY value outwards); None for SERIES' five.

    Returns:
        (AugParams with one set per magnitude, one caption each). Raises ValueError for an unknown
        name.
    """
    if name not in SERIES:
        raise ValueError(f"No series for {name!r}; choose one of {', '.join(SERIES)}.")
    default, unit = SERIES[name]
    mags = tuple(default if magnitudes is None else magnitudes)
    v = torch.tensor(mags, dtype=torch.float64)
    p = AugParams.identity(len(mags))
    if name == "brightness":
        p.brightness = v
    elif name == "contrast":
        p.contrast = v
    elif name == "rotate":
        p.angle = v
    elif name == "zoom":
        p.zoom = v
    elif name == "squish":
        p.squish = v
    elif name == "symmetric_warp":
        p.warp = v[:, None] * torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=torch.float64)
    elif name == "perspective_warp":
        p.perspective = v[:, None, None] * torch.tensor(_PERSPECTIVE_PATTERN, dtype=torch.float64)
    elif name == "tilt":
        p.tilt = v
    elif name == "skew":
        p.skew = v
    elif name == "jitter":
        p.jitter, p.seed = v, torch.full((len(mags),), 7)
    elif name == "dihedral":
        p.dihedral = v.to(torch.int64)
    elif name == "pad":
        p.pad = v
    elif name == "rand_resize_crop":
        p.win_w = p.win_h = 1 / torch.sqrt(v)
    elif name == "cutout":
        # the same hole centres in every tile, so each tile keeps the previous tile's holes
        centres = torch.rand(MAX_CUTOUT_HOLES, 2, generator=torch.Generator().manual_seed(3))
        p.cutout = centres.to(v.dtype).expand(len(mags), -1, -1).clone()
        p.cutout_on = torch.arange(MAX_CUTOUT_HOLES)[None, :] < v[:, None]
    elif name == "rgb_randomize":
        p.rgb_on, p.rgb, p.seed = v > 0, v, torch.full((len(mags),), 7)
    labels = [f"{DIHEDRAL_NAMES[int(m)]}" if name == "dihedral" else f"{unit}: {m:g}" for m in mags]
    return p, labels


def drop_point(
    magnitudes: Sequence[float], accuracy: Sequence[float], drop: float = 5.0
) -> float | None:
    """The magnitude where accuracy first falls `drop` points below its value at the first one.

    Between two measured magnitudes the crossing is interpolated linearly: "where the picture
    stops being recognisable", measured. None when it never falls that far.

    Args:
        magnitudes: increasing strengths, the first one the unchanged picture (or the weakest).
        accuracy: the model's accuracy (in %) at each magnitude.
        drop: how many percentage points count as "no longer recognised".
    """
    if len(magnitudes) != len(accuracy) or not magnitudes:
        raise ValueError("Give one accuracy per magnitude, at least one.")
    limit = accuracy[0] - drop
    for i in range(1, len(accuracy)):
        a0, a1 = accuracy[i - 1], accuracy[i]
        if a1 <= limit:
            m0, m1 = magnitudes[i - 1], magnitudes[i]
            t = 1.0 if a0 == a1 else (a0 - limit) / (a0 - a1)
            return m0 + t * (m1 - m0)
    return None


def tile_mosaic(tiles: Tensor, ncols: int = 3, gap: int = 4, fill: float = 1.0) -> Tensor:
    """Lay n tiles out in rows of `ncols`, `gap` pixels of `fill` between them (like plot_multi).

    Shape:
        (n, C, s, s) -> (C, rows·s + (rows-1)·gap, ncols·s + (ncols-1)·gap)
    """
    n, c, h, w = tiles.shape
    rows = math.ceil(n / ncols)
    out = torch.full(
        (c, rows * h + (rows - 1) * gap, ncols * w + (ncols - 1) * gap), fill, dtype=tiles.dtype
    )
    for i in range(n):
        r, k = divmod(i, ncols)
        out[:, r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = tiles[i]
    return out
