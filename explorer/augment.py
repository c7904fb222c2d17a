"""fastai v1-style data augmentation: draw random parameters first, then apply them in one resample.

Every geometric transform of a sample becomes one 3×3 matrix (affine maps and 4-point homographies
composed), hence one sampling grid and one batched `grid_sample`; lighting works in logit space like
fastai, and the pixel transforms (rgb_randomize, cutout) come last.

Coordinates: grids use `align_corners=True` (±1 are the centres of the corner pixels, as in fastai
v1). That choice makes flips and 90° turns exact and makes grid_sample's padding modes agree pixel for
pixel with `F.pad`'s: zeros = constant 0, border = replicate, reflection = reflect (mirror about the
edge pixel's centre, so the edge pixel is not repeated).
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from explorer.errors import UserError
from explorer.padding import (  # noqa: F401 - re-exported: explorer.augment.PADDING_MODES etc.
    PAD_MODE,
    PADDING_HELP,
    PADDING_MODES,
    check_padding_mode,
    pad_mode,
)

ALIGN_CORNERS = True  # see the module docstring: exact flips/rot90 and padding that matches F.pad

MAX_CUTOUT_HOLES = 8  # draws always reserve this many holes so a slider never reshuffles the others
# rand_resize_crop tries this many (scale, ratio) pairs before falling back, like fastai
_RRC_TRIES = 8

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
DIHEDRAL_NAMES = (
    "unchanged",
    "mirrored left-right",
    "mirrored top-bottom",
    "rotated 180°",
    "transposed",
    "rotated 90° anticlockwise",
    "rotated 90° clockwise",
    "anti-transposed",
)


class SettingsError(UserError):
    """Augmentation settings that are not allowed (from widgets, a URL or a settings file).

    `field` names the setting at fault (None when the whole input is unusable, e.g. not JSON).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Limit:
    """What one AugSettings field accepts: its type and, for numbers, an interval.

    `kind` is bool, int, float or str; `optional` allows None; `lo_open`/`hi_open` exclude an end;
    `why` is the reason shown after a value outside the interval.
    """

    kind: type
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False
    why: str = ""

    def interval(self) -> str:
        """The allowed interval in maths notation, e.g. '[0, 1)' or '≥ 1'."""
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"{left}{self.lo:g}, {self.hi:g}{right}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '≥'} {self.lo:g}"
        return f"{'<' if self.hi_open else '≤'} {self.hi:g}"

    def inside(self, v: float) -> bool:
        """Whether the number `v` lies in the interval."""
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))


MAX_SIZE = 2048  # output tiles beyond this would cost gigabytes for a grid of nine
_PROB = Limit(float, 0.0, 1.0, why="it is a probability")
_LIGHT = Limit(float, 0.0, 1.0, hi_open=True, why="1 would mean an infinite change")
_BEND = Limit(float, 0.0, 1.0, hi_open=True, why="at 1 a side of the picture collapses")
_AT_LEAST_1 = Limit(float, 1.0, why="1 = off")
_POSITION = Limit(
    float, 0.0, 1.0, optional=True, why="a position across the picture, or null for random"
)
_NONNEG = Limit(float, 0.0, why="it is a magnitude")
_FLAG = Limit(bool)
# One entry per AugSettings field, checked by __post_init__ (and so by from_dict).
FIELD_LIMITS: dict[str, Limit] = {
    "do_flip": _FLAG,
    "flip_vert": _FLAG,
    "max_rotate": _NONNEG,
    "max_zoom": _AT_LEAST_1,
    "max_lighting": _LIGHT,
    "max_warp": _BEND,
    "p_affine": _PROB,
    "p_lighting": _PROB,
    "padding_mode": Limit(str),
    "size": Limit(int, 2, MAX_SIZE, why="pixels per side of an output tile"),
    "p_flip": _PROB,
    "p_dihedral": _PROB,
    "zoom_row": _POSITION,
    "zoom_col": _POSITION,
    "rand_crop": _FLAG,
    "max_brightness": _LIGHT,
    "p_brightness": _PROB,
    "max_contrast": _LIGHT,
    "p_contrast": _PROB,
    "max_squish": _AT_LEAST_1,
    "p_squish": _PROB,
    "max_perspective": _BEND,
    "p_perspective": _PROB,
    "max_tilt": _BEND,
    "p_tilt": _PROB,
    "max_skew": _BEND,
    "p_skew": _PROB,
    "max_jitter": Limit(float, 0.0, 1.0, why="grid units; the picture is 2 wide"),
    "p_jitter": _PROB,
    "max_resize_crop": _AT_LEAST_1,
    "resize_crop_ratio": Limit(float, 1.0, why="aspect ratios 1/r..r are drawn"),
    "p_resize_crop": _PROB,
    "pad": Limit(int, 0, 4 * MAX_SIZE, why="pixels added on every side"),
    "p_pad": _PROB,
    "cutout_holes": Limit(int, 0, MAX_CUTOUT_HOLES, why="0 = off"),
    "cutout_size": Limit(float, 0.0, 1.0, lo_open=True, why="a fraction of the tile's side"),
    "p_cutout": _PROB,
    "max_rgb": _NONNEG,
    "p_rgb": _PROB,
}
_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a name"}


def check_setting(name: str, value: object) -> object:
    """`value` as the canonical Python type of AugSettings field `name`, if it is allowed.

    Numbers may be any real (int for float fields, numpy scalars); bools are never numbers.

    Raises:
        SettingsError: naming the field and saying what it accepts.
    """
    if name not in FIELD_LIMITS:
        close = difflib.get_close_matches(name, FIELD_LIMITS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SettingsError(
            f"{name!r} is not an augmentation setting; {hint}the settings are "
            f"{', '.join(FIELD_LIMITS)}.",
            name,
        )
    lim = FIELD_LIMITS[name]
    if value is None and lim.optional:
        return None
    if name == "padding_mode":
        if not isinstance(value, str) or value not in PADDING_MODES:
            raise SettingsError(
                f"padding_mode must be one of {', '.join(PADDING_MODES)}, not {value!r}.", name
            )
        return value
    what = _KIND_WORDS[lim.kind] + (" or null" if lim.optional else "")
    if lim.kind is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be {what}, not {value!r}.", name)
        return value
    number_type = numbers.Integral if lim.kind is int else numbers.Real
    if isinstance(value, bool) or not isinstance(value, number_type):
        raise SettingsError(f"{name} must be {what}, not {value!r}.", name)
    v = int(value) if lim.kind is int else float(value)
    if not math.isfinite(v):
        raise SettingsError(f"{name} must be a finite number, not {value!r}.", name)
    if not lim.inside(v):
        why = f": {lim.why}" if lim.why else ""
        raise SettingsError(f"{name} must lie in {lim.interval()}, not {value!r}{why}.", name)
    return v


@dataclass(frozen=True)
class AugSettings:
    """Every augmentation knob: fastai v1's `get_transforms` fields first, then its other transforms.

    Magnitudes follow fastai's ranges: lighting changes are drawn in logit space (brightness 0.5 and
    contrast 1 leave the picture unchanged) and warps move the corners in grid units (the picture is
    2 wide). Every transform beyond get_transforms is off by default.
    """

    # fastai v1 get_transforms (same names, same defaults)
    do_flip: bool = True  # flip_lr with p_flip, or a dihedral case when flip_vert
    flip_vert: bool = False  # allow vertical flips and 90° turns too (dihedral, 8 cases)
    max_rotate: float = 10.0  # degrees, angle uniform in ±max_rotate, with p_affine
    max_zoom: float = 1.1  # zoom uniform in [1, max_zoom] about a random focus, with p_affine
    max_lighting: float = 0.2  # brightness in 0.5·(1 ± m), contrast log-uniform in [1-m, 1/(1-m)]
    max_warp: float = 0.2  # symmetric_warp: 4 magnitudes uniform in ±max_warp, with p_affine
    p_affine: float = 0.75  # probability of each of warp, rotate and zoom (drawn separately)
    p_lighting: float = 0.75  # probability of each of brightness and contrast (drawn separately)
    # output
    padding_mode: str = "reflection"  # what is sampled outside the picture: PADDING_MODES
    size: int = 224  # output tiles are size × size
    # flips
    p_flip: float = 0.5  # flip_lr's probability (fastai fixes 0.5)
    p_dihedral: float = 1.0  # dihedral's probability when flip_vert (case 0 of 8 is "unchanged")
    # zoom focus, 0..1 across the crop (None = random, as fastai's rand_zoom)
    zoom_row: float | None = None
    zoom_col: float | None = None
    # crop: where the square window sits in a non-square picture
    rand_crop: bool = True  # random position (fastai rand_crop) or the centre (crop_pad)
    # lighting beyond get_transforms
    max_brightness: float = 0.0  # brightness change uniform in 0.5·(1 ± m)
    p_brightness: float = 1.0
    max_contrast: float = 0.0  # contrast scale log-uniform in [1-m, 1/(1-m)]
    p_contrast: float = 1.0
    # geometry beyond get_transforms
    max_squish: float = (
        1.0  # squish scale log-uniform in [1/m, m] (1 = off); <1 widens, >1 heightens
    )
    p_squish: float = 1.0
    max_perspective: float = 0.0  # perspective_warp: each corner coordinate moves ±m grid units
    p_perspective: float = 1.0
    max_tilt: float = 0.0  # tilt: one random edge stretched by uniform ±m
    p_tilt: float = 1.0
    max_skew: float = 0.0  # skew: one random corner coordinate moved by uniform ±m
    p_skew: float = 1.0
    max_jitter: float = 0.0  # jitter: each pixel sampled from up to ±magnitude away, magnitude ≤ m
    p_jitter: float = 1.0
    max_resize_crop: float = 1.0  # rand_resize_crop: zoom uniform in [1, m] (1 = off)
    resize_crop_ratio: float = 4 / 3  # ... with aspect ratio log-uniform in [1/r, r]
    p_resize_crop: float = 1.0
    pad: int = 0  # pad: pixels added on every side (filled per padding_mode) before cropping
    p_pad: float = 1.0
    # pixel transforms, applied last
    cutout_holes: int = 0  # cutout: 1..holes square holes set to 0 (0 = off)
    cutout_size: float = 0.2  # ... each this fraction of the tile's side
    p_cutout: float = 1.0
    max_rgb: float = 0.0  # rgb_randomize: one channel replaced by noise up to a random level ≤ m
    p_rgb: float = 1.0

    def __post_init__(self) -> None:
        # every field checked against FIELD_LIMITS and stored as its canonical type (20 -> 20.0),
        # so equal settings hash equally whatever produced them
        for f in fields(self):
            object.__setattr__(self, f.name, check_setting(f.name, getattr(self, f.name)))

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, JSON-ready: `AugSettings.from_dict(s.to_dict()) == s`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> AugSettings:
        """Settings from untrusted input (a settings file, a URL): `to_dict`'s keys, or a subset.

        Missing keys keep their defaults; nothing is converted from text ("0.5" is refused).

        Raises:
            SettingsError: (a UserError, so a ValueError) naming the field, for an unknown key, a
                wrong type (a string or bool where a number goes, NaN, inf) or a value out of range.
        """
        if not isinstance(d, Mapping):
            raise SettingsError(
                f"Settings must be a mapping of names to values, not {type(d).__name__}."
            )
        values: dict[str, Any] = {}
        for key, value in d.items():
            if not isinstance(key, str):
                raise SettingsError(f"Setting names are text, not {key!r}.")
            values[key] = check_setting(key, value)
        return cls(**values)

    def to_json(self) -> str:
        """`to_dict` as indented JSON text (a settings file)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> AugSettings:
        """Settings from a JSON settings file's text, checked like `from_dict`.

        Raises:
            SettingsError: if the text is not a JSON object, or for any field `from_dict` refuses.
        """
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise SettingsError(f"The settings file is not valid JSON ({e}).") from e
        if not isinstance(d, dict):
            raise SettingsError('A settings file holds one JSON object, like {"max_rotate": 10}.')
        return cls.from_dict(d)

    @classmethod
    def lesson(cls, **overrides: Any) -> AugSettings:
        """The lesson's `get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4,
        max_warp=0.4, p_affine=1., p_lighting=1.)`, with optional field overrides."""
        base: dict[str, Any] = dict(
            max_rotate=20.0,
            max_zoom=1.3,
            max_lighting=0.4,
            max_warp=0.4,
            p_affine=1.0,
            p_lighting=1.0,
        )
        return cls(**{**base, **overrides})

    @classmethod
    def off(cls, **overrides: Any) -> AugSettings:
        """Every transform off (identity apart from the centre crop and resize), plus overrides."""
        base: dict[str, Any] = dict(
            do_flip=False, max_rotate=0.0, max_zoom=1.0, max_lighting=0.0, max_warp=0.0
        )
        base["rand_crop"] = False
        return cls(**{**base, **overrides})


@dataclass
class AugParams:
    """The drawn values for n samples, one entry per sample in every tensor (CPU by default).

    Identity values: flip False, dihedral 0, angle 0, zoom 1, squish 1, warps 0, crop at 0.5, pad 0,
    window 1×1, brightness 0.5, contrast 1, jitter 0, rgb/cutout off.
    """

    flip: Tensor  # (n,) bool: mirrored left-right
    dihedral: Tensor  # (n,) int64 0..7: bit 1 mirrors x, bit 2 mirrors y, bit 4 swaps x and y
    angle: Tensor  # (n,) degrees, positive turns the picture anticlockwise
    zoom: Tensor  # (n,) ≥ 1
    zoom_row: Tensor  # (n,) zoom focus 0..1 (top..bottom)
    zoom_col: Tensor  # (n,) zoom focus 0..1 (left..right)
    squish: Tensor  # (n,) <1 widens, >1 heightens
    warp: Tensor  # (n, 4) symmetric_warp magnitudes
    perspective: Tensor  # (n, 4, 2) corner displacements
    tilt: Tensor  # (n,) magnitude
    tilt_dir: Tensor  # (n,) int64 0..3
    skew: Tensor  # (n,) magnitude
    skew_dir: Tensor  # (n,) int64 0..7
    crop_row: Tensor  # (n,) 0..1 window position top..bottom
    crop_col: Tensor  # (n,) 0..1 window position left..right
    win_w: Tensor  # (n,) window width / the square crop's side (rand_resize_crop)
    win_h: Tensor  # (n,) window height / the square crop's side
    pad: Tensor  # (n,) pixels of padding around the picture
    brightness: Tensor  # (n,) 0.5 = unchanged
    contrast: Tensor  # (n,) 1 = unchanged
    jitter: Tensor  # (n,) grid units, 0 = off
    rgb_on: Tensor  # (n,) bool
    rgb_channel: Tensor  # (n,) int64 0..2
    rgb: Tensor  # (n,) noise level of the replaced channel
    cutout: Tensor  # (n, K, 2) hole centres (row, col) as fractions of the tile
    cutout_on: Tensor  # (n, K) bool
    cutout_size: Tensor  # (n,) hole side as a fraction of the tile
    seed: Tensor  # (n,) int64 seeds of the per-pixel noise (jitter, rgb_randomize)

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.angle.shape[0]

    @classmethod
    def identity(cls, n: int, device: torch.device | str = "cpu") -> AugParams:
        """n parameter sets that leave the centre crop unchanged."""
        f64 = dict(dtype=torch.float64, device=device)
        i64 = dict(dtype=torch.int64, device=device)
        zeros, ones, half = (
            torch.zeros(n, **f64),
            torch.ones(n, **f64),
            torch.full((n,), 0.5, **f64),
        )
        no = torch.zeros(n, dtype=torch.bool, device=device)
        return cls(
            flip=no.clone(),
            dihedral=torch.zeros(n, **i64),
            angle=zeros.clone(),
            zoom=ones.clone(),
            zoom_row=half.clone(),
            zoom_col=half.clone(),
            squish=ones.clone(),
            warp=torch.zeros(n, 4, **f64),
            perspective=torch.zeros(n, 4, 2, **f64),
            tilt=zeros.clone(),
            tilt_dir=torch.zeros(n, **i64),
            skew=zeros.clone(),
            skew_dir=torch.zeros(n, **i64),
            crop_row=half.clone(),
            crop_col=half.clone(),
            win_w=ones.clone(),
            win_h=ones.clone(),
            pad=zeros.clone(),
            brightness=half.clone(),
            contrast=ones.clone(),
            jitter=zeros.clone(),
            rgb_on=no.clone(),
            rgb_channel=torch.zeros(n, **i64),
            rgb=zeros.clone(),
            cutout=torch.full((n, MAX_CUTOUT_HOLES, 2), 0.5, **f64),
            cutout_on=torch.zeros(n, MAX_CUTOUT_HOLES, dtype=torch.bool, device=device),
            cutout_size=torch.full((n,), 0.2, **f64),
            seed=torch.zeros(n, **i64),
        )

    def _map(self, fn) -> AugParams:
        return AugParams(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def to(self, device: torch.device | str) -> AugParams:
        """The same values on `device` (from the CPU without waiting for the GPU, see `_to`)."""
        return self._map(lambda t: _to(t, device))

    def __getitem__(self, idx: int | slice | Sequence[int] | Tensor) -> AugParams:
        """The parameter sets `idx` (an int keeps a batch of one)."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        return self._map(lambda t: t[idx])

    def set(self, **values: object) -> AugParams:
        """A copy with some fields replaced; scalars are broadcast to all n samples."""
        out = {}
        for name, v in values.items():
            old = getattr(self, name)
            out[name] = (
                torch.as_tensor(v, dtype=old.dtype, device=old.device).expand_as(old).clone()
            )
        return replace(self, **out)

    @staticmethod
    def cat(parts: Sequence[AugParams]) -> AugParams:
        """Concatenate parameter sets along the sample axis."""
        return AugParams(
            **{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(AugParams)}
        )

    def values(self, i: int) -> dict[str, object]:
        """Sample i's values as plain Python numbers (for tables and JSON)."""
        return {f.name: getattr(self, f.name)[i].tolist() for f in fields(self)}

    def matrix(self, i: int, in_hw: tuple[int, int] | None = None) -> Tensor:
        """Sample i's composed 3×3 matrix: in tile units, or tile -> photo grid units given in_hw.

        Shape:
            -> (3, 3) float64
        """
        one = self[i]
        return (square_matrices(one) if in_hw is None else matrices(one, in_hw))[0]

    def describe(self, i: int) -> str:
        """A short caption of what sample i does, naming only the transforms that changed it."""
        v = self.values(i)
        parts: list[str] = []
        if v["flip"]:
            parts.append("flip ↔")
        if v["dihedral"]:
            parts.append(f"dihedral {v['dihedral']} ({DIHEDRAL_NAMES[v['dihedral']]})")
        if v["angle"]:
            parts.append(f"rotate {v['angle']:+.1f}°")
        if v["zoom"] != 1:
            parts.append(f"zoom ×{v['zoom']:.2f} at ({v['zoom_row']:.2f}, {v['zoom_col']:.2f})")
        if v["squish"] != 1:
            parts.append(f"squish {v['squish']:.2f}")
        if any(v["warp"]):
            parts.append("warp [" + ", ".join(f"{m:+.2f}" for m in v["warp"]) + "]")
        if any(any(c) for c in v["perspective"]):
            flat = [m for c in v["perspective"] for m in c]
            parts.append(f"perspective ±{max(abs(m) for m in flat):.2f}")
        if v["tilt"]:
            parts.append(f"tilt {v['tilt']:+.2f} (dir {v['tilt_dir']})")
        if v["skew"]:
            parts.append(f"skew {v['skew']:+.2f} (dir {v['skew_dir']})")
        if v["win_w"] != 1 or v["win_h"] != 1:
            parts.append(f"resize-crop {v['win_w']:.2f}×{v['win_h']:.2f}")
        if v["pad"]:
            parts.append(f"pad {v['pad']:.0f}px")
        if v["crop_row"] != 0.5 or v["crop_col"] != 0.5:
            parts.append(f"crop at ({v['crop_row']:.2f}, {v['crop_col']:.2f})")
        if v["brightness"] != 0.5:
            parts.append(f"brightness {v['brightness']:.2f}")
        if v["contrast"] != 1:
            parts.append(f"contrast {v['contrast']:.2f}")
        if v["jitter"]:
            parts.append(f"jitter {v['jitter']:.3f}")
        if v["rgb_on"]:
            parts.append(f"rgb: {'RGB'[v['rgb_channel']]} noise ≤{v['rgb']:.2f}")
        if any(v["cutout_on"]):
            parts.append(f"cutout ×{sum(v['cutout_on'])}")
        return " · ".join(parts) if parts else "unchanged"


def _uniform(u: Tensor, lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * u


def _log_uniform(u: Tensor, lo: float, hi: float) -> Tensor:
    return torch.exp(_uniform(u, math.log(lo), math.log(hi)))


def draw(settings: AugSettings, n: int, generator: torch.Generator | None = None) -> AugParams:
    """Draw n independent parameter sets for `settings`, honouring every probability.

    The same raw uniforms are drawn in the same order whatever the settings, so changing one
    magnitude rescales that transform only and leaves every other draw as it was.

    Args:
        settings: which transforms, how strong, how likely.
        n: number of samples.
        generator: a seeded CPU generator (None uses torch's global one).

    Returns:
        AugParams on the CPU, float64.
    """
    if n < 1:
        raise ValueError("Draw at least one sample.")
    s = settings

    def u(*shape: int) -> Tensor:
        return torch.rand(n, *shape, generator=generator, dtype=torch.float64)

    def coin(p: float) -> Tensor:
        return u() < p

    def ints(hi: int) -> Tensor:
        return torch.randint(0, hi, (n,), generator=generator)

    p = AugParams.identity(n)
    zero = torch.zeros(n, dtype=torch.float64)
    # flips
    flip_on, dihedral_on, k = coin(s.p_flip), coin(s.p_dihedral), ints(8)
    p.flip = flip_on & s.do_flip & (not s.flip_vert)
    p.dihedral = torch.where(dihedral_on & s.do_flip & s.flip_vert, k, 0)
    # rotate, zoom, symmetric warp (each its own p_affine coin, like fastai)
    rot_on, angle = coin(s.p_affine), _uniform(u(), -s.max_rotate, s.max_rotate)
    p.angle = torch.where(rot_on, angle, zero)
    zoom_on, zoom, zrow, zcol = coin(s.p_affine), _uniform(u(), 1.0, s.max_zoom), u(), u()
    p.zoom = torch.where(zoom_on, zoom, 1.0)
    p.zoom_row = zrow if s.zoom_row is None else torch.full_like(zrow, s.zoom_row)
    p.zoom_col = zcol if s.zoom_col is None else torch.full_like(zcol, s.zoom_col)
    warp_on, warp = coin(s.p_affine), _uniform(u(4), -s.max_warp, s.max_warp)
    p.warp = torch.where(warp_on[:, None], warp, 0.0)
    # lighting: brightness adds in logit space, contrast multiplies there
    m = s.max_lighting
    b_on, b = coin(s.p_lighting), _uniform(u(), 0.5 * (1 - m), 0.5 * (1 + m))
    c_on, c = coin(s.p_lighting), _log_uniform(u(), 1 - m, 1 / (1 - m))
    m = s.max_brightness
    b2_on, b2 = coin(s.p_brightness), _uniform(u(), 0.5 * (1 - m), 0.5 * (1 + m))
    m = s.max_contrast
    c2_on, c2 = coin(s.p_contrast), _log_uniform(u(), 1 - m, 1 / (1 - m))
    logit_b = torch.where(b_on, torch.logit(b), 0.0) + torch.where(b2_on, torch.logit(b2), 0.0)
    p.brightness = torch.sigmoid(logit_b)
    p.contrast = torch.where(c_on, c, 1.0) * torch.where(c2_on, c2, 1.0)
    # more geometry
    sq_on, sq = coin(s.p_squish), _log_uniform(u(), 1 / s.max_squish, s.max_squish)
    p.squish = torch.where(sq_on, sq, 1.0)
    pw_on, pw = coin(s.p_perspective), _uniform(u(4, 2), -s.max_perspective, s.max_perspective)
    p.perspective = torch.where(pw_on[:, None, None], pw, 0.0)
    t_on, t, p.tilt_dir = coin(s.p_tilt), _uniform(u(), -s.max_tilt, s.max_tilt), ints(4)
    p.tilt = torch.where(t_on, t, zero)
    k_on, k, p.skew_dir = coin(s.p_skew), _uniform(u(), -s.max_skew, s.max_skew), ints(8)
    p.skew = torch.where(k_on, k, zero)
    j_on, j = coin(s.p_jitter), _uniform(u(), 0.0, s.max_jitter)
    p.jitter = torch.where(j_on, j, zero)
    # crop window: position, rand_resize_crop's size and shape, padding
    crow, ccol = u(), u()
    rrc_on = coin(s.p_resize_crop) & (s.max_resize_crop > 1)
    scale = _uniform(u(_RRC_TRIES), 1.0, s.max_resize_crop)
    ratio = _log_uniform(u(_RRC_TRIES), 1 / s.resize_crop_ratio, s.resize_crop_ratio)
    w, h = torch.sqrt(ratio / scale), torch.sqrt(1 / (ratio * scale))  # area 1/scale, w/h = ratio
    fits = (w <= 1) & (h <= 1)
    first = torch.argmax(fits.to(torch.int8), dim=1, keepdim=True)  # first try that fits
    ok = fits.any(dim=1) & rrc_on
    p.win_w = torch.where(ok, w.gather(1, first)[:, 0], 1.0)
    p.win_h = torch.where(ok, h.gather(1, first)[:, 0], 1.0)
    random_pos = torch.full((n,), s.rand_crop) | ok
    p.crop_row = torch.where(random_pos, crow, 0.5)
    p.crop_col = torch.where(random_pos, ccol, 0.5)
    p.pad = torch.where(coin(s.p_pad), float(s.pad), zero)
    # pixel transforms
    rgb_on, p.rgb_channel, rgb = coin(s.p_rgb), ints(3), _uniform(u(), 0.0, s.max_rgb)
    p.rgb_on = rgb_on & (s.max_rgb > 0)
    p.rgb = torch.where(p.rgb_on, rgb, zero)
    cut_on, holes, centres = (
        coin(s.p_cutout),
        ints(max(s.cutout_holes, 1)) + 1,
        u(MAX_CUTOUT_HOLES, 2),
    )
    p.cutout = centres
    slots = torch.arange(MAX_CUTOUT_HOLES)[None, :]
    p.cutout_on = (cut_on & (s.cutout_holes > 0))[:, None] & (slots < holes[:, None])
    p.cutout_size = torch.full((n,), float(s.cutout_size), dtype=torch.float64)
    p.seed = torch.randint(0, 2**62, (n,), generator=generator)
    return p


def _to(t: Tensor, device: torch.device | str, dtype: torch.dtype | None = None) -> Tensor:
    """`t.to(device, dtype)`, asynchronous when copying from the CPU.

    A blocking CPU -> GPU copy synchronises the stream (waits for every queued kernel, e.g. the
    previous batch's backward pass); a few per training batch stall the GPU. From the CPU,
    non_blocking is safe: pageable memory is staged before the call returns, pinned memory is kept
    alive by PyTorch. GPU -> CPU copies stay blocking, so their result can be read at once.
    """
    return t.to(device=device, dtype=dtype, non_blocking=t.device.type == "cpu")


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


def _project(mats: Tensor, xs: Tensor, ys: Tensor, perspective: bool | None = None) -> Tensor:
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
        # points at or behind the horizon (z <= 0) go far outside the picture, into the padding
        xy.div_(z.clamp_(min=1e-6)).clamp_(-1e4, 1e4)
    return xy.view(n, h, w, 2)


def _hash_uniform(seed: Tensor, count: int) -> Tensor:
    """Counter-based noise: (n, count) floats in [0, 1) that depend only on the seeds.

    A splitmix64 hash of (seed, index) in int64 arithmetic, so saved params give the same noise on
    any device without carrying a generator around.
    """
    idx = torch.arange(count, device=seed.device, dtype=torch.int64)
    z = seed[:, None] * -7046029254386353131 + idx[None, :] * 2654435761 + 1  # golden-ratio steps

    def shr(v: Tensor, k: int) -> Tensor:  # logical right shift for int64
        return (v >> k) & ((1 << (64 - k)) - 1)

    z = (z ^ shr(z, 30)) * -4658895280553007687
    z = (z ^ shr(z, 27)) * -7723592293110705685
    z = z ^ shr(z, 31)
    return shr(z, 40).to(torch.float32) / float(1 << 24)


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
    grid = _project(_to(mats64, dev, torch.float32), lin, lin, perspective)
    if bool((params.jitter > 0).any()):
        # jitter is in square-crop units: convert to input grid units through the map's scale
        scale = torch.stack(
            [
                mats64[:, 0, 0].abs() + mats64[:, 0, 1].abs(),
                mats64[:, 1, 0].abs() + mats64[:, 1, 1].abs(),
            ],
            -1,
        )
        amp = _to(params.jitter[:, None] * scale, dev, torch.float32)[:, None, None, :]
        noise = _hash_uniform(_to(params.seed, dev), size * size * 2).view(-1, size, size, 2)
        grid = grid + (noise * 2 - 1) * amp
    return grid


def _as_float_batch(img: Tensor) -> tuple[Tensor, bool]:
    """(3,H,W) or (B,3,H,W), uint8 or float -> float (B,3,H,W) in [0,1], and 'was single'."""
    if img.ndim not in (3, 4) or img.shape[-3] != 3:
        raise ValueError(
            f"Expected an RGB image (3,H,W) or batch (B,3,H,W), got {tuple(img.shape)}."
        )
    x = img if img.ndim == 4 else img[None]
    if x.dtype == torch.uint8:
        x = x.to(torch.float32).div_(255)
    elif not x.is_floating_point():
        raise ValueError(f"Images must be uint8 or floating point, not {x.dtype}.")
    return x, img.ndim == 3


def resample(img: Tensor, params: AugParams, size: int, padding_mode: str = "reflection") -> Tensor:
    """Only the geometry of `apply`: one grid_sample per sample, no lighting or pixel transforms.

    Shape:
        (3, H, W) or (n, 3, H, W) -> (n, 3, size, size)
    """
    check_padding_mode(padding_mode)
    x, single = _as_float_batch(img)
    n = params.n
    if not single and x.shape[0] != n:
        raise ValueError(
            f"A batch of {x.shape[0]} images needs {x.shape[0]} parameter sets, not {n}."
        )
    grid = sampling_grid(params, tuple(x.shape[-2:]), size, device=x.device).to(x.dtype)
    if single:
        # one image, n grids: a broadcast view of the image, no copies (on this CPU it measured
        # faster than stacking the n grids into one tall grid over the image once)
        x = x.expand(n, -1, -1, -1)
    return F.grid_sample(
        x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=ALIGN_CORNERS
    )


def lighting(x: Tensor, brightness: Tensor, contrast: Tensor) -> Tensor:
    """fastai's lighting: sigmoid((logit(x) + logit(brightness)) · contrast), per sample.

    Brightness 0.5 and contrast 1 are the identity (up to float rounding); pixels at exactly 0 or 1
    stay there (logit ±inf maps back to 0 or 1).

    Shape:
        (n, C, H, W), (n,), (n,) -> (n, C, H, W)
    """
    return _lighting_(torch.logit(x), brightness, contrast)


def _lighting_(logits: Tensor, brightness: Tensor, contrast: Tensor) -> Tensor:
    """`lighting` on logits computed already, in place (a multiply, an add, a sigmoid)."""
    b = torch.logit(brightness.to(torch.float64))  # tiny: composed where the params live
    c = contrast.to(torch.float64)
    shift = _to(b * c, logits.device, logits.dtype)[:, None, None, None]
    scale = _to(c, logits.device, logits.dtype)[:, None, None, None]
    # (L + b) · c as L · c + b · c: two passes, each vectorised on the CPU (a one-pass addcmul
    # with two per-sample operands runs a scalar loop there, 5× slower)
    return torch.sigmoid_(logits.mul_(scale).add_(shift))


def apply(img: Tensor, params: AugParams, size: int, padding_mode: str = "reflection") -> Tensor:
    """Apply drawn parameters: one resample (all geometry), lighting in logit space, pixel tfms.

    Args:
        img: one picture (3,H,W) rendered n times, or a batch (n,3,H,W) with one set per image;
            uint8 (0..255) or float in [0,1], on any device.
        params: n parameter sets from `draw` (composed on their device; results move to img's).
        size: output side in pixels.
        padding_mode: "zeros", "border" or "reflection".

    Returns:
        (n, 3, size, size) contiguous float in [0,1] on img's device (float32 for uint8 input).

    Shape:
        (3, H, W) or (n, 3, H, W) -> (n, 3, size, size)
    """
    out = resample(img, params, size, padding_mode)  # fresh and contiguous: ours to overwrite
    dev = out.device
    lit = (params.brightness != 0.5) | (params.contrast != 1)  # decided where params live
    if bool(lit.all()):
        out = _lighting_(out.logit_(), params.brightness, params.contrast)
    elif bool(lit.any()):
        shaded = lighting(out, params.brightness, params.contrast)
        out = torch.where(_to(lit, dev)[:, None, None, None], shaded, out)
    if bool(params.rgb_on.any()):
        noise = _hash_uniform(_to(params.seed, dev) + 1, size * size).view(-1, 1, size, size)
        chan = torch.arange(3)[None, :] == params.rgb_channel.cpu()[:, None]
        mask = _to((chan & params.rgb_on.cpu()[:, None])[:, :, None, None], dev)
        level = _to(params.rgb, dev, out.dtype)[:, None, None, None]
        out = torch.where(mask, noise.to(out) * level, out)
    if bool(params.cutout_on.any()):
        out = out * (1 - cutout_mask(params.to(dev), size).to(out))
    return out.contiguous()


def cutout_mask(params: AugParams, size: int) -> Tensor:
    """1 inside each sample's cutout holes, 0 elsewhere (holes clipped at the tile's edge).

    Shape:
        AugParams(n), size -> (n, 1, size, size)
    """
    pos = torch.arange(size, device=params.cutout.device, dtype=torch.float64)
    half = (params.cutout_size * size / 2)[:, None]  # (n, 1)
    lo = torch.floor(params.cutout * size - half[..., None])  # (n, K, 2)
    hi = torch.floor(params.cutout * size + half[..., None])
    rows = (pos >= lo[..., 0:1]) & (pos < hi[..., 0:1])  # (n, K, size)
    cols = (pos >= lo[..., 1:2]) & (pos < hi[..., 1:2])
    hole = rows[:, :, :, None] & cols[:, :, None, :] & params.cutout_on[:, :, None, None]
    return hole.any(dim=1, keepdim=True).to(torch.float32)


def affine_resample(
    img: Tensor, angle: float, zoom: float, size: int, padding_mode: str = "reflection"
) -> Tensor:
    """Rotate by `angle` degrees and zoom by `zoom` about the centre of the centred square crop.

    One resample. `img` is (3,H,W) uint8 or float in [0,1].

    Shape:
        (3, H, W) -> (3, size, size)
    """
    if zoom <= 0:
        raise ValueError("Zoom must be positive.")
    p = AugParams.identity(1).set(angle=angle, zoom=zoom)
    return resample(img, p, size, padding_mode)[0]


def center_crop_resize(img: Tensor, size: int) -> Tensor:
    """The validation path: centre square crop resized to size × size, no randomness.

    Bilinear point sampling (no antialiasing): meant for pictures already near `size`.

    Shape:
        (3, H, W) -> (1, 3, size, size); (B, 3, H, W) -> (B, 3, size, size)
    """
    n = 1 if img.ndim == 3 else img.shape[0]
    return resample(img, AugParams.identity(n), size, "reflection")


def chain_resample(
    img: Tensor, angle: float, zoom: float, size: int, padding_mode: str = "reflection"
) -> Tensor:
    """The same rotate+zoom as `affine_resample`, done the usual way: three successive resamples.

    Crop+resize to size, then rotate, then zoom, each its own bilinear grid_sample; every step blurs
    and the rotation can only see the already-cropped square.

    Shape:
        (3, H, W) -> (3, size, size)
    """
    x = center_crop_resize(img, size)[0]
    x = resample(x, AugParams.identity(1).set(angle=angle), size, padding_mode)[0]
    return resample(x, AugParams.identity(1).set(zoom=zoom), size, padding_mode)[0]


def reference_resample(
    img: Tensor,
    angle: float,
    zoom: float,
    size: int,
    padding_mode: str = "reflection",
    factor: int = 4,
) -> Tensor:
    """A high-quality rendering of `affine_resample`'s transform, for measuring crispness.

    Each output pixel averages factor × factor bilinear samples spread over its footprint in float64
    (supersampling), so it neither aliases nor blurs more than the geometry demands.

    Shape:
        (3, H, W) -> (3, size, size)
    """
    x, _ = _as_float_batch(img)
    x = x.to(torch.float64)
    p = AugParams.identity(1, x.device).set(angle=angle, zoom=zoom)
    mats = matrices(p, tuple(x.shape[-2:]))
    step = 2 / (size - 1)
    offs = ((torch.arange(factor, dtype=torch.float64) + 0.5) / factor - 0.5) * step
    lin = torch.linspace(-1, 1, size, dtype=torch.float64)
    fine = (lin[:, None] + offs[None, :]).reshape(-1).to(x.device)
    grid = _project(mats, fine, fine)
    out = F.grid_sample(x, grid, padding_mode=padding_mode, align_corners=ALIGN_CORNERS)
    return F.avg_pool2d(out, factor)[0].to(torch.float32)


def psnr(a: Tensor, b: Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio of `a` against `b` in dB (inf when equal).

    Shape:
        (..., H, W), (..., H, W) -> float
    """
    mse = torch.mean((a.to(torch.float64) - b.to(torch.float64)) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


# ---------------------------------------------------------------------------------------------
# "List of transforms": one transform at increasing magnitude, as in fastai's docs
# ---------------------------------------------------------------------------------------------

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


def magnitude_series(name: str) -> tuple[AugParams, list[str]]:
    """Five parameter sets applying only transform `name`, at the magnitudes in SERIES.

    Returns:
        (AugParams with n=5, one caption per magnitude). Raises ValueError for an unknown name.
    """
    if name not in SERIES:
        raise ValueError(f"No series for {name!r}; choose one of {', '.join(SERIES)}.")
    mags, unit = SERIES[name]
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
        p.cutout = torch.rand(
            len(mags),
            MAX_CUTOUT_HOLES,
            2,
            generator=torch.Generator().manual_seed(3),
            dtype=v.dtype,
        )
        p.cutout_on = torch.arange(MAX_CUTOUT_HOLES)[None, :] < v[:, None]
    elif name == "rgb_randomize":
        p.rgb_on, p.rgb, p.seed = v > 0, v, torch.full((len(mags),), 7)
    labels = [f"{DIHEDRAL_NAMES[int(m)]}" if name == "dihedral" else f"{unit}: {m:g}" for m in mags]
    return p, labels


# ---------------------------------------------------------------------------------------------
# Export: the same settings as fastai v1, fastai v2 and torchvision v2 code
# ---------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _lighting_range(m: float) -> tuple[str, str]:
    return (
        f"({_fmt(0.5 * (1 - m))}, {_fmt(0.5 * (1 + m))})",
        f"({_fmt(1 - m)}, {_fmt(1 / (1 - m))})",
    )


def fastai_v1_code(s: AugSettings) -> tuple[str, list[str]]:
    """fastai v1 code for these settings, and notes on what it cannot express exactly.

    Returns:
        (python source, notes).
    """
    notes: list[str] = []
    xtra: list[str] = []
    max_zoom = s.max_zoom
    if s.zoom_row is not None or s.zoom_col is not None:
        r = 0.5 if s.zoom_row is None else s.zoom_row
        c = 0.5 if s.zoom_col is None else s.zoom_col
        xtra.append(
            f"zoom(scale=(1., {_fmt(s.max_zoom)}), row_pct={_fmt(r)}, col_pct={_fmt(c)},"
            f" p={_fmt(s.p_affine)})"
        )
        max_zoom = 1.0
        if s.zoom_row is None or s.zoom_col is None:
            notes.append("fastai cannot fix one zoom coordinate and draw the other: both fixed.")
    if s.max_brightness:
        b, _ = _lighting_range(s.max_brightness)
        xtra.append(f"brightness(change={b}, p={_fmt(s.p_brightness)})")
    if s.max_contrast:
        _, c = _lighting_range(s.max_contrast)
        xtra.append(f"contrast(scale={c}, p={_fmt(s.p_contrast)})")
    if s.max_squish > 1:
        xtra.append(
            f"squish(scale=({_fmt(1 / s.max_squish)}, {_fmt(s.max_squish)}), p={_fmt(s.p_squish)})"
        )
        notes.append("fastai draws squish uniformly, this app log-uniformly (same range).")
    if s.max_perspective:
        m = _fmt(s.max_perspective)
        xtra.append(f"perspective_warp(magnitude=(-{m}, {m}), p={_fmt(s.p_perspective)})")
    if s.max_tilt:
        m = _fmt(s.max_tilt)
        xtra.append(f"tilt(direction=(0, 3), magnitude=(-{m}, {m}), p={_fmt(s.p_tilt)})")
    if s.max_skew:
        m = _fmt(s.max_skew)
        xtra.append(f"skew(direction=(0, 7), magnitude=(-{m}, {m}), p={_fmt(s.p_skew)})")
    if s.max_jitter:
        m = _fmt(s.max_jitter)
        xtra.append(f"jitter(magnitude=(-{m}, {m}), p={_fmt(s.p_jitter)})")
    if s.pad:
        xtra.append(f"pad(padding={s.pad}, mode='{s.padding_mode}', p={_fmt(s.p_pad)})")
    if s.cutout_holes:
        length = max(1, round(s.cutout_size * s.size))
        xtra.append(
            f"cutout(n_holes=(1, {s.cutout_holes}), length=({length}, {length}),"
            f" p={_fmt(s.p_cutout)})"
        )
    if s.max_rgb:
        xtra.append(f"rgb_randomize(thresh={_fmt(s.max_rgb)}, p={_fmt(s.p_rgb)})")
        notes.append("fastai's rgb_randomize never picks the blue channel; this app picks any.")
    lines = [
        "from fastai.vision import *",
        "",
        "tfms = get_transforms(",
        f"    do_flip={s.do_flip}, flip_vert={s.flip_vert}, max_rotate={_fmt(s.max_rotate)},",
        f"    max_zoom={_fmt(max_zoom)}, max_lighting={_fmt(s.max_lighting)},"
        f" max_warp={_fmt(s.max_warp)},",
        f"    p_affine={_fmt(s.p_affine)}, p_lighting={_fmt(s.p_lighting)},",
        "    xtra_tfms=[" + ", ".join(xtra) + "],",
        ")",
    ]
    if s.max_resize_crop > 1:
        r = _fmt(s.resize_crop_ratio)
        lines.append(
            f"tfms = (tfms[0][1:] + rand_resize_crop({s.size}, max_scale={_fmt(s.max_resize_crop)},"
            f" ratios=(1/{r}, {r})), tfms[1])"
        )
        notes.append("rand_resize_crop's probability has no fastai argument: it always runs.")
    elif not s.rand_crop:
        lines.append("tfms = ([crop_pad()] + tfms[0][1:], tfms[1])  # centre crop, not rand_crop")
    if s.p_flip != 0.5 and s.do_flip and not s.flip_vert:
        notes.append("fastai's get_transforms flips with p=0.5; use flip_lr(p=...) in xtra_tfms.")
    lines.append(
        f"data = src.transform(tfms, size={s.size}, padding_mode='{s.padding_mode}')"
        "  # src: your labelled ItemLists"
    )
    return "\n".join(lines) + "\n", notes


def fastai_v2_code(s: AugSettings) -> tuple[str, list[str]]:
    """fastai v2 `aug_transforms` code for these settings, with notes on the differences."""
    notes = [
        "fastai v2's warp is its own Warp transform (a different corner move than symmetric_warp).",
        "fastai v2 draws rotate, zoom and warp with one p_affine each, like v1.",
    ]
    item = f"Resize({s.size}, method='crop')"
    if s.max_resize_crop > 1:
        r = _fmt(s.resize_crop_ratio)
        item = (
            f"RandomResizedCrop({s.size}, min_scale={_fmt(1 / s.max_resize_crop)},"
            f" ratio=(1/{r}, {r}))"
        )
    elif s.rand_crop:
        notes.append(
            "v2 has no rand_crop after a resize: RandomResizedCrop(min_scale=1) is closest."
        )
        item = f"RandomResizedCrop({s.size}, min_scale=1.0, ratio=(1, 1))"
    xtra: list[str] = []
    if s.max_brightness:
        xtra.append(f"Brightness(max_lighting={_fmt(s.max_brightness)}, p={_fmt(s.p_brightness)})")
    if s.max_contrast:
        xtra.append(f"Contrast(max_lighting={_fmt(s.max_contrast)}, p={_fmt(s.p_contrast)})")
    if s.cutout_holes:
        area = _fmt(s.cutout_size**2)
        xtra.append(
            f"RandomErasing(p={_fmt(s.p_cutout)}, sl={area}, sh={area}, max_count={s.cutout_holes})"
        )
        notes.append("RandomErasing fills with noise, not zeros like cutout.")
    missing = [
        name
        for name, on in (
            ("squish", s.max_squish > 1),
            ("perspective_warp", s.max_perspective > 0),
            ("tilt", s.max_tilt > 0),
            ("skew", s.max_skew > 0),
            ("jitter", s.max_jitter > 0),
            ("pad", s.pad > 0),
            ("rgb_randomize", s.max_rgb > 0),
            ("zoom focus", s.zoom_row is not None or s.zoom_col is not None),
        )
        if on
    ]
    if missing:
        notes.append("No fastai v2 equivalent for: " + ", ".join(missing) + ".")
    code = "\n".join(
        [
            "from fastai.vision.all import *",
            "",
            "batch_tfms = aug_transforms(",
            f"    do_flip={s.do_flip}, flip_vert={s.flip_vert}, max_rotate={_fmt(s.max_rotate)},",
            f"    min_zoom=1.0, max_zoom={_fmt(s.max_zoom)}, max_lighting={_fmt(s.max_lighting)},",
            f"    max_warp={_fmt(s.max_warp)}, p_affine={_fmt(s.p_affine)},"
            f" p_lighting={_fmt(s.p_lighting)},",
            f"    pad_mode='{s.padding_mode}', align_corners=True,",
            "    xtra_tfms=[" + ", ".join(xtra) + "],",
            ")",
            f"item_tfms = {item}",
            "dls = ImageDataLoaders.from_name_re(path, fnames, r'([^/]+)_\\d+.jpg$',",
            "                                    item_tfms=item_tfms, batch_tfms=batch_tfms)",
        ]
    )
    return code + "\n", notes


def torchvision_code(s: AugSettings) -> tuple[str, list[str]]:
    """The nearest torchvision.transforms.v2 pipeline, with the settings it cannot express.

    The code defines `tfms`, a v2.Compose taking a uint8 (3,H,W) tensor or PIL image.
    """
    notes = [
        "torchvision resamples once per geometric step (crop/resize, affine, perspective),"
        " so each step blurs a little more.",
        "ColorJitter changes brightness and contrast linearly, not in logit space.",
    ]
    steps: list[str] = []
    if s.max_resize_crop > 1:
        r = _fmt(s.resize_crop_ratio)
        steps.append(
            f"v2.RandomResizedCrop({s.size}, scale=({_fmt(1 / s.max_resize_crop)}, 1.0),"
            f" ratio=(1/{r}, {r}), antialias=True)"
        )
    else:
        steps.append(f"v2.Resize({s.size}, antialias=True)")
        if s.rand_crop or s.pad:
            steps.append(
                f"v2.RandomCrop({s.size}, padding={s.pad or None},"
                f" padding_mode='{'edge' if s.padding_mode == 'border' else PAD_MODE[s.padding_mode]}')"
            )
        else:
            steps.append(f"v2.CenterCrop({s.size})")
    if s.do_flip and not s.flip_vert:
        steps.append(f"v2.RandomHorizontalFlip(p={_fmt(s.p_flip)})")
    elif s.do_flip and s.flip_vert:
        steps.append("v2.RandomHorizontalFlip(p=0.5)")
        steps.append("v2.RandomVerticalFlip(p=0.5)")
        notes.append("The dihedral group's 90° turns have no torchvision transform; only flips.")
    if s.max_rotate or s.max_zoom > 1:
        steps.append(
            "v2.RandomApply([v2.RandomAffine(degrees="
            f"{_fmt(s.max_rotate)}, scale=(1.0, {_fmt(s.max_zoom)}))], p={_fmt(s.p_affine)})"
        )
    if s.max_warp or s.max_perspective:
        m = max(s.max_warp, s.max_perspective) / 2  # corners move up to m·(side/2) in torchvision
        steps.append(f"v2.RandomPerspective(distortion_scale={_fmt(m)}, p={_fmt(s.p_affine)})")
        notes.append(
            "RandomPerspective moves corners independently (perspective_warp), not symmetrically."
        )
    if s.padding_mode != "zeros":
        notes.append(
            f"RandomAffine and RandomPerspective fill with a constant: no '{s.padding_mode}' padding."
        )
    if s.max_lighting:
        steps.append(
            f"v2.RandomApply([v2.ColorJitter(brightness={_fmt(s.max_lighting)},"
            f" contrast={_fmt(s.max_lighting)})], p={_fmt(s.p_lighting)})"
        )
    steps.append("v2.ToDtype(torch.float32, scale=True)")
    if s.cutout_holes:
        area = _fmt(s.cutout_size**2)
        steps.append(
            f"v2.RandomErasing(p={_fmt(s.p_cutout)}, scale=({area}, {area}), ratio=(1, 1), value=0)"
        )
        if s.cutout_holes > 1:
            notes.append("RandomErasing cuts one hole, not several.")
    missing = [
        name
        for name, on in (
            ("squish", s.max_squish > 1),
            ("tilt", s.max_tilt > 0),
            ("skew", s.max_skew > 0),
            ("jitter", s.max_jitter > 0),
            ("rgb_randomize", s.max_rgb > 0),
            ("extra brightness/contrast", s.max_brightness > 0 or s.max_contrast > 0),
            ("zoom focus", s.zoom_row is not None or s.zoom_col is not None),
        )
        if on
    ]
    if missing:
        notes.append("No torchvision equivalent for: " + ", ".join(missing) + ".")
    body = "".join(f"    {step},\n" for step in steps)
    code = f"import torch\nfrom torchvision.transforms import v2\n\ntfms = v2.Compose([\n{body}])\n"
    return code, notes


# ---------------------------------------------------------------------------------------------
# Helpers for showing results
# ---------------------------------------------------------------------------------------------


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


def tile_mosaic(tiles: Tensor, ncols: int = 3, gap: int = 4, fill: float = 1.0) -> Tensor:
    """Lay n tiles out in rows of `ncols` with `gap` pixels of `fill` between them (like plot_multi).

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
