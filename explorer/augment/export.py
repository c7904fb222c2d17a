"""Export: the same settings as code for other libraries, with notes on what has no equivalent.

`export(settings, target)` is the one entry point; each target's code defines `transform` (fastai:
its tfms lists). fastai v1 expresses every transform here; the others get the nearest pipeline and
a note per difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from explorer.augment.settings import AugSettings
from explorer.padding import PAD_MODE


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _lighting_range(m: float) -> tuple[str, str]:
    return (
        f"({_fmt(0.5 * (1 - m))}, {_fmt(0.5 * (1 + m))})",
        f"({_fmt(1 - m)}, {_fmt(1 / (1 - m))})",
    )


def _distortion_scale(s: AugSettings) -> float:
    """torchvision's/kornia's RandomPerspective distortion_scale for the strongest warp.

    They move each corner inwards by up to distortion_scale · (side / 2) pixels; ours move each
    corner coordinate by up to ±m grid units, i.e. m · (side / 2) pixels: the same maximum.
    """
    return max(s.max_warp, s.max_perspective)


def _missing(library: str, names: dict[str, bool]) -> list[str]:
    """One note naming the transforms that are on but have no `library` equivalent."""
    off = [name for name, on in names.items() if on]
    return [f"No {library} equivalent for: {', '.join(off)}."] if off else []


def _cutout_sides(s: AugSettings) -> tuple[float, float]:
    """The smallest and largest cutout hole side, as fractions of the tile."""
    lo = s.cutout_size if s.cutout_size_min is None else s.cutout_size_min
    return lo, s.cutout_size


def _v1_xtra(s: AugSettings, notes: list[str]) -> tuple[list[str], float]:
    """fastai v1's xtra_tfms for the transforms beyond get_transforms, and the max_zoom to pass
    get_transforms (1 when a fixed zoom focus or a zoom-out moves the zoom into xtra_tfms)."""
    xtra: list[str] = []
    max_zoom = s.max_zoom
    scale = f"scale=({_fmt(s.min_zoom)}, {_fmt(s.max_zoom)})"
    if s.zoom_row is not None or s.zoom_col is not None:
        row = 0.5 if s.zoom_row is None else s.zoom_row
        col = 0.5 if s.zoom_col is None else s.zoom_col
        xtra.append(
            f"zoom({scale}, row_pct={_fmt(row)}, col_pct={_fmt(col)}, p={_fmt(s.p_affine)})"
        )
        max_zoom = 1.0
        if s.zoom_row is None or s.zoom_col is None:
            notes.append("fastai cannot fix one zoom coordinate and draw the other: both fixed.")
    elif s.min_zoom < 1:  # get_transforms only zooms in: rand_zoom (zoom_crop's zoom) instead
        xtra.append(f"rand_zoom({scale}, p={_fmt(s.p_affine)})")
        max_zoom = 1.0
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
        lo, hi = (max(1, round(side * s.size)) for side in _cutout_sides(s))
        xtra.append(
            f"cutout(n_holes=(1, {s.cutout_holes}), length=({lo}, {hi}), p={_fmt(s.p_cutout)})"
        )
    if s.max_rgb:
        xtra.append(f"rgb_randomize(thresh={_fmt(s.max_rgb)}, p={_fmt(s.p_rgb)})")
        notes.append("fastai's rgb_randomize never picks the blue channel; this app picks any.")
    return xtra, max_zoom


def fastai_v1_code(s: AugSettings) -> tuple[str, list[str]]:
    """fastai v1 code for these settings, and notes on what it cannot express exactly.

    Returns:
        (python source, notes).
    """
    notes: list[str] = []
    xtra, max_zoom = _v1_xtra(s, notes)
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
    if s.p_dihedral != 1 and s.do_flip and s.flip_vert:
        notes.append("fastai's get_transforms always draws a dihedral case (p=1).")
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
        lo, hi = (_fmt(side**2) for side in _cutout_sides(s))
        xtra.append(
            f"RandomErasing(p={_fmt(s.p_cutout)}, sl={lo}, sh={hi}, max_count={s.cutout_holes})"
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
    if s.do_flip and (s.p_dihedral != 0.5 if s.flip_vert else s.p_flip != 0.5):
        notes.append("aug_transforms flips (or draws a dihedral case) with p=0.5.")
    code = "\n".join(
        [
            "from fastai.vision.all import *",
            "",
            "batch_tfms = aug_transforms(",
            f"    do_flip={s.do_flip}, flip_vert={s.flip_vert}, max_rotate={_fmt(s.max_rotate)},",
            f"    min_zoom={_fmt(s.min_zoom)}, max_zoom={_fmt(s.max_zoom)},"
            f" max_lighting={_fmt(s.max_lighting)},",
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

    The code defines `transform`, a v2.Compose taking a uint8 (3,H,W) tensor or PIL image and
    returning a float (3, size, size) tensor in [0, 1].
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
        if s.p_resize_crop < 1:
            notes.append("RandomResizedCrop always runs: p_resize_crop has no equivalent there.")
    else:
        steps.append(f"v2.Resize({s.size}, antialias=True)")
        if s.rand_crop or s.pad:
            mode = "edge" if s.padding_mode == "border" else PAD_MODE[s.padding_mode]
            steps.append(f"v2.RandomCrop({s.size}, padding={s.pad or None}, padding_mode='{mode}')")
        else:
            steps.append(f"v2.CenterCrop({s.size})")
    if s.do_flip and not s.flip_vert:
        steps.append(f"v2.RandomHorizontalFlip(p={_fmt(s.p_flip)})")
    elif s.do_flip and s.flip_vert:
        steps.append("v2.RandomHorizontalFlip(p=0.5)")
        steps.append("v2.RandomVerticalFlip(p=0.5)")
        notes.append("The dihedral group's 90° turns have no torchvision transform; only flips.")
    if s.max_rotate or s.max_zoom != s.min_zoom:
        steps.append(
            f"v2.RandomApply([v2.RandomAffine(degrees={_fmt(s.max_rotate)},"
            f" scale=({_fmt(s.min_zoom)}, {_fmt(s.max_zoom)}))], p={_fmt(s.p_affine)})"
        )
    if s.max_warp or s.max_perspective:
        d = _fmt(_distortion_scale(s))
        steps.append(f"v2.RandomPerspective(distortion_scale={d}, p={_fmt(s.p_affine)})")
        notes.append(
            "RandomPerspective moves corners independently (perspective_warp), not symmetrically."
        )
    if s.padding_mode != "zeros":
        notes.append(
            "RandomAffine and RandomPerspective fill with a constant:"
            f" no '{s.padding_mode}' padding."
        )
    if s.max_lighting:
        steps.append(
            f"v2.RandomApply([v2.ColorJitter(brightness={_fmt(s.max_lighting)},"
            f" contrast={_fmt(s.max_lighting)})], p={_fmt(s.p_lighting)})"
        )
    steps.append("v2.ToDtype(torch.float32, scale=True)")
    if s.cutout_holes:
        lo, hi = (_fmt(side**2) for side in _cutout_sides(s))
        steps.append(
            f"v2.RandomErasing(p={_fmt(s.p_cutout)}, scale=({lo}, {hi}), ratio=(1, 1), value=0)"
        )
        if s.cutout_holes > 1:
            notes.append("RandomErasing cuts one hole, not several.")
    notes += _missing(
        "torchvision",
        {
            "squish": s.max_squish > 1,
            "tilt": s.max_tilt > 0,
            "skew": s.max_skew > 0,
            "jitter": s.max_jitter > 0,
            "rgb_randomize": s.max_rgb > 0,
            "extra brightness/contrast": s.max_brightness > 0 or s.max_contrast > 0,
            "zoom focus": s.zoom_row is not None or s.zoom_col is not None,
        },
    )
    body = "".join(f"    {step},\n" for step in steps)
    head = "import torch\nfrom torchvision.transforms import v2\n\n"
    code = f"{head}transform = v2.Compose([\n{body}])\n"
    return code, notes


def _resize_crop_notes(s: AugSettings) -> list[str]:
    """What RandomResizedCrop (albumentations, kornia) does differently from rand_resize_crop."""
    notes = ["RandomResizedCrop's scale is a fraction of the whole picture, not its square."]
    if s.p_resize_crop < 1:
        notes.append("RandomResizedCrop always runs: p_resize_crop has no equivalent there.")
    return notes


def _without_equivalent(s: AugSettings) -> dict[str, bool]:
    """The transforms albumentations and kornia lack, and whether each is on."""
    return {
        "squish": s.max_squish > 1,
        "tilt": s.max_tilt > 0,
        "skew": s.max_skew > 0,
        "jitter": s.max_jitter > 0,
        "rgb_randomize": s.max_rgb > 0,
        "zoom focus": s.zoom_row is not None or s.zoom_col is not None,
    }


_CV2_BORDER = {  # grid_sample's padding modes as OpenCV's border modes
    "zeros": "cv2.BORDER_CONSTANT",
    "border": "cv2.BORDER_REPLICATE",
    "reflection": "cv2.BORDER_REFLECT_101",  # mirror about the edge pixel, like F.pad 'reflect'
}
_LINEAR_LIGHTING = (
    "{name} changes brightness (added) and contrast (pixel values multiplied, about black)"
    " linearly, not in logit space about mid-grey; the ranges are this app's (brightness ±m/2,"
    " contrast ×(1-m)..1/(1-m))."
)


def _albumentations_lighting(s: AugSettings) -> list[str]:
    """RandomBrightnessContrast steps for get_transforms' lighting and the extra ones.

    Our brightness b moves mid-grey from 0.5 to b, i.e. by up to ±m/2; contrast scales by a
    factor in [1-m, 1/(1-m)]: the same ranges as albumentations' additive and multiplicative ones.
    """
    steps = []
    for m, p, bright, contrast in (
        (s.max_lighting, s.p_lighting, True, True),
        (s.max_brightness, s.p_brightness, True, False),
        (s.max_contrast, s.p_contrast, False, True),
    ):
        if not m:
            continue
        b = f"(-{_fmt(m / 2)}, {_fmt(m / 2)})" if bright else "(0, 0)"
        c = f"(-{_fmt(m)}, {_fmt(1 / (1 - m) - 1)})" if contrast else "(0, 0)"
        steps.append(
            f"A.RandomBrightnessContrast(brightness_limit={b}, contrast_limit={c}, p={_fmt(p)})"
        )
    return steps


def albumentations_code(s: AugSettings) -> tuple[str, list[str]]:
    """The nearest albumentations pipeline, with the settings it cannot express.

    The code defines `transform`, an `A.Compose`: `transform(image=hwc_uint8)["image"]` is a
    (size, size, 3) uint8 array. albumentations has this app's three padding modes (OpenCV border
    modes) and the dihedral group (SquareSymmetry).
    """
    notes = [
        "albumentations resamples once per geometric step (resize, crop, affine, perspective),"
        " so each step blurs a little more."
    ]
    border, size = _CV2_BORDER[s.padding_mode], s.size
    steps: list[str] = []
    if s.pad:  # before the resize: pad is in the picture's own pixels, as in this app
        steps.append(f"A.Pad(padding={s.pad}, border_mode={border}, p={_fmt(s.p_pad)})")
    if s.max_resize_crop > 1:
        r, lo = _fmt(s.resize_crop_ratio), _fmt(1 / s.max_resize_crop)
        # always (p=1): skipped, it would leave the picture at its own size, not size × size
        steps.append(
            f"A.RandomResizedCrop(size=({size}, {size}), scale=({lo}, 1.0), ratio=(1/{r}, {r}))"
        )
        notes += _resize_crop_notes(s)
    else:
        steps.append(f"A.SmallestMaxSize(max_size={size})")
        crop = "RandomCrop" if s.rand_crop else "CenterCrop"
        steps.append(f"A.{crop}(height={size}, width={size})")
    if s.do_flip and not s.flip_vert:
        steps.append(f"A.HorizontalFlip(p={_fmt(s.p_flip)})")
    elif s.do_flip and s.flip_vert:
        steps.append(f"A.SquareSymmetry(p={_fmt(s.p_dihedral)})")  # the 8 dihedral cases
    if s.max_rotate or s.max_zoom != s.min_zoom:
        steps.append(
            f"A.Affine(rotate=(-{_fmt(s.max_rotate)}, {_fmt(s.max_rotate)}),"
            f" scale=({_fmt(s.min_zoom)}, {_fmt(s.max_zoom)}), border_mode={border},"
            f" p={_fmt(s.p_affine)})"
        )
        if s.max_rotate and s.max_zoom != s.min_zoom:
            notes.append("Affine rotates and zooms on one coin; this app tosses one for each.")
    if s.max_warp or s.max_perspective:
        # corners move inwards by |N(0, σ)| of the side: σ = m·√(π/2)/4 matches our mean move (m/4)
        sigma = _fmt(max(s.max_warp, s.max_perspective) * math.sqrt(math.pi / 2) / 4)
        p = s.p_affine if s.max_warp else s.p_perspective
        steps.append(f"A.Perspective(scale=({sigma}, {sigma}), border_mode={border}, p={_fmt(p)})")
        notes.append(
            "Perspective moves each corner inwards by a normal amount (the same mean move),"
            " independently: symmetric_warp's paired moves have no equivalent."
        )
    lighting = _albumentations_lighting(s)
    if lighting:
        steps += lighting
        notes.append(_LINEAR_LIGHTING.format(name="RandomBrightnessContrast"))
        if s.max_lighting:
            notes.append("RandomBrightnessContrast tosses one coin for both; this app one each.")
    if s.cutout_holes:
        sides = "({}, {})".format(*(_fmt(side) for side in _cutout_sides(s)))
        steps.append(
            f"A.CoarseDropout(num_holes_range=(1, {s.cutout_holes}), hole_height_range={sides},"
            f" hole_width_range={sides}, fill=0, p={_fmt(s.p_cutout)})"
        )
        if s.cutout_size_min is not None:
            notes.append("CoarseDropout draws each hole's height and width apart: not squares.")
    notes += _missing("albumentations", _without_equivalent(s))
    body = "".join(f"    {step},\n" for step in steps)
    code = f"import albumentations as A\nimport cv2\n\ntransform = A.Compose([\n{body}])\n"
    return code, notes


def kornia_code(s: AugSettings) -> tuple[str, list[str]]:
    """The nearest kornia.augmentation pipeline, batched on any device like this app's `Augment`.

    The code defines `transform`, a `K.AugmentationSequential` taking a (B, 3, H, W) float batch
    in [0, 1] and returning (B, 3, size, size), one random draw per image.
    """
    notes = [
        "kornia resamples once per geometric step (resize, crop, affine, perspective),"
        " so each step blurs a little more."
    ]
    mode = s.padding_mode
    steps = _kornia_crop(s, notes)
    if s.do_flip and not s.flip_vert:
        steps.append(f"K.RandomHorizontalFlip(p={_fmt(s.p_flip)})")
    elif s.do_flip and s.flip_vert:
        # a flip half the time, then 0..3 quarter turns (times is rounded): the 8 dihedral cases
        steps.append("K.RandomHorizontalFlip(p=0.5)")
        steps.append(f"K.RandomRotation90(times=(-1.5, 2.5), p={_fmt(s.p_dihedral)})")
        if s.p_dihedral != 1:
            notes.append("The horizontal flip of the dihedral case runs with p=0.5 always.")
    if s.max_rotate or s.max_zoom != s.min_zoom:
        steps.append(
            f"K.RandomAffine(degrees={_fmt(s.max_rotate)},"
            f" scale=({_fmt(s.min_zoom)}, {_fmt(s.max_zoom)}),"
            f" padding_mode='{mode}', align_corners=True, p={_fmt(s.p_affine)})"
        )
        if s.max_rotate and s.max_zoom != s.min_zoom:
            notes.append(
                "RandomAffine rotates and zooms on one coin; this app tosses one for each."
            )
    if s.max_warp or s.max_perspective:
        p = s.p_affine if s.max_warp else s.p_perspective
        steps.append(
            f"K.RandomPerspective(distortion_scale={_fmt(_distortion_scale(s))},"
            f" align_corners=True, p={_fmt(p)})"
        )
        notes.append(
            "RandomPerspective moves each corner inwards, independently (perspective_warp):"
            " symmetric_warp's paired moves have no equivalent."
        )
        if mode != "zeros":
            notes.append(f"RandomPerspective pads with zeros: no '{mode}' padding.")
    steps += _kornia_lighting(s, notes)
    if s.cutout_holes:
        lo, hi = (_fmt(side**2) for side in _cutout_sides(s))
        steps.append(
            f"K.RandomErasing(scale=({lo}, {hi}), ratio=(1.0, 1.0), value=0.0,"
            f" p={_fmt(s.p_cutout)})"
        )
        if s.cutout_holes > 1:
            notes.append("RandomErasing cuts one hole, not several.")
    notes += _missing("kornia", _without_equivalent(s))
    body = "".join(f"    {step},\n" for step in steps)
    code = f"import kornia.augmentation as K\n\ntransform = K.AugmentationSequential(\n{body})\n"
    return code, notes


def _kornia_crop(s: AugSettings, notes: list[str]) -> list[str]:
    """The steps that make the size × size window: resize-crop, or resize and (random) crop."""
    size = s.size
    if s.max_resize_crop > 1:
        r, lo = _fmt(s.resize_crop_ratio), _fmt(1 / s.max_resize_crop)
        notes += _resize_crop_notes(s)
        # always (p=1): skipped, it would leave the picture at its own size, not size × size
        return [f"K.RandomResizedCrop(({size}, {size}), scale=({lo}, 1.0), ratio=(1/{r}, {r}))"]
    steps = [f"K.Resize({size}, side='short', antialias=True)"]
    if s.rand_crop or s.pad:
        pad = f", padding={s.pad}, padding_mode='{PAD_MODE[s.padding_mode]}'" if s.pad else ""
        steps.append(f"K.RandomCrop(({size}, {size}){pad})")
        if s.pad:
            notes.append("kornia pads after the resize: pad counts tile pixels there.")
    else:
        steps.append(f"K.CenterCrop({size})")
    return steps


def _kornia_lighting(s: AugSettings, notes: list[str]) -> list[str]:
    """RandomBrightness / RandomContrast steps (each its own coin, like this app)."""
    steps = []
    for m, p in ((s.max_lighting, s.p_lighting), (s.max_brightness, s.p_brightness)):
        if m:
            lo, hi = _fmt(1 - m / 2), _fmt(1 + m / 2)  # kornia adds factor - 1
            steps.append(f"K.RandomBrightness(brightness=({lo}, {hi}), p={_fmt(p)})")
    for m, p in ((s.max_lighting, s.p_lighting), (s.max_contrast, s.p_contrast)):
        if m:
            steps.append(
                f"K.RandomContrast(contrast=({_fmt(1 - m)}, {_fmt(1 / (1 - m))}), p={_fmt(p)})"
            )
    if steps:
        notes.append(_LINEAR_LIGHTING.format(name="kornia"))
    return steps


Exporter = Callable[[AugSettings], tuple[str, list[str]]]
EXPORTERS: dict[str, Exporter] = {
    "fastai_v1": fastai_v1_code,
    "fastai_v2": fastai_v2_code,
    "torchvision": torchvision_code,
    "albumentations": albumentations_code,
    "kornia": kornia_code,
}
EXPORT_TARGETS = tuple(EXPORTERS)


def export(settings: AugSettings, target: str) -> tuple[str, list[str]]:
    """These settings as `target` code, and notes on what it cannot express exactly.

    Args:
        settings: the augmentation to export.
        target: one of EXPORT_TARGETS.

    Returns:
        (python source defining the pipeline, one sentence per difference from this app).
    """
    if target not in EXPORTERS:
        raise ValueError(f"No export to {target!r}; choose one of {', '.join(EXPORT_TARGETS)}.")
    return EXPORTERS[target](settings)
