"""Augmentation settings: every knob of fastai v1's transforms, validated field by field.

One table (FIELD_LIMITS) says what each field accepts; the constructor and `from_dict` (settings
files, URLs: untrusted input) both check against it and raise a SettingsError naming the field.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from explorer.errors import UserError
from explorer.padding import PADDING_MODES

MAX_CUTOUT_HOLES = 8  # draws always reserve this many holes so a slider never reshuffles the others


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
    "min_zoom": Limit(float, 0.1, 1.0, why="below 1 the picture shrinks inside the tile"),
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
    "cutout_size_min": Limit(
        float, 0.0, 1.0, lo_open=True, optional=True, why="a fraction of the tile's side, or null"
    ),
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
    number: Any = value  # an Integral or a Real, as checked just above
    v = int(number) if lim.kind is int else float(number)
    if not math.isfinite(v):
        raise SettingsError(f"{name} must be a finite number, not {value!r}.", name)
    if not lim.inside(v):
        why = f": {lim.why}" if lim.why else ""
        where = lim.interval()
        where = f"lie in {where}" if where[0] in "[(" else f"be {where}"
        raise SettingsError(f"{name} must {where}, not {value!r}{why}.", name)
    return v


@dataclass(frozen=True)
class AugSettings:
    """Every augmentation knob: fastai v1's `get_transforms` fields, then its other transforms.

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
    min_zoom: float = 1.0  # zoom uniform in [min_zoom, max_zoom]: below 1 zooms out (zoom_crop)
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
    cutout_size_min: float | None = None  # side uniform in [this, cutout_size] (None = fixed)
    p_cutout: float = 1.0
    max_rgb: float = 0.0  # rgb_randomize: one channel replaced by noise up to a random level ≤ m
    p_rgb: float = 1.0

    def __post_init__(self) -> None:
        # every field checked against FIELD_LIMITS and stored as its canonical type (20 -> 20.0),
        # so equal settings hash equally whatever produced them
        for f in fields(self):
            object.__setattr__(self, f.name, check_setting(f.name, getattr(self, f.name)))
        if self.cutout_size_min is not None and self.cutout_size_min > self.cutout_size:
            raise SettingsError(
                f"cutout_size_min ({self.cutout_size_min:g}) must not exceed cutout_size"
                f" ({self.cutout_size:g}), the largest hole.",
                "cutout_size_min",
            )

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

    def differences(self, other: AugSettings) -> list[tuple[str, Any, Any]]:
        """(field, this value, other value) for every field that differs, in field order."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [(k, v, theirs[k]) for k, v in mine.items() if theirs[k] != v]

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
