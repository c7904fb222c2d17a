"""Drawing random parameters: settings + a seeded generator -> AugParams, nothing rendered yet.

The same raw uniforms are drawn in the same order whatever the settings, so changing one magnitude
rescales that transform only and leaves every other draw as it was (a slider never reshuffles the
other tiles). The helpers below run in a fixed order for that reason: do not reorder them.

The random numbers come from torch's generator; the arithmetic on them (a few hundred operations
on arrays of n numbers) runs in numpy, where such a tiny operation costs a third of a torch call.
exp, logit, sigmoid and sqrt go through torch on the same arrays (numpy's differ from torch's in
the last bit now and then), so the draws are bit for bit those of the torch-only draw before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from explorer.augment.params import AugParams
from explorer.augment.settings import MAX_CUTOUT_HOLES, AugSettings

Array = NDArray[Any]
_Fields = dict[str, Array]  # AugParams' fields as the steps below fill them in

# rand_resize_crop tries this many (scale, ratio) pairs before falling back, like fastai
RRC_TRIES = 8


def _torch(fn: Callable[[Tensor], Tensor], v: Array) -> Array:
    """`fn` (torch.exp, torch.logit...) on a numpy array, through torch: torch's own rounding."""
    return fn(torch.from_numpy(v)).numpy()


def _uniform(u: Array, lo: float, hi: float) -> Array:
    return lo + (hi - lo) * u


def _log_uniform(u: Array, lo: float, hi: float) -> Array:
    if lo == hi == 1:  # a transform turned off: exp(0) is exactly 1, no need to compute it
        return np.ones_like(u)
    return _torch(torch.exp, _uniform(u, math.log(lo), math.log(hi)))


def _logit_or_zero(on: Array, b: Array) -> Array:
    """logit(b) where `on`, 0 elsewhere (all 0 without computing a logit when none is on)."""
    return np.where(on, _torch(torch.logit, b), 0.0) if on.any() else np.zeros_like(b)


class _Source:
    """The raw random numbers of one draw of n samples: uniforms, coins and integers, float64."""

    def __init__(self, n: int, generator: torch.Generator | None) -> None:
        self.n, self.generator = n, generator

    def u(self, *shape: int) -> Array:
        return torch.rand(self.n, *shape, generator=self.generator, dtype=torch.float64).numpy()

    def coin(self, p: float) -> Array:
        return self.u() < p

    def ints(self, hi: int) -> Array:
        return torch.randint(0, hi, (self.n,), generator=self.generator).numpy()


def _flips_and_affine(s: AugSettings, r: _Source, p: _Fields) -> None:
    """flip_lr or dihedral, then rotate, zoom and symmetric warp (each its own p_affine coin)."""
    zero = np.zeros(r.n)
    flip_on, dihedral_on, k = r.coin(s.p_flip), r.coin(s.p_dihedral), r.ints(8)
    p["flip"] = flip_on & s.do_flip & (not s.flip_vert)
    p["dihedral"] = np.where(dihedral_on & s.do_flip & s.flip_vert, k, 0)
    rot_on, angle = r.coin(s.p_affine), _uniform(r.u(), -s.max_rotate, s.max_rotate)
    p["angle"] = np.where(rot_on, angle, zero)
    zoom_on, zoom, zrow, zcol = (
        r.coin(s.p_affine),
        _uniform(r.u(), s.min_zoom, s.max_zoom),
        r.u(),
        r.u(),
    )
    p["zoom"] = np.where(zoom_on, zoom, 1.0)
    p["zoom_row"] = zrow if s.zoom_row is None else np.full_like(zrow, s.zoom_row)
    p["zoom_col"] = zcol if s.zoom_col is None else np.full_like(zcol, s.zoom_col)
    warp_on, warp = r.coin(s.p_affine), _uniform(r.u(4), -s.max_warp, s.max_warp)
    p["warp"] = np.where(warp_on[:, None], warp, 0.0)


def _lighting(s: AugSettings, r: _Source, p: _Fields) -> None:
    """get_transforms' lighting plus the extra brightness/contrast, combined in logit space."""
    m = s.max_lighting
    b_on, b = r.coin(s.p_lighting), _uniform(r.u(), 0.5 * (1 - m), 0.5 * (1 + m))
    c_on, c = r.coin(s.p_lighting), _log_uniform(r.u(), 1 - m, 1 / (1 - m))
    m = s.max_brightness
    b2_on, b2 = r.coin(s.p_brightness), _uniform(r.u(), 0.5 * (1 - m), 0.5 * (1 + m))
    m = s.max_contrast
    c2_on, c2 = r.coin(s.p_contrast), _log_uniform(r.u(), 1 - m, 1 / (1 - m))
    # brightness adds in logit space, contrast multiplies there (a magnitude of 0 is off)
    logit_b = _logit_or_zero(b_on & (s.max_lighting > 0), b)
    logit_b = logit_b + _logit_or_zero(b2_on & (s.max_brightness > 0), b2)
    p["brightness"] = _torch(torch.sigmoid, logit_b)
    p["contrast"] = np.where(c_on, c, 1.0) * np.where(c2_on, c2, 1.0)


def _more_geometry(s: AugSettings, r: _Source, p: _Fields) -> None:
    """squish, perspective_warp, tilt, skew and jitter."""
    zero = np.zeros(r.n)
    sq_on, sq = r.coin(s.p_squish), _log_uniform(r.u(), 1 / s.max_squish, s.max_squish)
    p["squish"] = np.where(sq_on, sq, 1.0)
    mp = s.max_perspective
    pw_on, pw = r.coin(s.p_perspective), _uniform(r.u(4, 2), -mp, mp)
    p["perspective"] = np.where(pw_on[:, None, None], pw, 0.0)
    t_on, t, p["tilt_dir"] = r.coin(s.p_tilt), _uniform(r.u(), -s.max_tilt, s.max_tilt), r.ints(4)
    p["tilt"] = np.where(t_on, t, zero)
    k_on, k, p["skew_dir"] = r.coin(s.p_skew), _uniform(r.u(), -s.max_skew, s.max_skew), r.ints(8)
    p["skew"] = np.where(k_on, k, zero)
    j_on, j = r.coin(s.p_jitter), _uniform(r.u(), 0.0, s.max_jitter)
    p["jitter"] = np.where(j_on, j, zero)


def _crop_window(s: AugSettings, r: _Source, p: _Fields) -> None:
    """The crop window: its position, rand_resize_crop's size and shape, and the padding."""
    crow, ccol = r.u(), r.u()
    rrc_on = r.coin(s.p_resize_crop) & (s.max_resize_crop > 1)
    u_scale, u_ratio = r.u(RRC_TRIES), r.u(RRC_TRIES)
    p["win_w"], p["win_h"], ok = _resize_crop(s, rrc_on, u_scale, u_ratio)
    random_pos = np.full(r.n, s.rand_crop) | ok
    p["crop_row"] = np.where(random_pos, crow, 0.5)
    p["crop_col"] = np.where(random_pos, ccol, 0.5)
    p["pad"] = np.where(r.coin(s.p_pad), float(s.pad), np.zeros(r.n))


def _resize_crop(
    s: AugSettings, on: Array, u_scale: Array, u_ratio: Array
) -> tuple[Array, Array, Array]:
    """rand_resize_crop's window (width, height, as fractions of the square) and where it is on.

    The first of RRC_TRIES (scale, ratio) pairs whose window fits, like fastai; the whole square
    where none fits or the transform is off (then nothing is computed: the uniforms were drawn).
    """
    if not on.any():
        return np.ones(on.shape), np.ones(on.shape), on
    scale = _uniform(u_scale, 1.0, s.max_resize_crop)
    ratio = _log_uniform(u_ratio, 1 / s.resize_crop_ratio, s.resize_crop_ratio)
    # area 1/scale, w/h = ratio
    w, h = _torch(torch.sqrt, ratio / scale), _torch(torch.sqrt, 1 / (ratio * scale))
    fits = (w <= 1) & (h <= 1)
    first = np.argmax(fits, axis=1)[:, None]  # the first try that fits
    ok = fits.any(axis=1) & on
    win_w = np.where(ok, np.take_along_axis(w, first, 1)[:, 0], 1.0)
    return win_w, np.where(ok, np.take_along_axis(h, first, 1)[:, 0], 1.0), ok


def _pixel(s: AugSettings, r: _Source, p: _Fields) -> None:
    """rgb_randomize and cutout (always MAX_CUTOUT_HOLES hole centres), then the noise seeds."""
    rgb_on, p["rgb_channel"], rgb = r.coin(s.p_rgb), r.ints(3), _uniform(r.u(), 0.0, s.max_rgb)
    p["rgb_on"] = rgb_on & (s.max_rgb > 0)
    p["rgb"] = np.where(p["rgb_on"], rgb, np.zeros(r.n))
    cut_on, holes = r.coin(s.p_cutout), r.ints(max(s.cutout_holes, 1)) + 1
    p["cutout"] = r.u(MAX_CUTOUT_HOLES, 2)
    slots = np.arange(MAX_CUTOUT_HOLES)[None, :]
    p["cutout_on"] = (cut_on & (s.cutout_holes > 0))[:, None] & (slots < holes[:, None])
    p["seed"] = torch.randint(0, 2**62, (r.n,), generator=r.generator).numpy()
    lo = s.cutout_size if s.cutout_size_min is None else s.cutout_size_min
    p["cutout_size"] = _uniform(r.u(), lo, s.cutout_size)  # drawn last: added after the others


def draw(settings: AugSettings, n: int, generator: torch.Generator | None = None) -> AugParams:
    """Draw n independent parameter sets for `settings`, honouring every probability.

    Args:
        settings: which transforms, how strong, how likely.
        n: number of samples.
        generator: a seeded CPU generator (None uses torch's global one).

    Returns:
        AugParams on the CPU, float64.

    Raises:
        ValueError: for n < 1 (a programming error, not a person's).
    """
    if n < 1:
        raise ValueError("Draw at least one sample.")
    r, p = _Source(n, generator), _Fields()
    for step in (_flips_and_affine, _lighting, _more_geometry, _crop_window, _pixel):
        step(settings, r, p)
    # the steps set every field (no identity to build and overwrite); from_numpy copies nothing
    return AugParams(**{k: torch.from_numpy(v) for k, v in p.items()})
