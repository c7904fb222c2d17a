"""export: the code for other libraries runs and says the same as the settings.

fastai is not installed (v1 needs an old torch), so its code runs against stand-ins with the real
signatures of fastai's functions (copied from fastai v1 `vision/transform.py` and v2
`vision/augment.py`): a wrong argument name fails like it would in fastai, and every value the code
passes is compared with the settings.
"""

from __future__ import annotations

import inspect
import sys
import types
from dataclasses import dataclass, field, replace

import pytest
import torch

from explorer import augment as A


@dataclass
class Tfm:
    """One recorded call: the function's name and its bound arguments."""

    name: str
    args: dict = field(default_factory=dict)


def _recording(calls: list[Tfm], fn):
    """A stand-in with `fn`'s exact signature that records its arguments and returns a Tfm."""
    sig = inspect.signature(fn)

    def stand_in(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)  # TypeError for any argument fastai does not take
        bound.apply_defaults()
        t = Tfm(fn.__name__, dict(bound.arguments))
        calls.append(t)
        return RETURNS[fn.__name__](t) if fn.__name__ in RETURNS else t

    stand_in.__name__ = fn.__name__
    return stand_in


# fastai v1 signatures (p is every RandTransform's probability)
def get_transforms(
    do_flip=True,
    flip_vert=False,
    max_rotate=10.0,
    max_zoom=1.1,
    max_lighting=0.2,
    max_warp=0.2,
    p_affine=0.75,
    p_lighting=0.75,
    xtra_tfms=None,
): ...
def brightness(change, p=1.0): ...
def contrast(scale, p=1.0): ...
def zoom(scale=1.0, row_pct=0.5, col_pct=0.5, p=1.0): ...
def rand_zoom(scale=1.0, p=1.0): ...  # zoom(*args, row_pct=(0, 1), col_pct=(0, 1), **kwargs)
def squish(scale=1.0, row_pct=0.5, col_pct=0.5, p=1.0): ...
def perspective_warp(magnitude=0, invert=False, p=1.0): ...
def tilt(direction, magnitude=0, invert=False, p=1.0): ...
def skew(direction, magnitude=0, invert=False, p=1.0): ...
def jitter(magnitude, p=1.0): ...
def pad(padding, mode="reflection", p=1.0): ...
def cutout(n_holes=1, length=40, p=1.0): ...
def rgb_randomize(channel=None, thresh=0.3, p=1.0): ...
def crop_pad(size=None, padding_mode="reflection", row_pct=0.5, col_pct=0.5, p=1.0): ...
def rand_resize_crop(size, max_scale=2.0, ratios=(0.75, 1.33)): ...


# fastai v2 signatures
def aug_transforms(
    mult=1.0,
    do_flip=True,
    flip_vert=False,
    max_rotate=10.0,
    min_zoom=1.0,
    max_zoom=1.1,
    max_lighting=0.2,
    max_warp=0.2,
    p_affine=0.75,
    p_lighting=0.75,
    xtra_tfms=None,
    size=None,
    mode="bilinear",
    pad_mode="reflection",
    align_corners=True,
    batch=False,
    min_scale=1.0,
): ...
def Resize(size, method="crop", pad_mode="reflection", resamples=(2, 0)): ...  # noqa: N802
def RandomResizedCrop(
    size,
    min_scale=0.08,
    ratio=(3 / 4, 4 / 3),
    resamples=(2, 0),  # noqa: N802
    val_xtra=0.14,
    max_scale=1.0,
): ...
def Brightness(max_lighting=0.2, p=0.75, draw=None, batch=False): ...  # noqa: N802
def Contrast(max_lighting=0.2, p=0.75, draw=None, batch=False): ...  # noqa: N802
def RandomErasing(p=0.5, sl=0.0, sh=0.3, min_aspect=0.3, max_count=1): ...  # noqa: N802
def from_name_re(path, fnames, pat, bs=64, item_tfms=None, batch_tfms=None): ...


def _v1_get_transforms(t: Tfm):
    """Like fastai: (train tfms = rand_crop, its own transforms, xtra_tfms; valid = [crop_pad])."""
    return [Tfm("rand_crop"), t, *(t.args["xtra_tfms"] or [])], [Tfm("crop_pad")]


RETURNS = {"get_transforms": _v1_get_transforms, "rand_resize_crop": lambda t: [t]}


def _run(code: str, module: str, fns: list, monkeypatch) -> tuple[dict, list[Tfm]]:
    calls: list[Tfm] = []
    mod = types.ModuleType(module)
    for fn in fns:
        setattr(mod, fn.__name__, _recording(calls, fn))
    mod.__all__ = [fn.__name__ for fn in fns]
    if hasattr(mod, "from_name_re"):  # v2: ImageDataLoaders.from_name_re
        mod.ImageDataLoaders = types.SimpleNamespace(from_name_re=mod.from_name_re)
        mod.__all__.append("ImageDataLoaders")
    monkeypatch.setitem(sys.modules, "fastai", types.ModuleType("fastai"))
    monkeypatch.setitem(sys.modules, module.rsplit(".", 1)[0], types.ModuleType("fastai.vision"))
    monkeypatch.setitem(sys.modules, module, mod)

    class ItemLists:  # the user's labelled data: v1's src
        def transform(self, tfms=(None, None), size=None, padding_mode="reflection"):
            calls.append(
                Tfm("src.transform", dict(tfms=tfms, size=size, padding_mode=padding_mode))
            )

    ns: dict = {"src": ItemLists(), "path": "images", "fnames": ["a_1.jpg"]}
    exec(compile(code, "export", "exec"), ns)
    return ns, calls


V1 = [
    get_transforms,
    brightness,
    contrast,
    zoom,
    rand_zoom,
    squish,
    perspective_warp,
    tilt,
    skew,
    jitter,
    pad,
    cutout,
    rgb_randomize,
    crop_pad,
    rand_resize_crop,
]
V2 = [aug_transforms, Resize, RandomResizedCrop, Brightness, Contrast, RandomErasing, from_name_re]


def _everything() -> A.AugSettings:
    return A.AugSettings.lesson(
        max_squish=1.4,
        max_perspective=0.2,
        max_tilt=0.2,
        max_skew=0.3,
        max_jitter=0.01,
        pad=3,
        cutout_holes=2,
        max_rgb=0.4,
        max_brightness=0.2,
        max_contrast=0.3,
        p_tilt=0.6,
        p_skew=0.7,
        zoom_row=0.25,
        zoom_col=0.75,
        padding_mode="border",
        size=96,
    )


V1_CASES = {
    "lesson": A.AugSettings.lesson(),
    "defaults": A.AugSettings(),
    "everything": _everything(),
    "resize_crop": A.AugSettings.lesson(max_resize_crop=2.5, resize_crop_ratio=1.25, size=64),
    "centre_crop": A.AugSettings.lesson(rand_crop=False, flip_vert=True),
    "zoom_out_cutout_range": A.AugSettings.lesson(
        min_zoom=0.75, cutout_holes=2, cutout_size=0.3, cutout_size_min=0.1, size=50
    ),
}
approx = pytest.approx


def _by_name(calls: list[Tfm]) -> dict[str, Tfm]:
    return {c.name: c for c in calls}


@pytest.mark.parametrize("case", list(V1_CASES))
def test_fastai_v1_code_runs_against_fastai_signatures_with_the_settings(case, monkeypatch):
    s = V1_CASES[case]
    code, notes = A.export(s, "fastai_v1")
    assert (code, notes) == A.fastai_v1_code(s)
    ns, calls = _run(code, "fastai.vision", V1, monkeypatch)
    got = _by_name(calls)
    gt = got["get_transforms"].args
    focus = s.zoom_row is not None or s.zoom_col is not None
    assert gt["do_flip"] is s.do_flip and gt["flip_vert"] is s.flip_vert
    assert (gt["max_rotate"], gt["max_lighting"], gt["max_warp"]) == approx(
        (s.max_rotate, s.max_lighting, s.max_warp), rel=1e-3
    )
    assert (gt["p_affine"], gt["p_lighting"]) == approx((s.p_affine, s.p_lighting))
    # a fixed zoom focus needs fastai's zoom(...) in xtra_tfms instead of get_transforms' rand_zoom
    # and so does a zoom out (get_transforms only zooms in): rand_zoom, as in fastai's zoom_crop
    assert gt["max_zoom"] == approx(1.0 if focus or s.min_zoom < 1 else s.max_zoom, rel=1e-3)
    src = got["src.transform"].args
    assert src["size"] == s.size and src["padding_mode"] == s.padding_mode
    train = src["tfms"][0]
    if s.max_resize_crop > 1:
        rrc = got["rand_resize_crop"].args
        assert train[-1] is got["rand_resize_crop"] and train[0].name != "rand_crop"
        assert rrc["size"] == s.size and rrc["max_scale"] == approx(s.max_resize_crop, rel=1e-3)
        r = s.resize_crop_ratio
        assert rrc["ratios"] == approx((1 / r, r), rel=1e-3)
    elif s.rand_crop:
        assert train[0].name == "rand_crop"
    else:
        assert train[0] is got["crop_pad"]
    xtra = {t.name: t.args for t in gt["xtra_tfms"]}
    expected_xtra = {
        "zoom": focus,
        "rand_zoom": not focus and s.min_zoom < 1,
        "brightness": s.max_brightness > 0,
        "contrast": s.max_contrast > 0,
        "squish": s.max_squish > 1,
        "perspective_warp": s.max_perspective > 0,
        "tilt": s.max_tilt > 0,
        "skew": s.max_skew > 0,
        "jitter": s.max_jitter > 0,
        "pad": s.pad > 0,
        "cutout": s.cutout_holes > 0,
        "rgb_randomize": s.max_rgb > 0,
    }
    assert set(xtra) == {k for k, on in expected_xtra.items() if on}
    if case == "everything":
        _check_v1_xtra(s, xtra)
    if case == "zoom_out_cutout_range":
        assert xtra["rand_zoom"] == {"scale": approx((0.75, 1.3)), "p": approx(s.p_affine)}
        assert xtra["cutout"]["length"] == (5, 15)  # 0.1 and 0.3 of 50 pixels
    compile(code, "export", "exec")


def _check_v1_xtra(s: A.AugSettings, xtra: dict[str, dict]) -> None:
    """Each extra transform's arguments, from fastai's definitions of the ranges."""
    b, c = s.max_brightness, s.max_contrast
    assert xtra["brightness"] == {
        "change": approx((0.5 * (1 - b), 0.5 * (1 + b)), rel=1e-3),
        "p": approx(s.p_brightness),
    }
    assert xtra["contrast"] == {
        "scale": approx((1 - c, 1 / (1 - c)), rel=1e-3),
        "p": approx(s.p_contrast),
    }
    assert xtra["zoom"]["scale"] == approx((1.0, s.max_zoom), rel=1e-3)
    assert (xtra["zoom"]["row_pct"], xtra["zoom"]["col_pct"]) == approx((s.zoom_row, s.zoom_col))
    assert xtra["squish"]["scale"] == approx((1 / s.max_squish, s.max_squish), rel=1e-3)
    assert xtra["tilt"]["direction"] == (0, 3) and xtra["skew"]["direction"] == (0, 7)
    assert xtra["tilt"]["magnitude"] == approx((-s.max_tilt, s.max_tilt), rel=1e-3)
    assert xtra["skew"]["magnitude"] == approx((-s.max_skew, s.max_skew), rel=1e-3)
    assert (xtra["tilt"]["p"], xtra["skew"]["p"]) == approx((s.p_tilt, s.p_skew))
    assert xtra["perspective_warp"]["magnitude"] == approx((-0.2, 0.2))
    assert xtra["jitter"]["magnitude"] == approx((-s.max_jitter, s.max_jitter), rel=1e-3)
    assert xtra["pad"]["padding"] == s.pad and xtra["pad"]["mode"] == s.padding_mode
    side = round(s.cutout_size * s.size)
    assert xtra["cutout"]["n_holes"] == (1, s.cutout_holes)
    assert xtra["cutout"]["length"] == (side, side)
    assert xtra["rgb_randomize"]["thresh"] == approx(s.max_rgb)


V2_KEYS = ("lesson", "defaults", "resize_crop", "centre_crop", "zoom_out_cutout_range")
V2_CASES = {k: V1_CASES[k] for k in V2_KEYS} | {
    "lighting_and_cutout": A.AugSettings.lesson(
        max_brightness=0.3, p_brightness=0.4, max_contrast=0.2, cutout_holes=3, cutout_size=0.25
    )
}


@pytest.mark.parametrize("case", list(V2_CASES))
def test_fastai_v2_code_runs_against_fastai_signatures_with_the_settings(case, monkeypatch):
    s = V2_CASES[case]
    code, notes = A.export(s, "fastai_v2")
    assert (code, notes) == A.fastai_v2_code(s)
    ns, calls = _run(code, "fastai.vision.all", V2, monkeypatch)
    got = _by_name(calls)
    at = got["aug_transforms"].args
    assert at["do_flip"] is s.do_flip and at["flip_vert"] is s.flip_vert
    assert (at["max_rotate"], at["max_zoom"], at["max_lighting"], at["max_warp"]) == approx(
        (s.max_rotate, s.max_zoom, s.max_lighting, s.max_warp), rel=1e-3
    )
    assert (at["p_affine"], at["p_lighting"], at["min_zoom"]) == approx(
        (s.p_affine, s.p_lighting, s.min_zoom)
    )
    assert at["pad_mode"] == s.padding_mode and at["align_corners"] is True
    dl = got["from_name_re"].args
    assert dl["batch_tfms"] is ns["batch_tfms"] and dl["item_tfms"] is ns["item_tfms"]
    item = ns["item_tfms"]
    if s.max_resize_crop > 1:
        r = s.resize_crop_ratio
        assert item.name == "RandomResizedCrop" and item.args["size"] == s.size
        assert item.args["min_scale"] == approx(1 / s.max_resize_crop, rel=1e-3)
        assert item.args["ratio"] == approx((1 / r, r), rel=1e-3)
    elif s.rand_crop:
        assert item.name == "RandomResizedCrop" and item.args["min_scale"] == 1.0
    else:
        assert item.name == "Resize" and item.args == {
            **item.args,
            "size": s.size,
            "method": "crop",
        }
    xtra = {t.name: t.args for t in at["xtra_tfms"]}
    if case == "lighting_and_cutout":
        assert xtra["Brightness"]["max_lighting"] == approx(0.3)
        assert xtra["Brightness"]["p"] == approx(0.4)
        assert xtra["Contrast"]["max_lighting"] == approx(0.2)
        assert xtra["RandomErasing"]["max_count"] == 3
        assert xtra["RandomErasing"]["sl"] == xtra["RandomErasing"]["sh"] == approx(0.0625)
    elif case == "zoom_out_cutout_range":  # area fractions: sides 0.1 .. 0.3
        assert (xtra["RandomErasing"]["sl"], xtra["RandomErasing"]["sh"]) == approx((0.01, 0.09))
    else:
        assert xtra == {}


@pytest.mark.parametrize("fn", [A.fastai_v1_code, A.fastai_v2_code])
def test_fastai_exports_are_valid_python_with_the_settings(fn):
    code, notes = fn(A.AugSettings.lesson(max_tilt=0.2))
    compile(code, "export", "exec")
    assert "max_rotate=20" in code and "max_warp=0.4" in code
    assert isinstance(notes, list)


def test_fastai_v2_notes_name_what_it_lacks():
    _, notes = A.fastai_v2_code(_everything())
    missing = next(n for n in notes if n.startswith("No fastai v2 equivalent"))
    for name in ("squish", "perspective_warp", "tilt", "skew", "jitter", "pad", "rgb_randomize"):
        assert name in missing


def test_torchvision_export_with_border_padding_names_it():
    code, notes = A.torchvision_code(replace(_everything(), size=16))
    ns: dict = {}
    exec(compile(code, "export", "exec"), ns)
    img = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    out = ns["transform"](img)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    assert any("tilt" in n and "skew" in n for n in notes)
    assert any("border" in n for n in notes)


def test_export_refuses_an_unknown_target():
    with pytest.raises(ValueError, match="fastai_v1"):
        A.export(A.AugSettings(), "keras")


def test_fastai_notes_say_when_the_flip_probability_differs():
    for fn in (A.fastai_v1_code, A.fastai_v2_code):
        assert not any("p=0.5" in n for n in fn(A.AugSettings(p_flip=0.5))[1])
        assert any("p=0.5" in n for n in fn(A.AugSettings(p_flip=0.9))[1])
    # a dihedral case is drawn always in v1 (p=1), half the time in v2; ours defaults to 1
    s = A.AugSettings(flip_vert=True)
    assert not any("dihedral" in n for n in A.fastai_v1_code(s)[1])
    assert any("dihedral" in n for n in A.fastai_v2_code(s)[1])
    assert any("dihedral" in n for n in A.fastai_v1_code(replace(s, p_dihedral=0.5))[1])
