"""What a drawn tile and a set of controls mean to a person: every value drawn for one sample as
(name, value, changed) rows in application order, and which settings currently change nothing.

Pure functions of `AugParams` and setting values; a page shows them (hover rows, disabled widgets).
"""

from __future__ import annotations

from typing import Any

from explorer.augment.geometry import CORNER_NAMES, EDGE_NAMES, SKEW_PULLS
from explorer.augment.params import DIHEDRAL_NAMES, AugParams

CORNER_SHORT = tuple("".join(w[0] for w in n.split("-")) for n in CORNER_NAMES)  # tl, bl, ...


def _signed(values: list[float], digits: int = 3) -> str:
    return "[" + ", ".join(f"{v:+.{digits}f}" for v in values) + "]"


def tile_rows(params: AugParams, i: int) -> list[tuple[str, str, bool]]:
    """Every value drawn for sample i, as (name, value text, changed) rows in application order.

    `changed` is False where the value leaves the picture as it was (the identity of that
    transform), so a display can grey those rows out while still showing them.
    """
    v: dict[str, Any] = params.values(i)
    holes = [c for c, on in zip(v["cutout"], v["cutout_on"], strict=True) if on]
    moved = any(any(c) for c in v["perspective"])
    perspective = (
        " ".join(
            f"{n} {_signed(c, 2)}" for n, c in zip(CORNER_SHORT, v["perspective"], strict=True)
        )
        if moved
        else "0 at every corner"
    )
    cropped = v["crop_row"] != 0.5 or v["crop_col"] != 0.5 or v["win_w"] != 1 or v["win_h"] != 1
    return [
        ("flip ↔", "yes" if v["flip"] else "no", bool(v["flip"])),
        ("dihedral", f"{v['dihedral']} · {DIHEDRAL_NAMES[v['dihedral']]}", v["dihedral"] != 0),
        ("rotate", f"{v['angle']:+.2f}°", v["angle"] != 0),
        (
            "zoom",
            f"×{v['zoom']:.3f} at {v['zoom_row']:.3f}, {v['zoom_col']:.3f}",
            v["zoom"] != 1,
        ),
        ("squish", f"{v['squish']:.3f}", v["squish"] != 1),
        ("warp", _signed(v["warp"]), any(v["warp"])),
        ("perspective", perspective, moved),
        ("tilt", f"{v['tilt']:+.3f} · {EDGE_NAMES[v['tilt_dir']]} edge", v["tilt"] != 0),
        ("skew", f"{v['skew']:+.3f} · {SKEW_PULLS[v['skew_dir']]}", v["skew"] != 0),
        (
            "crop",
            f"{v['crop_row']:.3f}, {v['crop_col']:.3f} · {v['win_w']:.3f}×{v['win_h']:.3f}",
            cropped,
        ),
        ("pad", f"{v['pad']:.0f} px", v["pad"] != 0),
        ("brightness", f"{v['brightness']:.3f}", v["brightness"] != 0.5),
        ("contrast", f"×{v['contrast']:.3f}", v["contrast"] != 1),
        ("jitter", f"{v['jitter']:.4f}", v["jitter"] != 0),
        (
            "rgb",
            f"{'RGB'[v['rgb_channel']]} noise ≤ {v['rgb']:.3f}" if v["rgb_on"] else "off",
            bool(v["rgb_on"]),
        ),
        (
            "cutout",
            f"{len(holes)} × {v['cutout_size']:.2f} at "
            + "; ".join(f"{r:.2f}, {c:.2f}" for r, c in holes)
            if holes
            else "off",
            bool(holes),
        ),
    ]


ROW_HELP = (  # how to read tile_rows, for a legend next to them
    "zoom ×z at its focus (row, col); warp moves the right, left, bottom, top edge; crop: window "
    "at (row, col) · its width×height; grey rows left the photo as it was."
)


def inert_controls(v: dict[str, object], photo_square: bool) -> dict[str, str]:
    """The settings that change nothing for values `v`, each with why: a page draws them disabled.

    Args:
        v: AugSettings field values by name, plus `zoom_random` (True: the zoom focus is drawn).
        photo_square: whether the photo is square (a square photo leaves the crop no room).

    Only a probability or a detail is ever named, never the magnitude that switches it on, so no
    setting can lock another. What `draw` ignores decides it: see its `torch.where`s.
    """
    out: dict[str, str] = {}

    def off(names: tuple[str, ...], when: bool, why: str) -> None:
        if when:
            out.update({n: why for n in names if n not in out})

    off(("flip_vert", "p_flip", "p_dihedral"), not v["do_flip"], "Turn on flip first.")
    off(("p_dihedral",), not v["flip_vert"], "Only with vertical flips too.")
    off(("p_flip",), bool(v["flip_vert"]), "With vertical flips, p(dihedral) decides.")
    no_zoom = v["max_zoom"] == 1 and v.get("min_zoom", 1.0) == 1
    geometry = v["max_rotate"] == 0 and no_zoom and v["max_warp"] == 0
    off(("p_affine",), geometry, "Rotate, zoom and warp are all off.")
    focus = ("zoom_random", "zoom_row", "zoom_col")
    off(focus, no_zoom or v["p_affine"] == 0, "There is no zoom to focus.")
    off(("zoom_row", "zoom_col"), bool(v["zoom_random"]), "The focus is random.")
    for p, m, zero in (
        ("p_squish", "max_squish", 1.0),
        ("p_perspective", "max_perspective", 0.0),
        ("p_tilt", "max_tilt", 0.0),
        ("p_skew", "max_skew", 0.0),
        ("p_jitter", "max_jitter", 0.0),
        ("p_lighting", "max_lighting", 0.0),
        ("p_brightness", "max_brightness", 0.0),
        ("p_contrast", "max_contrast", 0.0),
        ("p_pad", "pad", 0),
        ("p_rgb", "max_rgb", 0.0),
    ):
        off((p,), v[m] == zero, f"{m} is off.")
    off(("resize_crop_ratio", "p_resize_crop"), v["max_resize_crop"] == 1, "The zoom is 1 (off).")
    off(("cutout_size", "p_cutout"), v["cutout_holes"] == 0, "There are no holes.")
    off(("rand_crop",), photo_square, "The photo is square: the crop has nowhere to move.")
    return out
