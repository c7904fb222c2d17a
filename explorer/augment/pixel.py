"""Pixel transforms: lighting in logit space (like fastai), rgb_randomize and cutout; the lighting
transfer curves against torchvision's linear ColorJitter.

They act on finished tiles, after the one resample. Their per-pixel noise is counter-based
(`hash_uniform`), so saved parameters give the same noise on any device without a generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from explorer.augment.params import AugParams, to_device


def hash_uniform(seed: Tensor, count: int) -> Tensor:
    """Counter-based noise: `count` floats in [0, 1) per seed that depend only on the seed.

    A splitmix64 hash of (seed, index) in int64 arithmetic, so saved params give the same noise on
    any device without carrying a generator around.

    Shape:
        (n,) int64 -> (n, count) float32
    """
    idx = torch.arange(count, device=seed.device, dtype=torch.int64)
    z = seed[:, None] * -7046029254386353131 + idx[None, :] * 2654435761 + 1  # golden-ratio steps

    def shr(v: Tensor, k: int) -> Tensor:  # logical right shift for int64
        return (v >> k) & ((1 << (64 - k)) - 1)

    z = (z ^ shr(z, 30)) * -4658895280553007687
    z = (z ^ shr(z, 27)) * -7723592293110705685
    z = z ^ shr(z, 31)
    return shr(z, 40).to(torch.float32) / float(1 << 24)


def lighting(x: Tensor, brightness: Tensor, contrast: Tensor) -> Tensor:
    """fastai's lighting: sigmoid((logit(x) + logit(brightness)) · contrast), per sample.

    Brightness 0.5 and contrast 1 are the identity (up to float rounding); pixels at exactly 0 or 1
    stay there (logit ±inf maps back to 0 or 1).

    Shape:
        (n, C, H, W), (n,), (n,) -> (n, C, H, W)
    """
    return lighting_on_logits_(torch.logit(x), brightness, contrast)


def lighting_on_logits_(logits: Tensor, brightness: Tensor, contrast: Tensor) -> Tensor:
    """`lighting` on logits computed already, in place: (L + b) · c as L · c + b · c, a sigmoid.

    Shape:
        (n, C, H, W), (n,), (n,) -> (n, C, H, W), the same storage as `logits`
    """
    return LogitLighting(brightness, contrast, logits.device, logits.dtype).apply_(logits)


class LogitLighting:
    """Each sample's lighting terms in logit space, c and b · c, made ready before the tiles.

    `apply` builds them before it resamples, while the few numbers involved are still in the
    CPU's caches (after a pass over the tiles every tiny op starts from cold memory). On the CPU
    L · c + b · c is then one fused multiply-add pass per tile with scalar operands (a pass over
    the tiles fewer than a multiply then an add; per-sample operands broadcast in one batched
    call run a scalar loop there, 5× slower). On a GPU, or under autograd, it is a multiply and
    an add over the batch: no per-sample calls, nothing read back from the GPU.

    Args:
        brightness: (n,) 0.5 = unchanged.
        contrast: (n,) 1 = unchanged.
        device: where the logits will be.
        dtype: the logits' dtype.
    """

    def __init__(
        self, brightness: Tensor, contrast: Tensor, device: torch.device, dtype: torch.dtype
    ) -> None:
        b = torch.logit(brightness.to(torch.float64))  # tiny: composed where the params live
        c = contrast.to(torch.float64)
        self.scale = to_device(c, device, dtype)[:, None, None, None]
        self.shift = to_device(b * c, device, dtype)[:, None, None, None]
        self.per_tile = device.type == "cpu"
        if self.per_tile:
            self.alphas, self.shifts = c.tolist(), self.shift.view(-1).unbind()

    def apply_(self, logits: Tensor) -> Tensor:
        """sigmoid(L · c + b · c), in place.

        Shape:
            (n, C, H, W) -> (n, C, H, W), the same storage
        """
        if self.per_tile and not logits.requires_grad:  # out= cannot record a graph
            for tile, alpha, shift in zip(logits, self.alphas, self.shifts, strict=True):
                torch.add(shift, tile, alpha=alpha, out=tile)
        else:
            logits.mul_(self.scale).add_(self.shift)
        return torch.sigmoid_(logits)


def rgb_randomize(x: Tensor, params: AugParams) -> Tensor:
    """Replace channel `rgb_channel` of each sample with `rgb_on` by noise uniform in [0, rgb).

    Shape:
        (n, 3, H, W), AugParams(n) -> (n, 3, H, W)
    """
    n, _, h, w = x.shape
    dev = x.device
    noise = hash_uniform(to_device(params.seed, dev) + 1, h * w).view(n, 1, h, w)
    chan = torch.arange(3)[None, :] == params.rgb_channel.cpu()[:, None]
    mask = to_device((chan & params.rgb_on.cpu()[:, None])[:, :, None, None], dev)
    level = to_device(params.rgb, dev, x.dtype)[:, None, None, None]
    return torch.where(mask, noise.to(x) * level, x)


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


def cutout(x: Tensor, params: AugParams) -> Tensor:
    """Zero the cutout holes of each (square) tile.

    Shape:
        (n, C, size, size), AugParams(n) -> (n, C, size, size)
    """
    return x * (1 - cutout_mask(params.to(x.device), x.shape[-1]).to(x))


@dataclass(frozen=True)
class Curve:
    """One lighting transfer function y = f(x) for a grey level x in [0, 1]."""

    library: str  # "ours" (logit space, fastai) or "torchvision" (ColorJitter, linear)
    kind: str  # "brightness" or "contrast"
    factor: float  # ours: brightness b (0.5 = unchanged) or contrast c; torchvision: its factor
    y: Tensor  # (n,) output grey level


def lighting_curves(m: float, n: int = 101) -> tuple[Tensor, list[Curve]]:
    """The transfer functions at both ends of a lighting magnitude `m`, ours against torchvision's.

    Ours (fastai's `max_lighting=m`): brightness b in 0.5·(1 ± m) adds logit(b) to logit(x);
    contrast c in [1-m, 1/(1-m)] multiplies logit(x); nothing leaves [0, 1], black and white stay.
    torchvision's `ColorJitter(brightness=m, contrast=m)`: brightness multiplies x by f in
    [1-m, 1+m] and contrast blends with the picture's mean grey (taken as 0.5 here), both clipped.

    Returns:
        (x: (n,) grey levels 0..1, eight curves: library × kind × low/high end).

    Shape:
        m, n -> (n,), [Curve with y (n,)]
    """
    if not 0 <= m < 1:
        raise ValueError(f"A lighting magnitude lies in [0, 1), not {m}.")
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    grid = x.view(1, 1, 1, n)
    one, half = torch.ones(1, dtype=torch.float64), torch.full((1,), 0.5, dtype=torch.float64)
    curves = []
    for b in (0.5 * (1 - m), 0.5 * (1 + m)):
        y = lighting(grid, torch.tensor([b], dtype=torch.float64), one).view(n)
        curves.append(Curve("ours", "brightness", b, y))
    for c in (1 - m, 1 / (1 - m)):
        y = lighting(grid, half, torch.tensor([c], dtype=torch.float64)).view(n)
        curves.append(Curve("ours", "contrast", c, y))
    for f in (max(0.0, 1 - m), 1 + m):
        curves.append(Curve("torchvision", "brightness", f, (x * f).clamp(0, 1)))
    for f in (max(0.0, 1 - m), 1 + m):
        curves.append(Curve("torchvision", "contrast", f, (f * x + (1 - f) * 0.5).clamp(0, 1)))
    return x, curves
