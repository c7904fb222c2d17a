"""Magnitude series (fastai docs' list of transforms): each strip shows one transform only, from
weak to strong, measured on the output; and the torchvision export of the same settings."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from explorer import augment as A
from tests.test_augment import TOL, _everything, _img
from tests.test_augment_geometry import DIHEDRAL_ORACLES


@pytest.mark.parametrize("name", list(A.SERIES))
def test_magnitude_series_changes_with_magnitude(name):
    params, labels = A.magnitude_series(name)
    assert params.n == len(labels) == 5
    img = _img(h=16, w=20)
    out = A.apply(img, params, 12, "zeros")
    diffs = [(out[i] - out[0]).abs().mean().item() for i in range(5)]
    assert max(diffs) > 0.01


def _smooth_picture(h: int, w: int) -> torch.Tensor:
    """Slowly varying colours, none 0: moving it further changes it more (noise would saturate)."""
    yy, xx = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    return torch.stack([(xx / 6).sin(), (yy / 5).cos(), ((xx + yy) / 7).sin()]) * 0.3 + 0.5


@pytest.mark.parametrize("name", [n for n in A.SERIES if n != "dihedral"])
def test_each_series_step_is_stronger_than_the_last(name):
    """Measured on the output: the step with the identity magnitude reproduces the picture, and
    each step further from it (on either side) changes the picture more than the one before."""
    params, _ = A.magnitude_series(name)
    img = _smooth_picture(24, 32)
    out = A.apply(img, params, 16, "zeros")
    unchanged = A.apply(img, A.AugParams.identity(1), 16, "zeros")[0]
    if name == "rgb_randomize":  # level 0 is off; then red becomes noise with mean level / 2
        torch.testing.assert_close(out[0], unchanged, **TOL)
        red = torch.stack([o[0].mean() for o in out[1:]]).double()
        assert bool((red[1:] > red[:-1]).all())
        levels = torch.tensor(A.SERIES[name][0][1:], dtype=torch.float64)
        torch.testing.assert_close(red, levels / 2, atol=0.03, rtol=0)
        return
    if name == "cutout":  # the holes of each tile, and more: the zeroed area grows
        measure = [(o == 0).all(0).double().mean().item() for o in out]
        assert measure[0] == 0 and all(b > a for a, b in zip(measure, measure[1:], strict=False))
        return
    dist = [(o - unchanged).abs().mean().item() for o in out]
    i0 = min(range(5), key=dist.__getitem__)
    assert dist[i0] < 1e-5  # the identity magnitude is in the series and changes nothing
    for side in (dist[i0:], dist[i0::-1]):
        assert all(b > a + 1e-3 for a, b in zip(side, side[1:], strict=False)), (name, dist)


def test_dihedral_series_shows_the_named_cases():
    params, labels = A.magnitude_series("dihedral")
    img = _img(h=12, w=12)
    out = A.apply(img, params, 12, "zeros")
    for tile, case, label in zip(out, A.SERIES["dihedral"][0], labels, strict=True):
        torch.testing.assert_close(tile, DIHEDRAL_ORACLES[int(case)](img), **TOL)
        assert label == A.DIHEDRAL_NAMES[int(case)]


def test_torchvision_export_builds_a_working_pipeline_and_names_gaps():
    code, notes = A.torchvision_code(replace(_everything(), size=16))
    ns: dict = {}
    exec(compile(code, "export", "exec"), ns)
    img = torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8)
    out = ns["transform"](img)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    assert any("tilt" in n and "skew" in n for n in notes)
    assert any("reflection" in n for n in notes)
