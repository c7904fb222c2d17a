"""Lighting transfer curves (ours vs torchvision's ColorJitter) and magnitude sweeps for the
robustness strip: against closed forms and torchvision's own functions."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from explorer import augment as A


@pytest.mark.parametrize("m", [0.2, 0.4, 0.8])
def test_our_curves_are_fastais_closed_forms(m):
    x, curves = A.lighting_curves(m, n=51)
    ours = {(c.kind, round(c.factor, 9)): c.y for c in curves if c.library == "ours"}
    assert len(ours) == 4
    inner = x[1:-1]
    for b in (0.5 * (1 - m), 0.5 * (1 + m)):  # odds multiplied by b / (1 - b)
        y = ours[("brightness", round(b, 9))]
        torch.testing.assert_close(y[1:-1], inner * b / (inner * b + (1 - inner) * (1 - b)))
    for c in (1 - m, 1 / (1 - m)):  # x^c / (x^c + (1-x)^c)
        y = ours[("contrast", round(c, 9))]
        torch.testing.assert_close(y[1:-1], inner**c / (inner**c + (1 - inner) ** c))
    for y in ours.values():  # black and white stay, nothing leaves [0, 1], order is kept
        assert y[0] == 0 and y[-1] == 1 and bool((y[1:] >= y[:-1]).all())


@pytest.mark.parametrize("m", [0.2, 0.4, 0.8])
def test_torchvision_curves_match_colorjitters_functions(m):
    x, curves = A.lighting_curves(m, n=51)
    ramp = x.to(torch.float32).view(1, 1, -1).expand(3, 1, -1)  # grey ramp: mean grey 0.5
    tv = [c for c in curves if c.library == "torchvision"]
    assert sorted(c.factor for c in tv if c.kind == "brightness") == pytest.approx([1 - m, 1 + m])
    for c in tv:
        fn = TF.adjust_brightness if c.kind == "brightness" else TF.adjust_contrast
        expected = fn(ramp, c.factor)[0, 0].double()
        # (torchvision's grey weights sum to 0.9999: its mean grey is 0.49995, not 0.5)
        torch.testing.assert_close(c.y, expected, atol=5e-5, rtol=0)


def test_zero_magnitude_curves_are_the_identity():
    x, curves = A.lighting_curves(0.0, n=11)
    for c in curves:
        torch.testing.assert_close(c.y, x, atol=1e-12, rtol=0)
    with pytest.raises(ValueError):
        A.lighting_curves(1.0)


@pytest.mark.parametrize("name", list(A.SERIES))
def test_sweeps_start_at_the_identity_and_take_any_magnitudes(name):
    img = torch.rand(3, 14, 18, generator=torch.Generator().manual_seed(0))
    unchanged = A.apply(img, A.AugParams.identity(1), 12, "zeros")
    params, labels = A.magnitude_series(name, [A.SERIES_IDENTITY[name]])
    torch.testing.assert_close(A.apply(img, params, 12, "zeros"), unchanged, atol=2e-5, rtol=0)
    mags = A.SERIES[name][0]
    sweep = [A.SERIES_IDENTITY[name], *mags, mags[-1]]  # any length, repeats allowed
    params, labels = A.magnitude_series(name, sweep)
    assert params.n == len(labels) == len(sweep)
    out = A.apply(img, params, 12, "zeros")
    torch.testing.assert_close(out[-1], out[-2])  # the same magnitude, the same picture
    five, _ = A.magnitude_series(name)
    torch.testing.assert_close(out[1:6], A.apply(img, five, 12, "zeros"))


def test_drop_point_interpolates_the_crossing():
    mags, acc = [0, 10, 20, 30], [90.0, 88.0, 80.0, 70.0]
    # 5 points below 90 is 85, crossed 3/8 of the way from 10 (88 %) to 20 (80 %)
    assert A.drop_point(mags, acc) == pytest.approx(13.75)
    assert A.drop_point(mags, acc, drop=12.0) == pytest.approx(22.0)  # 78 %: 1/5 past 20
    assert A.drop_point([0, 10], [90.0, 85.0]) == 10  # reached exactly at a measured magnitude
    assert A.drop_point(mags, [90.0, 89.0, 88.0, 86.0]) is None
    with pytest.raises(ValueError):
        A.drop_point(mags, acc[:3])


def test_lighting_figure_draws_every_curve_and_the_robustness_figure_marks_the_drop():
    from explorer.plots.augment import lighting_figure, robustness_figure

    x, curves = A.lighting_curves(0.4, n=11)
    fig = lighting_figure(x, curves)
    drawn = [t for t in fig.data if t.showlegend is not False]
    assert len(drawn) == len(curves) == 8
    for trace, c in zip(drawn, curves, strict=True):
        assert list(trace.y) == pytest.approx(c.y.tolist())
        assert (trace.line.dash == "solid") == (c.library == "ours")
    # ours at mid-grey: brightness b maps 0.5 to b exactly (logit(0.5) = 0)
    ours_b = [t for t in drawn if t.name.startswith("ours brightness")]
    assert [t.y[5] for t in ours_b] == pytest.approx([0.3, 0.7])
    sweep = A.Sweep("rotate", [0.0, 10.0, 20.0], [100.0, 90.0, 50.0], [0.9, 0.8, 0.5], 5.0, 4)
    fig = robustness_figure(sweep, "degrees")
    assert list(fig.data[0].y) == [100.0, 90.0, 50.0]
    assert list(fig.data[1].y) == pytest.approx([90.0, 80.0, 50.0])
    assert fig.layout.shapes[0].x0 == 5.0
