"""Synthetic shapes on textured backgrounds: a labelled dataset generated on the fly, offline.

Each image holds one object whose box and mask are known, so a heatmap can be checked against it.
Used by the quick and tiny recipes, the tests and the CPU demo; explorer.data re-exports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "star")


@dataclass
class ShapesData:
    """Synthetic images with the drawn object's class, box and mask."""

    images: Tensor  # uint8 (N, 3, S, S)
    labels: Tensor  # int64 (N,), index into classes
    boxes: Tensor  # float32 (N, 4): x0, y0, x1, y1 in pixels, x1/y1 exclusive (tight around mask)
    classes: list[str]
    masks: Tensor = field(repr=False)  # bool (N, S, S): the object's pixels


def _shape_mask(kind: str, u: Tensor, v: Tensor) -> Tensor:
    """Inside test in the shape's own frame, where the shape's outer radius is 1.

    Shape:
        u, v (M, S, S) -> bool (M, S, S)
    """
    if kind == "circle":
        return u * u + v * v <= 0.85
    if kind == "square":
        return torch.maximum(u.abs(), v.abs()) <= 0.75
    if kind == "cross":
        arm, half = 0.3, 1.0
        return ((u.abs() <= arm) & (v.abs() <= half)) | ((v.abs() <= arm) & (u.abs() <= half))
    if kind == "triangle":
        # Equilateral triangle with circumradius 1: inside all three edges at distance 0.5.
        inside = torch.ones_like(u, dtype=torch.bool)
        for k in range(3):
            a = -math.pi / 2 + 2 * math.pi * k / 3
            inside &= u * math.cos(a) + v * math.sin(a) <= 0.5
        return inside
    if kind == "star":
        # Five points at radius 1, inner corners at 0.45: fold the angle into one half-spike and
        # test against the edge from the tip (1, 0) to the inner corner.
        alpha = math.pi / 5
        rho = torch.sqrt(u * u + v * v)
        phi = torch.atan2(v, u) + math.pi / 2  # a tip points up
        psi = torch.remainder(phi + alpha, 2 * alpha) - alpha
        px, py = rho * torch.cos(psi), rho * torch.sin(psi).abs()
        bx, by = 0.45 * math.cos(alpha), 0.45 * math.sin(alpha)
        # Cross product of (tip->corner) and (tip->point): non-negative on the centre's side.
        return (bx - 1) * py - by * (px - 1) >= 0
    raise ValueError(f"Unknown shape {kind!r}.")


def _backgrounds(
    base: Tensor, size: int, g: torch.Generator, xs: Tensor, ys: Tensor, keep: Tensor
) -> Tensor:
    """Small-amplitude textures around each image's base colour: 0 noise, 1 stripes, 2 gradient.

    Every image's random numbers are drawn (the generator's sequence stays that of all n images),
    but only the images at `keep` are made.

    Shape:
        base (n, 3), xs (1, 1, S), ys (1, S, 1), keep (m,) -> (m, 3, S, S)
    """
    n = base.shape[0]

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=g)

    texture_kind = torch.randint(0, 3, (n,), generator=g)
    amp = 0.04 + 0.06 * rand(n)
    beta = (rand(n) * 2 * math.pi).view(n, 1, 1)
    freq = (2 + 5 * rand(n)).view(n, 1, 1)
    phase = (rand(n) * 2 * math.pi).view(n, 1, 1)
    # The noise images' pixels come last, in one draw: the kept ones are picked out of it.
    noisy = (texture_kind == 0).nonzero().flatten()
    noise = rand(len(noisy), size, size) * 2 - 1 if len(noisy) else torch.empty(0, size, size)
    row_of = torch.full((n,), -1, dtype=torch.int64)
    row_of[noisy] = torch.arange(len(noisy))

    kind, beta, freq, phase = texture_kind[keep], beta[keep], freq[keep], phase[keep]
    proj = (xs * torch.cos(beta) + ys * torch.sin(beta)) / size  # (m, S, S), about -1.4..1.4
    # Each texture is computed only for the images that use it.
    texture = torch.empty(len(keep), size, size)
    for t_kind in range(3):
        idx = (kind == t_kind).nonzero().flatten()
        if not len(idx):
            continue
        if t_kind == 0:
            texture[idx] = noise[row_of[keep[idx]]]
        elif t_kind == 1:
            texture[idx] = torch.sin(2 * math.pi * freq[idx] * proj[idx] + phase[idx])
        else:
            texture[idx] = (proj[idx] / math.sqrt(2)).clamp(-1, 1)
    return base[keep].view(-1, 3, 1, 1) + amp[keep].view(-1, 1, 1, 1) * texture.unsqueeze(1)


def _boxes(masks: Tensor) -> Tensor:
    """The tight box of each mask: x0, y0, x1, y1 with x1/y1 exclusive.

    Shape:
        (n, S, S) bool -> (n, 4) float32
    """
    size = masks.shape[-1]
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (n, S) each
    ar = torch.arange(size)

    def first(hit: Tensor) -> Tensor:
        return torch.where(hit, ar, size + 1).min(dim=1).values

    def last(hit: Tensor) -> Tensor:
        return torch.where(hit, ar, -1).max(dim=1).values + 1

    return torch.stack([first(cols), first(rows), last(cols), last(rows)], dim=1).float()


def make_shapes(
    n: int, size: int = 64, seed: int = 0, only: Sequence[int] | Tensor | None = None
) -> ShapesData:
    """Synthetic shapes on textured backgrounds, deterministic from `seed`.

    Each image holds one object (circle, square, triangle, cross or star) with a random colour
    that differs from the background base colour by at least 0.35 in every channel, a random
    radius of 20-28 % of the side (so its box covers about 10-35 % of the image, a minority), a
    random position fully inside the image and a random rotation. Backgrounds are one of: pixel
    noise, stripes at a random angle and frequency, or a linear gradient, all of small amplitude
    around a random base colour.

    Args:
        n: number of images.
        size: side in pixels (at least 16).
        seed: the generator's seed; the same (n, size, seed) always gives the same data.
        only: make just these of the n images, in this order (a run's validation split): equal to
            indexing the whole set, in a fraction of its memory and time.

    Returns:
        ShapesData; labels are balanced (as equal as n allows) and shuffled.

    Shape:
        images (m, 3, size, size) uint8, labels (m,), boxes (m, 4), masks (m, size, size), where m
        is n, or len(only)
    """
    if n < 0 or size < 16:
        raise ValueError(f"make_shapes needs n >= 0 and size >= 16, got n={n}, size={size}.")
    keep = torch.arange(n) if only is None else torch.as_tensor(only, dtype=torch.int64).flatten()
    if len(keep) and not (0 <= int(keep.min()) and int(keep.max()) < n):
        raise ValueError(f"make_shapes: `only` must index the {n} images.")
    g = torch.Generator().manual_seed(seed)
    k = len(SHAPE_CLASSES)

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=g)

    labels = torch.arange(n) % k
    labels = labels[torch.randperm(n, generator=g)]
    # Objects big enough that a small CNN trained from scratch can tell the shapes apart in a few
    # minutes of CPU time (at radius 14-24 % a resnet18 at 32 px stayed near chance), and still a
    # minority of the picture, so a heatmap that points at the box means something.
    radius = (0.20 + 0.08 * rand(n)) * size
    cx = radius + rand(n) * (size - 2 * radius)
    cy = radius + rand(n) * (size - 2 * radius)
    theta = rand(n) * 2 * math.pi
    base = 0.15 + 0.7 * rand(n, 3)
    delta = 0.35 + 0.3 * rand(n, 3)
    # Add (or subtract) delta per channel, whichever stays inside [0, 1]; texture is at most
    # ±0.1, so every object pixel differs from every background pixel by > 0.2 in each channel.
    colour = torch.where(base + delta <= 1.0, base + delta, base - delta).clamp(0, 1)

    coords = torch.arange(size, dtype=torch.float32) + 0.5  # pixel centres
    ys, xs = coords.view(1, size, 1), coords.view(1, 1, size)

    background = _backgrounds(base, size, g, xs, ys, keep)
    labels, colour = labels[keep], colour[keep]
    radius, cx, cy, theta = radius[keep], cx[keep], cy[keep], theta[keep]
    m = len(keep)

    # Each pixel in the object's frame: translate, rotate by -theta, scale by the radius.
    dx = (xs - cx.view(m, 1, 1)) / radius.view(m, 1, 1)
    dy = (ys - cy.view(m, 1, 1)) / radius.view(m, 1, 1)
    c, s = torch.cos(theta).view(m, 1, 1), torch.sin(theta).view(m, 1, 1)
    u, v = c * dx + s * dy, -s * dx + c * dy
    masks = torch.zeros(m, size, size, dtype=torch.bool)
    for label, kind_name in enumerate(SHAPE_CLASSES):
        idx = (labels == label).nonzero().flatten()
        if len(idx):
            masks[idx] = _shape_mask(kind_name, u[idx], v[idx])

    img = torch.where(masks.unsqueeze(1), colour.view(m, 3, 1, 1), background)
    images = (img.clamp(0, 1) * 255).round().to(torch.uint8)

    boxes = _boxes(masks)
    return ShapesData(
        images=images, labels=labels, boxes=boxes, classes=list(SHAPE_CLASSES), masks=masks
    )
