"""explorer.filters: a network's first-layer filters, their pictures, and one applied like conv1."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer import filters

from .test_convolve import _gen


def test_first_conv_and_filter_pictures():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 10, 7, bias=False), nn.ReLU()), nn.Linear(2, 2)
    )
    conv = filters.first_conv(model)
    assert conv is model[0][0]
    with pytest.raises(ValueError, match="no convolution"):
        filters.first_conv(nn.Linear(2, 2))
    imgs = filters.filter_images(conv.weight)
    assert imgs.shape == (10, 3, 7, 7)
    flat = imgs.flatten(1)
    torch.testing.assert_close(flat.min(1).values, torch.zeros(10))
    torch.testing.assert_close(flat.max(1).values, torch.ones(10))
    # min-max is monotone: the brightest cell of the picture is the largest weight.
    w0 = conv.weight[0].detach().flatten()
    assert flat[0].argmax() == w0.argmax()
    grid = filters.filter_grid(conv.weight, cols=4, zoom=2, gap=1)
    assert grid.shape == (3, 3 * 15 - 1, 4 * 15 - 1)
    torch.testing.assert_close(
        grid[:, 15:29, 0:14], imgs[4].repeat_interleave(2, 1).repeat_interleave(2, 2)
    )
    assert bool((grid[:, 14, :] == 1).all())  # the gap row is white


def test_apply_filter_normalises_then_pads_like_conv1():
    g = _gen(13)
    img = torch.rand(3, 12, 10, generator=g)
    conv = nn.Conv2d(3, 4, 7, stride=2, padding=3, bias=False)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x = (img - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    with torch.no_grad():
        want = conv(x[None])[0, 2]
    got = filters.apply_filter(img, conv.weight[2], mean, std, stride=2)
    torch.testing.assert_close(got, want)
