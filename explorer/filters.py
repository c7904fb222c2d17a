"""A trained network's first-layer filters: find them, turn them into pictures, and apply one to a
photo the way the network sees it (the Convolution page's "Learned kernels").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from explorer.convolve import ConvolveError, convolve

IMAGENET = "ImageNet resnet34"  # the name `first_layer` gives torchvision's pretrained resnet34


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first 2-D convolution (a resnet body's conv1: 64 filters of 3×7×7).

    Raises:
        ConvolveError: the model has no Conv2d.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ConvolveError("This model has no convolution layer to show; pick another model.")


def filter_images(weight: Tensor) -> Tensor:
    """Each filter stretched to [0, 1] on its own (min → 0, max → 1), so its pattern is visible.

    Shape:
        (N, C, kh, kw) -> (N, C, kh, kw).
    """
    w = weight.detach().float().cpu()
    flat = w.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1, 1)
    hi = flat.max(1).values.view(-1, 1, 1, 1)
    return (w - lo) / (hi - lo).clamp_min(1e-12)


def filter_grid(weight: Tensor, cols: int = 8, zoom: int = 8, gap: int = 2) -> Tensor:
    """All filters as one picture: each normalised (`filter_images`), enlarged, tiled row-major.

    Args:
        weight: a conv layer's weights with 1 or 3 input channels.
        cols: filters per row.
        zoom: how many screen pixels each weight becomes (nearest-neighbour, so cells stay sharp).
        gap: white pixels between filters.

    Shape:
        (N, C, kh, kw) -> (C, rows·(kh·zoom + gap) − gap, cols·(kw·zoom + gap) − gap).
    """
    imgs = filter_images(weight)
    n, c, kh, kw = imgs.shape
    rows = -(-n // cols)
    big = imgs.repeat_interleave(zoom, 2).repeat_interleave(zoom, 3)
    ch, cw = kh * zoom + gap, kw * zoom + gap
    out = torch.ones(c, rows * ch - gap, cols * cw - gap)
    for i in range(n):
        r, q = divmod(i, cols)
        out[:, r * ch : r * ch + kh * zoom, q * cw : q * cw + kw * zoom] = big[i]
    return out


def apply_filter(
    img: Tensor,
    weight: Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    stride: int = 1,
) -> Tensor:
    """One learned first-layer filter applied to a photo the way the network sees it.

    The photo is normalised with the model's statistics first, and padded by half the kernel
    with zeros, like resnet's conv1 (which also uses stride 2).

    Shape:
        img (3, H, W) in [0, 1], weight (3, kh, kw) -> (H', W').
    """
    m = torch.tensor(mean, dtype=img.dtype, device=img.device).view(-1, 1, 1)
    s = torch.tensor(std, dtype=img.dtype, device=img.device).view(-1, 1, 1)
    w = weight.detach().to(img.device, img.dtype)
    return convolve((img - m) / s, w, w.shape[-1] // 2, "zeros", stride)


def first_layer(name: str) -> tuple[Tensor, tuple[float, ...], tuple[float, ...]]:
    """The first-layer weights of checkpoint `name` (or of ImageNet resnet34 when `name` is
    `IMAGENET`) and the normalisation stats its photos were fed with.

    Raises:
        WeightsUnavailable / CheckpointError: the weights are not cached and cannot be fetched, or
            the checkpoint is unusable (both `UserError`s).

    Shape:
        -> weight (N, C, kh, kw).
    """
    from explorer import images, models

    if name == IMAGENET:
        model, _ = models.pretrained_classifier("resnet34")
        meta: dict = {}
    else:
        model, meta = models.load(name)
    weight = first_conv(model).weight.detach().cpu().clone()
    mean = tuple(meta.get("mean", images.IMAGENET_MEAN))
    std = tuple(meta.get("std", images.IMAGENET_STD))
    return weight, mean, std
