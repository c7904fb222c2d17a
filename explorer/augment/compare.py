"""One resample against a chain: a supersampled reference rendering and PSNR to measure crispness.

`affine_resample` composes rotate + zoom into one grid; `chain_resample` does what most pipelines
do (crop/resize, then rotate, then zoom, each its own resample). The page and bench compare both
against `reference_resample`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from explorer.augment.apply import as_float_batch, center_crop_resize, resample
from explorer.augment.geometry import ALIGN_CORNERS, matrices, project
from explorer.augment.params import AugParams


def chain_resample(
    img: Tensor, angle: float, zoom: float, size: int, padding_mode: str = "reflection"
) -> Tensor:
    """The same rotate+zoom as `affine_resample`, done the usual way: three successive resamples.

    Crop+resize to size, then rotate, then zoom, each its own bilinear grid_sample; every step blurs
    and the rotation can only see the already-cropped square.

    Shape:
        (3, H, W) -> (3, size, size)
    """
    x = center_crop_resize(img, size)[0]
    x = resample(x, AugParams.identity(1).set(angle=angle), size, padding_mode)[0]
    return resample(x, AugParams.identity(1).set(zoom=zoom), size, padding_mode)[0]


def reference_resample(
    img: Tensor,
    angle: float,
    zoom: float,
    size: int,
    padding_mode: str = "reflection",
    factor: int = 4,
) -> Tensor:
    """A high-quality rendering of `affine_resample`'s transform, for measuring crispness.

    Each output pixel averages factor × factor bilinear samples spread over its footprint in float64
    (supersampling), so it neither aliases nor blurs more than the geometry demands.

    Shape:
        (3, H, W) -> (3, size, size)
    """
    x, _ = as_float_batch(img)
    x = x.to(torch.float64)
    p = AugParams.identity(1, x.device).set(angle=angle, zoom=zoom)
    mats = matrices(p, (x.shape[-2], x.shape[-1]))
    step = 2 / (size - 1)
    offs = ((torch.arange(factor, dtype=torch.float64) + 0.5) / factor - 0.5) * step
    lin = torch.linspace(-1, 1, size, dtype=torch.float64)
    fine = (lin[:, None] + offs[None, :]).reshape(-1).to(x.device)
    grid = project(mats, fine, fine)
    out = F.grid_sample(x, grid, padding_mode=padding_mode, align_corners=ALIGN_CORNERS)
    return F.avg_pool2d(out, factor)[0].to(torch.float32)


def psnr(a: Tensor, b: Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio of `a` against `b` in dB (inf when equal).

    Shape:
        (..., H, W), (..., H, W) -> float
    """
    mse = torch.mean((a.to(torch.float64) - b.to(torch.float64)) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)
