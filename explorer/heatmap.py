"""Look inside a CNN: hook one layer, read its activations and class gradients, make heatmaps.

Activations, Grad-CAM (the lesson's variant and fastai's library variant), channel rankings, the
image region a map cell sees, and the colour overlays the Heatmap page shows.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from explorer.images import to_tensor

VARIANTS = ("lesson", "library")
RANKINGS = ("activation", "weight", "contribution")
# Children that form a residual block's shortcut: they run beside the main path, not after it.
SHORTCUTS = ("downsample", "shortcut")

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


# --------------------------------------------------------------------------------------------
# Locks: one per model object, so sessions sharing a cached model take turns at hooking it.
# --------------------------------------------------------------------------------------------

# The one piece of module state: lock identity has to follow model identity across sessions, and
# weak keys let a model (and its lock) go away when the cache drops it.
_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock every hooked use of `model` holds (re-entrant, so helpers may nest).

    Args:
        model: any module; the same object always gets the same lock.

    Returns:
        A `threading.RLock` shared by everyone holding this model.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


# --------------------------------------------------------------------------------------------
# The hook
# --------------------------------------------------------------------------------------------


class _Stop(Exception):
    """Raised by the forward hook to end a forward pass once the hooked layer has run."""


def find_layer(model: nn.Module, layer: str) -> nn.Module:
    """The submodule called `layer` in `model.named_modules()`.

    Raises:
        ValueError: no module has that name (the message lists a few that do).
    """
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n][:8]
        raise ValueError(f"The model has no layer named {layer!r}; try one of {names}.")
    return modules[layer]


@dataclass
class Hook:
    """What a hooked pass stored: the layer's output and, when asked, its gradient.

    `forward` and `backward` run the cheap path: everything below the hooked layer runs without
    autograd, so the backward stops at the layer and never computes parameter gradients.
    """

    model: nn.Module
    layer: str
    grad: bool = False
    acts: Tensor | None = None  # the layer's output, (B, C, h, w)
    grads: Tensor | None = None  # d(score)/d(acts), same shape, filled by backward
    calls: int = 0
    _mode: str = "plain"  # "plain" (any forward), "cut" (Hook.forward) or "stop" (stop_forward)
    _handles: list = field(default_factory=list)

    def _on_forward(self, module: nn.Module, inputs: tuple, output: object) -> Tensor | None:
        self.calls += 1
        if not isinstance(output, Tensor):
            raise ValueError(f"Layer {self.layer!r} does not output a single tensor; pick another.")
        if self._mode == "stop":
            self.acts = output.detach()
            raise _Stop
        if self._mode == "cut" and self.calls == 1:
            # From here on autograd records: the activations become the leaf the backward ends at.
            torch.set_grad_enabled(True)
            leaf = output.detach().requires_grad_(True)
            self.acts = leaf
            if self.grad:
                self._handles.append(leaf.register_hook(self._on_grad))
            # A copy goes on, so an in-place op in the next layer cannot overwrite the leaf.
            return leaf.clone()
        # Plain forward: copy, since a following in-place ReLU would rewrite the stored output.
        self.acts = output.detach().clone()
        if self.grad and output.requires_grad:
            self._handles.append(output.register_hook(self._on_grad))
        return None

    def _on_grad(self, grad: Tensor) -> None:
        self.grads = grad.detach().clone()

    def _device(self) -> torch.device:
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def forward(self, x: Tensor) -> Tensor:
        """Run the model on `x`, recording autograd only from the hooked layer on.

        Args:
            x: the input batch, moved to the model's device.

        Returns:
            The model's output (logits), differentiable with respect to `self.acts` only.

        Shape:
            x: (B, 3, H, W) -> (B, n_classes)
        """
        self.calls, self.acts, self.grads = 0, None, None
        self._mode = "cut"
        enabled = torch.is_grad_enabled()
        torch.set_grad_enabled(False)
        try:
            out = self.model(x.to(self._device()))
        finally:
            torch.set_grad_enabled(enabled)
            self._mode = "plain"
        self._check_ran()
        return out

    def stop_forward(self, x: Tensor) -> Tensor:
        """Run the model only as far as the hooked layer and return its output (no autograd).

        Shape:
            x: (B, 3, H, W) -> (B, C, h, w)
        """
        self.calls, self.acts, self.grads = 0, None, None
        self._mode = "stop"
        try:
            with torch.no_grad():
                self.model(x.to(self._device()))
        except _Stop:
            pass
        finally:
            self._mode = "plain"
        self._check_ran()
        assert self.acts is not None
        return self.acts

    def backward(self, score: Tensor) -> Tensor:
        """Back-propagate a scalar `score` to the hooked layer only; returns the gradient.

        Shape:
            score: () -> (B, C, h, w)
        """
        if not self.grad or self.acts is None or not self.acts.requires_grad:
            raise ValueError("Call hooked(..., grad=True) and Hook.forward before backward.")
        # inputs= stops the engine at the hooked layer instead of walking down to the input.
        torch.autograd.backward(score, inputs=[self.acts])
        if self.grads is None:
            raise ValueError(f"The score does not depend on layer {self.layer!r}.")
        return self.grads

    def _check_ran(self) -> None:
        if self.calls == 0:
            raise ValueError(f"Layer {self.layer!r} did not run in the forward pass.")
        if self.calls > 1:
            raise ValueError(
                f"Layer {self.layer!r} runs {self.calls} times per forward pass "
                "(a shared module); hook the block that contains it instead."
            )


@contextmanager
def hooked(
    model: nn.Module, layer: str, grad: bool = False, lock: threading.RLock | None = None
) -> Iterator[Hook]:
    """Hook the output of one layer for the duration of a `with` block.

    Inside, the model is in eval mode and (with `grad`) no parameter requires a gradient; on the way
    out, whatever happened inside (an exception too), the hooks are removed and every module's
    training flag and every parameter's `requires_grad` are put back as they were. The model's lock
    is held throughout, so sessions sharing a model never see each other's hooks.

    Args:
        model: the network, e.g. `nn.Sequential(body, head)`.
        layer: a name from `model.named_modules()`, e.g. "0" for the body.
        grad: also capture the gradient at the layer's output (with a tensor hook).
        lock: the lock to hold; default `model_lock(model)`.

    Yields:
        The `Hook`, whose `forward`/`stop_forward`/`backward` fill `acts` and `grads`. A plain
        `model(x)` inside also stores `acts`, and the gradient too if `x` requires grad (the usual,
        costly way: autograd then records every layer).
    """
    module = find_layer(model, layer)
    with lock or model_lock(model):
        training = [(m, m.training) for m in model.modules()]
        flags = [(p, p.requires_grad) for p in model.parameters()]
        hook = Hook(model, layer, grad)
        hook._handles.append(module.register_forward_hook(hook._on_forward))
        try:
            model.eval()
            if grad:
                for p, _ in flags:
                    p.requires_grad_(False)
            yield hook
        finally:
            for handle in hook._handles:
                handle.remove()
            hook._handles.clear()
            for m, was_training in training:
                m.training = was_training
            for p, flag in flags:
                p.requires_grad_(flag)


# --------------------------------------------------------------------------------------------
# Activations and Grad-CAM
# --------------------------------------------------------------------------------------------


def _check_batch(x: Tensor) -> None:
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(
            f"Expected one normalised RGB image of shape (1, 3, H, W), got {tuple(x.shape)}."
        )


def activations(model: nn.Module, x: Tensor, layer: str) -> Tensor:
    """The output of `layer` for one image, computing only what lies below it.

    Args:
        model: the network.
        x: a normalised batch of one image.
        layer: a name from `model.named_modules()`.

    Returns:
        The layer's output for the image, detached.

    Shape:
        x: (1, 3, H, W) -> (C, h, w)
    """
    _check_batch(x)
    with hooked(model, layer) as hook:
        return hook.stop_forward(x)[0]


@dataclass
class Capture:
    """One hooked forward (+ backward) for one image: all the page needs for every view."""

    acts: Tensor  # (C, h, w) the layer's output
    grads: Tensor  # (C, h, w) d logit[class_idx] / d acts
    logits: Tensor  # (n_classes,)
    class_idx: int  # the class the gradients are for


def capture(model: nn.Module, x: Tensor, layer: str, class_idx: int | None = None) -> Capture:
    """Activations, class gradients and logits in one cheap forward + backward.

    Args:
        model: the network.
        x: a normalised batch of one image.
        layer: a name from `model.named_modules()`.
        class_idx: the class whose logit is differentiated; None means the predicted class.

    Returns:
        A `Capture` (tensors detached, on the model's device).

    Shape:
        x: (1, 3, H, W) -> acts, grads: (C, h, w); logits: (n_classes,)
    """
    _check_batch(x)
    with hooked(model, layer, grad=True) as hook:
        logits = hook.forward(x)
        if logits.ndim != 2:
            raise ValueError(
                f"Expected the model to output (1, n_classes), got {tuple(logits.shape)}."
            )
        n = logits.shape[1]
        k = int(logits[0].argmax()) if class_idx is None else int(class_idx)
        if not 0 <= k < n:
            raise ValueError(f"Class index {k} is out of range for a model with {n} classes.")
        grads = hook.backward(logits[0, k])
        assert hook.acts is not None
        return Capture(hook.acts.detach()[0], grads[0], logits.detach()[0], k)


def channel_weights(grads: Tensor) -> Tensor:
    """Each channel's weight in Grad-CAM: its gradient averaged over the map.

    Shape:
        (C, h, w) -> (C,)
    """
    return grads.mean(dim=(1, 2))


def contributions(acts: Tensor, weights: Tensor) -> Tensor:
    """Each channel's share of the lesson's Grad-CAM map: weight × mean activation.

    Their mean over channels is the mean of `cam(acts, grads, "lesson")`.

    Shape:
        acts: (C, h, w), weights: (C,) -> (C,)
    """
    return weights * acts.mean(dim=(1, 2))


MAP_KINDS = ("mean", *VARIANTS)


def heat(acts: Tensor, grads: Tensor | None, kind: str = "mean") -> Tensor:
    """One map to show: the lesson's mean activation (`mean`) or a Grad-CAM variant.

    Shape:
        acts, grads: (C, h, w) -> (h, w)
    """
    if kind == "mean":
        return acts.mean(0)
    if grads is None:
        raise ValueError(f"The {kind} map needs the gradients.")
    return cam(acts, grads, kind)


def cam(acts: Tensor, grads: Tensor, variant: str = "lesson") -> Tensor:
    """Grad-CAM from stored activations and gradients.

    `lesson` is the notebook's map: the mean over channels of activations × channel weight, no
    ReLU. `library` is fastai's `GradCAM`: the ReLU of the sum over channels.

    Shape:
        acts, grads: (C, h, w) -> (h, w)
    """
    weighted = acts * channel_weights(grads)[:, None, None]
    if variant == "lesson":
        return weighted.mean(0)
    if variant == "library":
        return weighted.sum(0).clamp_min(0)
    raise ValueError(f"Unknown Grad-CAM variant {variant!r}; use one of {VARIANTS}.")


def grad_cam(
    model: nn.Module, x: Tensor, layer: str, class_idx: int | None = None, variant: str = "lesson"
) -> Tensor:
    """The Grad-CAM map of one image at one layer for one class.

    Args:
        model: the network.
        x: a normalised batch of one image.
        layer: a name from `model.named_modules()`.
        class_idx: the class to explain; None means the predicted class.
        variant: "lesson" (mean, no ReLU) or "library" (ReLU of the sum).

    Returns:
        The map at the layer's resolution.

    Shape:
        x: (1, 3, H, W) -> (h, w)
    """
    if variant not in VARIANTS:
        raise ValueError(f"Unknown Grad-CAM variant {variant!r}; use one of {VARIANTS}.")
    c = capture(model, x, layer, class_idx)
    return cam(c.acts, c.grads, variant)


def rank_channels(
    acts: Tensor, weights: Tensor | None = None, by: str = "activation", k: int | None = None
) -> Tensor:
    """Channel indices, most important first.

    `activation` ranks by mean activation, `weight` by Grad-CAM weight (the mean gradient), and
    `contribution` by weight × mean activation, which is each channel's share of the lesson map.

    Args:
        acts: the layer's activations.
        weights: `channel_weights(grads)`; needed for `weight` and `contribution`.
        by: one of `RANKINGS`.
        k: keep only the first k (default all).

    Shape:
        acts: (C, h, w), weights: (C,) -> (k,)
    """
    if by == "activation":
        score = acts.mean(dim=(1, 2))
    elif by in ("weight", "contribution"):
        if weights is None:
            raise ValueError(f"Ranking by {by} needs the channel weights.")
        score = weights if by == "weight" else contributions(acts, weights)
    else:
        raise ValueError(f"Unknown ranking {by!r}; use one of {RANKINGS}.")
    order = torch.argsort(score, descending=True, stable=True)
    return order if k is None else order[:k]


def top_predictions(
    logits: Tensor, classes: Sequence[str], k: int = 5
) -> list[tuple[int, str, float]]:
    """The k most probable classes as (index, name, probability), most probable first.

    Shape:
        logits: (n_classes,)
    """
    probs = logits.float().softmax(-1)
    p, idx = probs.topk(min(k, probs.numel()))
    return [(int(i), str(classes[int(i)]), float(q)) for q, i in zip(p, idx, strict=True)]


# --------------------------------------------------------------------------------------------
# Where a map cell looks: stride box and receptive field
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """Receptive-field arithmetic along one axis, in input pixels.

    `size` pixels feed one output cell, cells are `jump` pixels apart, and the centre of cell 0 sits
    at pixel `start` (pixel centres are integers; padding can make it negative).
    """

    size: int = 1
    jump: int = 1
    start: float = 0.0

    def then(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> Field:
        """This field followed by one more sliding-window layer."""
        k = dilation * (kernel - 1) + 1
        return Field(
            self.size + (k - 1) * self.jump,
            self.jump * stride,
            self.start + ((k - 1) / 2 - padding) * self.jump,
        )


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _leaves_in_order(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """Leaf modules in forward order along the main path (shortcut branches skipped)."""
    children = list(module.named_children())
    if not children:
        yield prefix, module
        return
    for name, child in children:
        if name in SHORTCUTS:
            continue
        yield from _leaves_in_order(child, f"{prefix}.{name}" if prefix else name)


def receptive_field(model: nn.Module, layer: str) -> tuple[Field, Field]:
    """The receptive field of one cell of `layer`'s output, found by walking the conv/pool layers.

    Walks the leaf modules in registration order (the forward order of `nn.Sequential` bodies and
    torchvision's residual blocks, whose shortcut has the same stride and a smaller field) up to and
    including `layer`.

    Returns:
        (rows, cols) `Field`s.

    Raises:
        ValueError: an unknown layer, or a layer whose geometry depends on the input size (adaptive
            pooling) below it.
    """
    find_layer(model, layer)
    fy = fx = Field()
    seen = False
    for name, leaf in _leaves_in_order(model):
        inside = name == layer or name.startswith(layer + ".")
        if seen and not inside:
            break
        seen = seen or inside
        if isinstance(leaf, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            ks, st, pd = (
                _pair(leaf.kernel_size),
                _pair(leaf.stride or leaf.kernel_size),
                _pair(leaf.padding),
            )
            dl = _pair(getattr(leaf, "dilation", 1))
            fy = fy.then(ks[0], st[0], pd[0], dl[0])
            fx = fx.then(ks[1], st[1], pd[1], dl[1])
        elif isinstance(leaf, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear, nn.Flatten)):
            raise ValueError(
                f"Layer {layer!r} comes after pooling to a vector; it has no map cells."
            )
    return fy, fx


@dataclass(frozen=True)
class CellRegion:
    """The part of the input image one map cell stands for, boxes as (x0, y0, x1, y1) pixels."""

    row: int
    col: int
    cell_box: tuple[
        float, float, float, float
    ]  # the cell's share when the map is stretched over the image
    field_box: tuple[
        float, float, float, float
    ]  # every pixel that can affect the cell, clipped to the image
    field_size: tuple[int, int]  # (height, width) of the unclipped receptive field
    stride: tuple[int, int]  # pixels between neighbouring cells (rows, cols)


def cell_region(
    model: nn.Module,
    layer: str,
    image_hw: tuple[int, int],
    map_hw: tuple[int, int],
    row: int,
    col: int,
) -> CellRegion:
    """Where map cell (row, col) of `layer` looks in an image of size `image_hw`.

    Args:
        model: the network.
        layer: the hooked layer.
        image_hw: the input's (H, W).
        map_hw: the layer output's (h, w).
        row: the cell's row.
        col: the cell's column.

    Returns:
        The `CellRegion`: the stride box (what the overlay shows under the cell) and the receptive
        field (what the convolutions actually read).
    """
    (H, W), (h, w) = image_hw, map_hw
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"Cell ({row}, {col}) is outside the {h}×{w} map.")
    fy, fx = receptive_field(model, layer)
    cy, cx = fy.start + row * fy.jump, fx.start + col * fx.jump
    # Pixel i covers [i, i+1): a field of n pixels centred on pixel c spans [c-(n-1)/2, c+(n+1)/2).
    y0, y1 = cy - (fy.size - 1) / 2, cy + (fy.size + 1) / 2
    x0, x1 = cx - (fx.size - 1) / 2, cx + (fx.size + 1) / 2
    field_box = (max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1))
    cell_box = (col * W / w, row * H / h, (col + 1) * W / w, (row + 1) * H / h)
    return CellRegion(row, col, cell_box, field_box, (fy.size, fx.size), (fy.jump, fx.jump))


# --------------------------------------------------------------------------------------------
# Images in, overlays out
# --------------------------------------------------------------------------------------------


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
        raise ValueError("The input size must be at least 8 pixels.")
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
