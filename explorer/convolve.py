"""Convolution, one step at a time: kernel presets, a single window × kernel = value step, the
full convolution with every padding mode, and the same convolution written as a matrix multiply.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from explorer.errors import UserError
from explorer.padding import PAD_MODE, PADDING_HELP, PADDING_MODES  # noqa: F401 - re-exported


class ConvolveError(UserError):
    """Settings a person chose that this convolution cannot use (kernel, padding, stride, size)."""


CUSTOM = "custom"  # the preset name shown once a person edits a kernel cell

# Weights are float32 tensors: 1e300 typed into a cell would become inf. ±1000 keeps every sum
# (27 products of at most 255) exact enough and far from overflow.
KERNEL_LIMIT = 1000.0


@dataclass(frozen=True)
class Preset:
    """A named kernel: integer-friendly rows divided by `divisor`, optionally one per channel.

    Attributes:
        rows: the kernel entries before division, row by row.
        divisor: what every entry is divided by (16 for the blur, 6 for the lesson's kernel).
        channels: None for a 2-D (kh, kw) kernel; 3 to copy it across RGB like the lesson's
            `.expand(1, 3, 3, 3)`.
    """

    rows: tuple[tuple[float, ...], ...]
    divisor: float = 1.0
    channels: int | None = None

    def kernel(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """A fresh tensor holding this preset's values.

        Shape:
            (kh, kw), or (channels, kh, kw) when `channels` is set.
        """
        k = torch.tensor(self.rows, dtype=dtype) / self.divisor
        if self.channels is not None:
            k = k.expand(self.channels, -1, -1).clone()
        return k


# setosa.io's "Image Kernels" presets plus the kernel the lesson builds by hand.
PRESETS: MappingProxyType[str, Preset] = MappingProxyType(
    {
        "sharpen": Preset(((0, -1, 0), (-1, 5, -1), (0, -1, 0))),
        "identity": Preset(((0, 0, 0), (0, 1, 0), (0, 0, 0))),
        "blur": Preset(((1, 2, 1), (2, 4, 2), (1, 2, 1)), divisor=16),
        "outline": Preset(((-1, -1, -1), (-1, 8, -1), (-1, -1, -1))),
        "emboss": Preset(((-2, -1, 0), (-1, 1, 1), (0, 1, 2))),
        "top sobel": Preset(((1, 2, 1), (0, 0, 0), (-1, -2, -1))),
        "bottom sobel": Preset(((-1, -2, -1), (0, 0, 0), (1, 2, 1))),
        "left sobel": Preset(((1, 0, -1), (2, 0, -2), (1, 0, -1))),
        "right sobel": Preset(((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))),
        "lesson bottom-right edge": Preset(
            ((0, -5 / 3, 1), (-5 / 3, -5 / 3, 1), (1, 1, 1)), divisor=6, channels=3
        ),
    }
)
DEFAULT_PRESET = "sharpen"
LESSON_PRESET = "lesson bottom-right edge"


def preset_kernel(name: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """The kernel of the preset called `name` (see `PRESETS`).

    Shape:
        (3, 3), or (3, 3, 3) for the lesson's RGB kernel.

    Raises:
        ConvolveError: `name` is not a preset.
    """
    if name not in PRESETS:
        raise ConvolveError(
            f"There is no kernel preset called {name!r}; pick one of {list(PRESETS)}."
        )
    return PRESETS[name].kernel(dtype)


@dataclass(frozen=True)
class Step:
    """One position of the kernel: the window it covers, window × kernel, and their sum.

    Attributes:
        window: the input values under the kernel, padding included, as the convolution sees
            them; (kh, kw) for a 2-D image, (C, kh, kw) for a C-channel one.
        products: window × kernel, element-wise; same shape as `window`.
        value: the sum of `products`, i.e. the output pixel at (row, col).
        top: the window's first input row (negative when it starts in the padding).
        left: the window's first input column (negative when it starts in the padding).
        inside: (kh, kw) booleans, True where the window cell is a real pixel, not padding.
    """

    window: Tensor
    products: Tensor
    value: float
    top: int
    left: int
    inside: Tensor

    @property
    def channel_sums(self) -> tuple[float, ...]:
        """The sum of the products of each channel (one entry for a 2-D image); they add up to
        `value`."""
        p = self.products if self.products.ndim == 3 else self.products[None]
        return tuple(p.double().flatten(1).sum(1).tolist())


def _check_kernel(kernel: Tensor) -> None:
    if not isinstance(kernel, Tensor):
        raise ValueError(f"The kernel must be a tensor, not a {type(kernel).__name__}.")
    if kernel.ndim not in (2, 3) or kernel.numel() == 0:
        raise ValueError(
            f"The kernel must be (kh, kw) or (C, kh, kw); got shape {tuple(kernel.shape)}."
        )
    if kernel.is_floating_point() and not bool(torch.isfinite(kernel).all()):
        raise ConvolveError("The kernel contains NaN or infinite values; use finite numbers only.")


def _check_settings(padding: int, padding_mode: str, stride: int) -> None:
    if padding_mode not in PADDING_MODES:
        raise ConvolveError(
            f"Unknown padding mode {padding_mode!r}; use one of {', '.join(PADDING_MODES)}."
        )
    if int(padding) != padding or padding < 0:
        raise ConvolveError(f"Padding must be a whole number of pixels ≥ 0, not {padding}.")
    if int(stride) != stride or stride < 1:
        raise ConvolveError(f"Stride must be a whole number ≥ 1, not {stride}.")


def _as_chw(img: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor]:
    """Bring image and kernel to (C, H, W) and (C, kh, kw) in one floating dtype and device."""
    _check_kernel(kernel)
    if not isinstance(img, Tensor) or img.ndim not in (2, 3):
        shape = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
        raise ValueError(f"The image must be an (H, W) or (C, H, W) tensor; got {shape}.")
    dtype = torch.promote_types(img.dtype, kernel.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    x = (img if img.ndim == 3 else img[None]).to(dtype)
    k = kernel.to(device=x.device, dtype=dtype)
    if k.ndim == 2:
        # Like the lesson's .expand: the same 2-D kernel for every channel, then summed. The copy
        # matters: F.conv2d on an expanded (stride-0) weight takes a path ~50× slower on CPU.
        k = k.expand(x.shape[0], -1, -1).contiguous()
    elif k.shape[0] != x.shape[0]:
        raise ValueError(
            f"The kernel has {k.shape[0]} channels but the image has {x.shape[0]}; they must match."
        )
    return x, k


def output_size(
    h: int, w: int, k: int | tuple[int, int], padding: int = 0, stride: int = 1
) -> tuple[int, int]:
    """The output height and width: floor((H + 2p − k) / s) + 1 along each axis.

    Raises:
        ConvolveError: the kernel does not fit inside the padded image, or bad padding/stride.
    """
    _check_settings(padding, "zeros", stride)
    kh, kw = (k, k) if isinstance(k, int) else k
    if h < 1 or w < 1 or kh < 1 or kw < 1:
        raise ConvolveError("Image and kernel sizes must be at least one pixel.")
    if h + 2 * padding < kh or w + 2 * padding < kw:
        raise ConvolveError(
            f"A {kh}×{kw} kernel does not fit in a {h}×{w} image with padding {padding}; "
            "add padding or use a larger image."
        )
    return (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1


def _check_reflection(h: int, w: int, padding: int, padding_mode: str) -> None:
    if padding_mode == "reflection" and padding >= min(h, w):
        # A mirror needs a pixel beyond the edge one to copy; F.pad refuses the same case.
        raise ConvolveError(
            f"Reflection padding of {padding} px needs an image larger than {padding} px on each "
            f"side, and this one is {h}×{w}; use border or zeros padding, or less padding."
        )


def _check_fits(
    h: int, w: int, kh: int, kw: int, padding: int, padding_mode: str, stride: int
) -> tuple[int, int]:
    _check_settings(padding, padding_mode, stride)
    _check_reflection(h, w, padding, padding_mode)
    return output_size(h, w, (kh, kw), padding, stride)


def pad(img: Tensor, padding: int, padding_mode: str = "zeros") -> Tensor:
    """The image with `padding` pixels added on every side, as the convolution sees it.

    Shape:
        (H, W) -> (H + 2p, W + 2p), or (C, H, W) -> (C, H + 2p, W + 2p).

    Raises:
        ConvolveError: unknown mode, or reflection wider than the image.
    """
    x = img if img.ndim == 3 else img[None]
    _check_settings(padding, padding_mode, 1)
    _check_reflection(x.shape[-2], x.shape[-1], padding, padding_mode)
    if not x.is_floating_point():
        x = x.float()
    if padding:
        x = F.pad(x[None], (padding,) * 4, mode=PAD_MODE[padding_mode])[0]
    return x if img.ndim == 3 else x[0]


def convolve(
    img: Tensor,
    kernel: Tensor,
    padding: int = 0,
    padding_mode: str = "zeros",
    stride: int = 1,
) -> Tensor:
    """Cross-correlate `img` with `kernel` the way `F.conv2d` does, channels summed.

    A 2-D kernel on a C-channel image is copied to every channel first (the lesson's
    `.expand(1, 3, 3, 3)`), so the output is always one channel.

    Args:
        img: the image; integer images are converted to float.
        kernel: the weights; must be finite.
        padding: pixels added on every side before sliding the kernel.
        padding_mode: "zeros", "border" (repeat the edge pixel) or "reflection" (mirror).
        stride: how many pixels the kernel moves per output pixel.

    Shape:
        img (H, W) or (C, H, W); kernel (kh, kw) or (C, kh, kw) -> (H', W') with
        H' = floor((H + 2p − kh) / s) + 1.

    Raises:
        ConvolveError: non-finite kernel, bad padding/stride, or a kernel that does not fit.
        ValueError: mismatched channels or shapes (a caller's bug).
    """
    x, k = _as_chw(img, kernel)
    _check_fits(x.shape[-2], x.shape[-1], k.shape[-2], k.shape[-1], padding, padding_mode, stride)
    x = pad(x, padding, padding_mode)
    return F.conv2d(x[None], k[None], stride=stride)[0, 0]


def convolve_channels(
    img: Tensor,
    kernel: Tensor,
    padding: int = 0,
    padding_mode: str = "zeros",
    stride: int = 1,
) -> Tensor:
    """Apply one 2-D kernel to each channel separately (what photo editors and setosa show).

    Unlike `convolve`, the channels are not summed, so an RGB photo stays RGB.

    Shape:
        img (C, H, W), kernel (kh, kw) -> (C, H', W').

    Raises:
        ValueError: as `convolve`, or a kernel that is not 2-D.
    """
    if kernel.ndim != 2:
        raise ValueError("Per-channel convolution needs a 2-D (kh, kw) kernel.")
    x, k = _as_chw(img, kernel)
    _check_fits(x.shape[-2], x.shape[-1], k.shape[-2], k.shape[-1], padding, padding_mode, stride)
    x = pad(x, padding, padding_mode)
    return F.conv2d(x[None], k[:, None], stride=stride, groups=x.shape[0])[0]


def source_index(idx: Tensor, n: int, padding_mode: str) -> tuple[Tensor, Tensor]:
    """Which real pixel each (possibly out-of-range) index reads under a padding mode.

    Args:
        idx: integer positions along one axis of length `n`; may be negative or ≥ n.
        n: the axis length.
        padding_mode: "zeros", "border" or "reflection".

    Returns:
        (src, live): `src` in [0, n) is the pixel to read; `live` is False where zeros padding
        means the value is 0 rather than the pixel at `src`.

    Shape:
        idx (K,) -> src (K,), live (K,).
    """
    inside = (idx >= 0) & (idx < n)
    if padding_mode == "reflection":
        src = idx.abs()
        src = torch.where(src >= n, 2 * (n - 1) - src, src)
        return src.clamp(0, n - 1), torch.ones_like(inside)
    src = idx.clamp(0, n - 1)
    return src, inside if padding_mode == "zeros" else torch.ones_like(inside)


def step(
    img: Tensor,
    kernel: Tensor,
    row: int,
    col: int,
    padding: int = 0,
    padding_mode: str = "zeros",
    stride: int = 1,
) -> Step:
    """One output pixel of `convolve`, with its working shown.

    Only the kh×kw window is gathered (never the whole padded image), so a step costs the same
    on a 16-pixel grid and on a photo.

    Shape:
        window / products: (kh, kw) for an (H, W) image, (C, kh, kw) for a (C, H, W) one.

    Raises:
        ValueError: as `convolve`, or (row, col) outside the output.
    """
    x, k = _as_chw(img, kernel)
    kh, kw = k.shape[-2:]
    h, w = x.shape[-2:]
    oh, ow = _check_fits(h, w, kh, kw, padding, padding_mode, stride)
    if not (0 <= row < oh and 0 <= col < ow):
        raise ValueError(f"Position ({row}, {col}) is outside the {oh}×{ow} output.")
    top, left = row * stride - padding, col * stride - padding
    rows, rlive = source_index(torch.arange(top, top + kh, device=x.device), h, padding_mode)
    cols, clive = source_index(torch.arange(left, left + kw, device=x.device), w, padding_mode)
    live = rlive[:, None] & clive[None, :]
    window = x.index_select(1, rows).index_select(2, cols) * live
    products = window * k
    # Sum in float64 so the value matches F.conv2d to the last digits a person could read.
    value = float(products.double().sum())
    r = torch.arange(top, top + kh, device=x.device)
    c = torch.arange(left, left + kw, device=x.device)
    inside = ((r >= 0) & (r < h))[:, None] & ((c >= 0) & (c < w))[None, :]
    if img.ndim == 2:
        window, products = window[0], products[0]
    return Step(window, products, value, int(top), int(left), inside)


def stepper_grid(img: Image.Image, size: int, colour: str = "grey", scale: float = 255.0) -> Tensor:
    """Shrink a photo to a small grid whose pixels can be read one by one.

    The long side becomes `size` pixels (area averaging, so each cell is the mean colour of the
    patch it replaces); values are whole 8-bit levels times `scale` / 255, so with the default
    scale they are the 0–255 integers setosa shows, and with scale 1 they are fastai's [0, 1].

    Args:
        img: the photo.
        size: the grid's long side, 2–256.
        colour: "grey" (ITU-R 601 luma, like PIL's "L") or "rgb".
        scale: the value of a white pixel.

    Shape:
        grey (H, W), rgb (3, H, W), with max(H, W) == size.
    """
    if not 2 <= size <= 256:
        raise ConvolveError(f"The grid size must be between 2 and 256 pixels, not {size}.")
    if colour not in ("grey", "rgb"):
        raise ValueError(f"Colour must be 'grey' or 'rgb', not {colour!r}.")
    w, h = img.size
    f = size / max(w, h)
    small = img.convert("RGB").resize(
        (max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BOX
    )
    if colour == "grey":
        arr = np.asarray(small.convert("L"), dtype=np.float32)
        t = torch.from_numpy(arr.copy())
    else:
        arr = np.asarray(small, dtype=np.float32)
        t = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    return t * (scale / 255.0)


def shrink(img: Image.Image, max_side: int) -> Image.Image:
    """The image with its long side at most `max_side` (unchanged when already small enough)."""
    w, h = img.size
    if max(w, h) <= max_side:
        return img
    f = max_side / max(w, h)
    return img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BOX)


def display_range(
    t: Tensor, method: str = "symmetric", clip: tuple[float, float] = (0.0, 1.0), q: float = 99.0
) -> tuple[float, float]:
    """The (low, high) values to map to black and white when showing a convolution's output.

    Methods:
        "clip": the input's own range `clip`, as setosa shows it (out-of-range values saturate).
        "symmetric": ±(the q-th percentile of |t|), so 0 is mid-grey and edges of either sign show.
        "percentile": the (100 − q)-th to q-th percentiles, ignoring a few extreme pixels.

    Never returns low == high (a flat image gets a unit-wide range around its value).
    """
    if method == "clip":
        lo, hi = float(clip[0]), float(clip[1])
    else:
        a = t.detach().double().cpu().flatten().numpy()
        a = a[np.isfinite(a)]
        if a.size == 0:
            return 0.0, 1.0
        if method == "symmetric":
            m = float(np.percentile(np.abs(a), q))
            lo, hi = -m, m
        elif method == "percentile":
            lo, hi = float(np.percentile(a, 100 - q)), float(np.percentile(a, q))
        else:
            raise ValueError(
                f"Unknown display range {method!r}; use clip, symmetric or percentile."
            )
    if not hi > lo:
        mid = (lo + hi) / 2
        lo, hi = mid - 0.5, mid + 0.5
    return lo, hi


def whole_output(
    img: Tensor,
    kernel: Tensor,
    padding: int = 0,
    padding_mode: str = "zeros",
    stride: int = 1,
    per_channel: bool = False,
    method: str = "clip",
) -> tuple[Tensor, float, float]:
    """`convolve` (or `convolve_channels` when `per_channel`) and the range to show it in; "clip"
    is the input's own range, [0, 1] per channel summed.

    Shape:
        img (H, W) or (C, H, W) in [0, 1] -> (H', W'), or (C, H', W') per channel.
    """
    if per_channel:
        out, summed = convolve_channels(img, kernel, padding, padding_mode, stride), 1
    else:
        out = convolve(img, kernel, padding, padding_mode, stride)
        summed = img.shape[0] if img.ndim == 3 else 1
    lo, hi = display_range(out, method, clip=(0.0, float(summed)))
    return out, lo, hi


def auto_display_method(kernel: Tensor) -> str:
    """ "symmetric" for kernels whose weights sum to 0 (edge detectors: a flat patch gives 0 and
    edges of either sign matter), "clip" for those that keep brightness (blur, sharpen, identity).
    """
    return "symmetric" if abs(float(kernel.double().sum())) < 1e-6 * kernel.numel() else "clip"


def rescale(t: Tensor, lo: float, hi: float) -> Tensor:
    """Map [lo, hi] to [0, 1], clamping values outside, ready for `images.to_image`.

    Shape:
        any -> same.
    """
    return ((t.float() - lo) / (hi - lo)).clamp(0.0, 1.0)


def filled_until(out: Tensor, row: int, col: int) -> Tensor:
    """The output as the stepper has computed it so far: NaN (drawn blank) after (row, col) in
    reading order.

    Shape:
        (H', W') -> (H', W').
    """
    oh, ow = out.shape
    done = torch.arange(oh * ow, device=out.device).view(oh, ow) <= row * ow + col
    return torch.where(done, out, torch.full_like(out, float("nan")))


def fmt(v: float) -> str:
    """A number as the page writes it: 4 significant digits, never "-0" (zero weight × pixel)."""
    if v == 0:
        return "0"
    return f"{v:.4g}" if abs(v) >= 1e-4 else f"{v:.1e}"


def cell_label(v: float) -> str:
    """A value short enough to sit inside a pixel: whole numbers from 100 up, else 3 digits."""
    return f"{v:.0f}" if abs(v) >= 100 else fmt(float(f"{v:.3g}"))


def clamp_weight(value: float, limit: float = KERNEL_LIMIT) -> tuple[float, str | None]:
    """A kernel weight a person typed, brought into ±`limit`, and a sentence when it was changed.

    Returns:
        (the weight to use, None) when `value` is usable as it is; otherwise the nearest usable
        weight and a sentence saying what was typed and what is used instead.
    """
    v = float(value)
    if math.isnan(v):
        return 0.0, "a weight must be a number; using 0 instead."
    if abs(v) > limit:
        used = math.copysign(limit, v)
        return used, (
            f"{fmt(v)} is outside ±{limit:g} (larger weights overflow float32 sums); "
            f"using {used:g} instead."
        )
    return v, None


def _texts(t: Tensor, label=fmt) -> list[str]:
    return [label(v) for v in t.flatten().tolist()]


def stepper_data(
    grid: Tensor,
    kernel: Tensor,
    padding: int = 0,
    padding_mode: str = "zeros",
    stride: int = 1,
    scale: float = 255.0,
    method: str = "clip",
) -> dict[str, Any]:
    """Everything the browser stepper shows, computed once: padded grid, kernel, whole output.

    Numbers are sent as the text the page shows, so the browser formats nothing. The products
    come as a table (kernel cell × distinct pixel value) instead of per position: a 48-px RGB grid
    has ~40 000 products but at most 256 distinct values per channel.

    Args:
        grid: the stepper grid (`stepper_grid`).
        kernel: (kh, kw), copied to every channel, or (C, kh, kw).
        padding, padding_mode, stride: as `convolve`.
        scale: the value of a white input pixel (colours the input cells).
        method: the output's display range (`display_range`; clip = 0 to scale × channels).

    Returns:
        A JSON-ready dict; flat lists are row-major. `grid` holds indices into `values`;
        `products[(c·kh·kw + i·kw + j)·len(values) + v]` is the text of values[v] × kernel[c, i, j];
        `out` / `out_text` hold the output (float64, equal to `F.conv2d`), `channel_text` the
        per-channel sums when C > 1; `version` changes whenever any of it does.

    Shape:
        grid (H, W) or (C, H, W); kernel (kh, kw) or (C, kh, kw) -> out (H'·W',).
    """
    x, k = _as_chw(grid.double(), kernel.double())
    c, kh, kw = k.shape
    oh, ow = _check_fits(x.shape[1], x.shape[2], kh, kw, padding, padding_mode, stride)
    padded = pad(x, padding, padding_mode)
    values, index = torch.unique(padded, sorted=True, return_inverse=True)
    per_channel = F.conv2d(padded[None], k[:, None], stride=stride, groups=c)[0]
    out = F.conv2d(padded[None], k[None], stride=stride)[0, 0]
    lo, hi = display_range(out, method, clip=(0.0, scale * c))
    products = k.flatten()[:, None] * values[None, :]
    data: dict[str, Any] = {
        "c": c,
        "h": x.shape[1],
        "w": x.shape[2],
        "kh": kh,
        "kw": kw,
        "pad": padding,
        "mode": padding_mode,
        "stride": stride,
        "oh": oh,
        "ow": ow,
        "scale": scale,
        "lo": lo,
        "hi": hi,
        "values": values.tolist(),
        "value_text": _texts(values),
        "value_cells": _texts(values, cell_label),
        "grid": index.flatten().tolist(),
        "kernel_text": _texts(k),
        "products": _texts(products),
        "out": out.flatten().tolist(),
        "out_text": _texts(out),
        "out_cells": _texts(out, cell_label),
        "channel_text": _texts(per_channel) if c > 1 else [],
    }
    data["version"] = hashlib.sha1(repr(sorted(data.items())).encode()).hexdigest()[:16]
    return data
