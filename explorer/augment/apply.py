"""Applying drawn parameters: one resample for all the geometry, then lighting and pixel transforms.

`apply` renders one picture n times (the 3×3 preview) or a batch with one parameter set per image
(a training batch); `Augment` wraps draw + apply as an nn.Module for one's own training loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from explorer.augment.draw import draw
from explorer.augment.geometry import ALIGN_CORNERS, sampling_grid
from explorer.augment.params import AugParams, to_device
from explorer.augment.pixel import LogitLighting, cutout, lighting, rgb_randomize
from explorer.augment.settings import AugSettings
from explorer.padding import check_padding_mode


def as_float_batch(img: Tensor) -> tuple[Tensor, bool]:
    """(3,H,W) or (B,3,H,W), uint8 or float -> float (B,3,H,W) in [0,1], and 'was single'."""
    if img.ndim not in (3, 4) or img.shape[-3] != 3:
        raise ValueError(
            f"Expected an RGB image (3,H,W) or batch (B,3,H,W), got {tuple(img.shape)}."
        )
    x = img if img.ndim == 4 else img[None]
    if x.dtype == torch.uint8:
        x = x.to(torch.float32).div_(255)
    elif not x.is_floating_point():
        raise ValueError(f"Images must be uint8 or floating point, not {x.dtype}.")
    return x, img.ndim == 3


def resample(img: Tensor, params: AugParams, size: int, padding_mode: str = "reflection") -> Tensor:
    """Only the geometry of `apply`: one grid_sample per sample, no lighting or pixel transforms.

    Shape:
        (3, H, W) or (n, 3, H, W) -> (n, 3, size, size)
    """
    check_padding_mode(padding_mode)
    x, single = as_float_batch(img)
    n = params.n
    if not single and x.shape[0] != n:
        raise ValueError(
            f"A batch of {x.shape[0]} images needs {x.shape[0]} parameter sets, not {n}."
        )
    grid = sampling_grid(params, (x.shape[-2], x.shape[-1]), size, device=x.device).to(x.dtype)
    if single:
        # one image, n grids: a broadcast view of the image, no copies (on this CPU it measured
        # faster than stacking the n grids into one tall grid over the image once)
        x = x.expand(n, -1, -1, -1)
    return F.grid_sample(
        x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=ALIGN_CORNERS
    )


def apply(img: Tensor, params: AugParams, size: int, padding_mode: str = "reflection") -> Tensor:
    """Apply drawn parameters: one resample (all geometry), lighting in logit space, pixel tfms.

    Args:
        img: one picture (3,H,W) rendered n times, or a batch (n,3,H,W) with one set per image;
            uint8 (0..255) or float in [0,1], on any device.
        params: n parameter sets from `draw` (composed on their device; results move to img's).
        size: output side in pixels.
        padding_mode: "zeros", "border" or "reflection".

    Returns:
        (n, 3, size, size) contiguous float in [0,1] on img's device (float32 for uint8 input).

    Shape:
        (3, H, W) or (n, 3, H, W) -> (n, 3, size, size)
    """
    # Everything the params decide is decided first, while those few numbers are in the CPU's
    # caches: after the resample's passes over the tiles each tiny op would start from cold memory.
    lit = (params.brightness != 0.5) | (params.contrast != 1)  # decided where params live
    lit_all, lit_any = bool(lit.all()), bool(lit.any())
    rgb_any, cutout_any = bool(params.rgb_on.any()), bool(params.cutout_on.any())
    dtype = torch.float32 if img.dtype == torch.uint8 else img.dtype
    shading = (
        LogitLighting(params.brightness, params.contrast, img.device, dtype) if lit_all else None
    )
    out = resample(img, params, size, padding_mode)  # fresh and contiguous: ours to overwrite
    if shading is not None:
        out = shading.apply_(out.logit_())
    elif lit_any:
        shaded = lighting(out, params.brightness, params.contrast)
        out = torch.where(to_device(lit, out.device)[:, None, None, None], shaded, out)
    if rgb_any:
        out = rgb_randomize(out, params)
    if cutout_any:
        out = cutout(out, params)
    return out.contiguous()


def affine_resample(
    img: Tensor, angle: float, zoom: float, size: int, padding_mode: str = "reflection"
) -> Tensor:
    """Rotate by `angle` degrees and zoom by `zoom` about the centre of the centred square crop.

    One resample. `img` is (3,H,W) uint8 or float in [0,1].

    Shape:
        (3, H, W) -> (3, size, size)
    """
    if zoom <= 0:
        raise ValueError("Zoom must be positive.")
    p = AugParams.identity(1).set(angle=angle, zoom=zoom)
    return resample(img, p, size, padding_mode)[0]


def center_crop_resize(img: Tensor, size: int) -> Tensor:
    """The validation path: centre square crop resized to size × size, no randomness.

    Bilinear point sampling (no antialiasing): meant for pictures already near `size`.

    Shape:
        (3, H, W) -> (1, 3, size, size); (B, 3, H, W) -> (B, 3, size, size)
    """
    n = 1 if img.ndim == 3 else img.shape[0]
    return resample(img, AugParams.identity(n), size, "reflection")


class Augment(nn.Module):
    """draw + apply as a module: one independent random draw per image of every batch it sees.

    Put it after your DataLoader, on the batch's device (the GPU): the parameters are drawn on
    the CPU (a few hundred numbers), and only the batch itself is resampled, once, on its device::

        from explorer.augment import Augment, AugSettings
        from explorer.images import normalize

        aug = Augment(AugSettings.lesson(size=224))  # or AugSettings.from_json(saved_text)
        gen = torch.Generator().manual_seed(0)  # a CPU generator: reproducible epochs
        for xb, yb in loader:  # xb: (B, 3, H, W) uint8 or float in [0, 1], all one H×W
            xb = aug(xb.to("cuda", non_blocking=True), gen)  # (B, 3, 224, 224) float on the GPU
            loss = loss_fn(model(normalize(xb)), yb.to("cuda"))

    In eval mode (`aug.eval()`) it only centre-crops and resizes, the validation path.

    Args:
        settings: which transforms, how strong, how likely; `settings.size` and
            `settings.padding_mode` set the output.

    Shape:
        (B, 3, H, W) uint8 or float -> (B, 3, size, size) float (float32 for uint8)
    """

    def __init__(self, settings: AugSettings) -> None:
        super().__init__()
        if not isinstance(settings, AugSettings):
            raise TypeError(f"Augment needs AugSettings, not {type(settings).__name__}.")
        self.settings = settings

    def forward(self, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment `batch`: `apply(batch, draw(settings, B, generator), size, padding_mode)`.

        Args:
            batch: (B, 3, H, W) uint8 (0..255) or float in [0, 1], on any device.
            generator: a CPU generator for the draw (None uses torch's global one).

        Returns:
            (B, 3, size, size) float in [0, 1] on the batch's device.
        """
        if batch.ndim != 4:
            raise ValueError(f"Augment takes a batch (B, 3, H, W), got {tuple(batch.shape)}.")
        s = self.settings
        if not self.training:
            return center_crop_resize(batch, s.size)
        return apply(batch, draw(s, batch.shape[0], generator), s.size, s.padding_mode)

    def extra_repr(self) -> str:
        changed = {k: v for k, v in self.settings.to_dict().items() if v != _DEFAULTS[k]}
        return ", ".join(f"{k}={v!r}" for k, v in changed.items())


_DEFAULTS = AugSettings().to_dict()
