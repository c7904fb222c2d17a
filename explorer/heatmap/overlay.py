"""Pictures of the maps: the model's input crop, colormaps, overlays and their encoded bytes."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from explorer.errors import UserError
from explorer.images import to_tensor


class SizeError(UserError):
    """An input size too small for the model to make a map."""


# Colormaps as evenly spaced anchor colours (magma/viridis/inferno/plasma are matplotlib's maps
# sampled at ten points, the same samples plotly ships), linearly interpolated in between.
_EVEN_ANCHORS = {
    "magma": "000004 180f3d 440f76 721f81 9e2f7f cd4071 f1605d fd9668 feca8d fcfdbf",
    "viridis": "440154 482878 3e4989 31688e 26828e 1f9e89 35b779 6ece58 b5de2b fde725",
    "inferno": "000004 1b0c41 4a0c6b 781c6d a52c60 cf4446 ed6925 fb9b06 f7d13d fcffa4",
    "plasma": "0d0887 46039f 7201a8 9c179e bd3786 d8576b ed7953 fb9f3a fdca26 f0f921",
    "gray": "000000 ffffff",
}
# matplotlib's jet is piecewise linear with knots that are not evenly spaced.
_JET = (
    (0.0, (0.0, 0.0, 0.5)),
    (0.11, (0.0, 0.0, 1.0)),
    (0.125, (0.0, 0.0, 1.0)),
    (0.34, (0.0, 0.875, 1.0)),
    (0.35, (0.0, 1.0, 1.0)),
    (0.65, (1.0, 1.0, 0.0)),
    (0.66, (1.0, 0.9, 0.0)),
    (0.89, (1.0, 0.0, 0.0)),
    (1.0, (0.5, 0.0, 0.0)),
)


def _anchor_table() -> dict[str, tuple[Tensor, Tensor]]:
    table: dict[str, tuple[Tensor, Tensor]] = {}
    for name, hexes in _EVEN_ANCHORS.items():
        cols = [[int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)] for h in hexes.split()]
        table[name] = (torch.linspace(0, 1, len(cols)), torch.tensor(cols))
    table["jet"] = (torch.tensor([p for p, _ in _JET]), torch.tensor([c for _, c in _JET]))
    return table


_ANCHORS = _anchor_table()
COLORMAPS = tuple(_ANCHORS)


def prepare(
    img: Image.Image, size: int, mean: Sequence[float], std: Sequence[float]
) -> tuple[Tensor, Image.Image]:
    """The centre square of `img` resized to `size`, and that as a normalised batch of one.

    Returns:
        (x, shown): the model input and the picture it shows, for overlays.

    Shape:
        x: (1, 3, size, size)
    """
    if size < 8:
        raise SizeError(f"The input size must be at least 8 pixels, not {size}; pick a larger one.")
    w, h = img.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    shown = img.convert("RGB").crop(box).resize((size, size), Image.Resampling.BICUBIC)
    t = to_tensor(shown)
    m = torch.tensor(mean, dtype=t.dtype)[:, None, None]
    sd = torch.tensor(std, dtype=t.dtype)[:, None, None]
    return ((t - m) / sd)[None], shown


def colormap(values: Tensor, name: str = "magma") -> Tensor:
    """Map values in [0, 1] to RGB colours (outside values are clipped).

    Shape:
        (...) -> (..., 3)
    """
    if name not in _ANCHORS:
        raise ValueError(f"Unknown colormap {name!r}; use one of {COLORMAPS}.")
    pos, cols = _ANCHORS[name]
    v = values.float().clamp(0, 1)
    hi = torch.searchsorted(pos, v.contiguous(), right=True).clamp(1, len(pos) - 1)
    lo = hi - 1
    t = ((v - pos[lo]) / (pos[hi] - pos[lo])).unsqueeze(-1)
    return cols[lo] * (1 - t) + cols[hi] * t


def scale01(heat: Tensor, vrange: tuple[float, float] | None = None) -> Tensor:
    """Rescale a map to [0, 1] over `vrange` (default its own min and max, like `imshow`).

    Shape:
        (h, w) -> (h, w)
    """
    lo, hi = (float(heat.min()), float(heat.max())) if vrange is None else vrange
    if hi <= lo:
        return torch.zeros_like(heat, dtype=torch.float32)
    return ((heat.float() - lo) / (hi - lo)).clamp(0, 1)


def overlay(
    img: Image.Image,
    heat: Tensor,
    alpha: float = 0.6,
    cmap: str = "magma",
    interpolation: str = "bilinear",
    vrange: tuple[float, float] | None = None,
) -> Image.Image:
    """Blend a heatmap over an image like the lesson's `show_heatmap` (imshow with `extent`).

    The map is scaled to [0, 1], stretched over the whole image (bilinear or nearest), coloured, and
    blended: `(1 - alpha) * image + alpha * colour`.

    Args:
        img: the picture the model saw.
        heat: the map, any real values.
        alpha: the map's opacity in [0, 1].
        cmap: one of `COLORMAPS`.
        interpolation: "bilinear" (smooth) or "nearest" (one block per cell).
        vrange: the values mapped to the colormap's ends (default the map's min and max).

    Returns:
        An RGB image the size of `img`.

    Shape:
        heat: (h, w)
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError("Interpolation must be 'bilinear' or 'nearest'.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("Alpha must be between 0 and 1.")
    if heat.ndim != 2:
        raise ValueError(f"A heatmap has two axes, got shape {tuple(heat.shape)}.")
    if cmap not in _ANCHORS:
        raise ValueError(f"Unknown colormap {cmap!r}; use one of {COLORMAPS}.")
    W, H = img.size
    v = scale01(heat.detach().cpu(), vrange)[None, None]
    kw = {"align_corners": False} if interpolation == "bilinear" else {}
    v = F.interpolate(v, size=(H, W), mode=interpolation, **kw)[0, 0]
    # A 256-colour table, as matplotlib uses, makes colouring a lookup instead of a search.
    colour = _lut(cmap)[(v * 255).round().long()]
    base = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32))
    out = (1 - alpha) * base + alpha * colour
    return Image.fromarray(out.round().clamp(0, 255).to(torch.uint8).numpy())


@functools.cache
def _lut(name: str) -> Tensor:
    """The colormap sampled at 256 levels, in 0-255 units."""
    return colormap(torch.linspace(0, 1, 256), name) * 255


def lut_bytes(name: str) -> list[int]:
    """The 256-level colormap as flat 0-255 RGB integers (768 numbers), for the browser.

    `overlay` colours with the same table, so a browser that interpolates and looks up as it does
    draws the same pixels.
    """
    return _lut(name).round().to(torch.uint8).flatten().tolist()


def channel_sprite(acts: Tensor) -> tuple[Image.Image, int]:
    """Every channel's map in one greyscale picture: the channel browser's single download.

    Each channel is scaled to its own [0, 1] (`scale01`, as `overlay` does) and quantised to
    0-255; channel i sits at tile (i // cols, i % cols) of a grid `cols` tiles wide.

    Returns:
        (sprite, cols): an "L" image of ceil(C / cols)·h × cols·w pixels, and the grid width.

    Shape:
        acts: (C, h, w)
    """
    if acts.ndim != 3:
        raise ValueError(f"Expected activations of shape (C, h, w), got {tuple(acts.shape)}.")
    c, h, w = acts.shape
    cols = max(1, math.ceil(math.sqrt(c)))
    rows = math.ceil(c / cols)
    a = acts.detach().float().cpu()
    lo = a.amin(dim=(1, 2), keepdim=True)
    span = a.amax(dim=(1, 2), keepdim=True) - lo
    # A flat channel has no range: it shows the colormap's low end, as scale01 does.
    v = torch.where(span > 0, (a - lo) / span.clamp_min(1e-30), torch.zeros_like(a))
    q = (v.clamp(0, 1) * 255).round().to(torch.uint8)
    grid = torch.zeros(rows * cols, h, w, dtype=torch.uint8)
    grid[:c] = q
    grid = grid.view(rows, cols, h, w).permute(0, 2, 1, 3).reshape(rows * h, cols * w)
    return Image.fromarray(grid.numpy(), mode="L"), cols
