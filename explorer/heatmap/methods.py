"""The CAM family: Grad-CAM and the methods people reach for instead, each as one small formula
over one layer's activations (and gradients), behind one call, `cam_map`.

Every map is at the layer's resolution, non-negative (ReLU applied) and not normalised. The
lesson's own map (mean over channels, no ReLU) stays in `maps.cam(..., "lesson")`.
"""

from __future__ import annotations

import weakref
from copy import deepcopy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.fx.experimental.optimization import fuse as fx_fuse
from torch.fx.proxy import TraceError

from explorer.heatmap.hooks import evaluating, hooked
from explorer.heatmap.maps import ClassIndexError, capture

CAM_METHODS = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "scorecam", "eigencam")
GRADIENT_METHODS = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam")
SLOW_METHODS = ("scorecam",)  # one forward pass per channel
SCORE_BATCH = 32  # masked images per pass: 64 cost ~7 % more CPU time here (cache), 16 no less
EPS = 1e-8  # keeps divisions by an all-zero channel finite (torchcam's value)

METHOD_NOTES = {
    "gradcam": "Grad-CAM (Selvaraju et al.): channels weighted by their mean gradient, summed, "
    "ReLU. The same as fastai's `GradCAM` and the page's library variant.",
    "gradcam++": "Grad-CAM++ (Chattopadhyay et al.): each channel's weight sums only its positive "
    "gradients, each scaled by α = g² / (2g² + g³·ΣA), so small objects count as much as big ones.",
    "xgradcam": "XGrad-CAM (Fu et al.): weight = Σ(gradient × activation) / Σ activation.",
    "hirescam": "HiResCAM (Draelos & Carin): gradient × activation at every cell, summed over "
    "channels, no averaging, so the map shows exactly what adds to the score.",
    "layercam": "LayerCAM (Jiang et al.): positive gradient × activation at every cell, summed.",
    "scorecam": "Score-CAM (Wang et al.): no gradients; each channel, stretched over the image as "
    "a mask, is shown to the network, and the class score it keeps is its weight (slow: one "
    "forward per channel).",
    "eigencam": "Eigen-CAM (Muhammad & Yeasin): the first principal component of the activations, "
    "class-agnostic; its sign is chosen to agree with the mean activation.",
}


def _check_method(method: str) -> None:
    if method not in CAM_METHODS:
        raise ValueError(f"Unknown CAM method {method!r}; use one of {CAM_METHODS}.")


def _weighted(acts: Tensor, weights: Tensor) -> Tensor:
    """ReLU of the channel-weighted sum: every method with one weight per channel ends here.

    Shape:
        acts: (C, h, w), weights: (C,) -> (h, w)
    """
    return (acts * weights[:, None, None]).sum(0).clamp_min(0)


def gradcampp_weights(acts: Tensor, grads: Tensor) -> Tensor:
    """Grad-CAM++'s channel weights: Σ_ij relu(g_ij)·α_ij, α = g² / (2g² + g³·Σ_ab A_ab), and
    α = 0 where g = 0 (the paper's closed form for an exponential score; pytorch-grad-cam's).

    Shape:
        acts, grads: (C, h, w) -> (C,)
    """
    g2, g3 = grads.pow(2), grads.pow(3)
    denom = 2 * g2 + g3 * acts.sum(dim=(1, 2), keepdim=True)
    safe = torch.where(denom != 0, denom, torch.ones_like(denom))
    alpha = torch.where((grads != 0) & (denom != 0), g2 / safe, torch.zeros_like(g2))
    return (alpha * grads.clamp_min(0)).sum(dim=(1, 2))


def gradient_cam(acts: Tensor, grads: Tensor, method: str = "gradcam") -> Tensor:
    """A gradient method's map from one layer's activations and class gradients.

    Args:
        acts: the layer's output for one image.
        grads: d(class score)/d(acts).
        method: one of GRADIENT_METHODS.

    Returns:
        The map, ReLU applied, not normalised.

    Shape:
        acts, grads: (C, h, w) -> (h, w)
    """
    if method == "gradcam":
        return _weighted(acts, grads.mean(dim=(1, 2)))
    if method == "gradcam++":
        return _weighted(acts, gradcampp_weights(acts, grads))
    if method == "xgradcam":
        w = (grads * acts).sum(dim=(1, 2)) / (acts.sum(dim=(1, 2)) + EPS)
        return _weighted(acts, w)
    if method == "hirescam":
        return (grads * acts).sum(0).clamp_min(0)
    if method == "layercam":
        return (grads.clamp_min(0) * acts).sum(0).clamp_min(0)
    raise ValueError(f"{method!r} is not a gradient method; use one of {GRADIENT_METHODS}.")


def eigen_cam(acts: Tensor) -> Tensor:
    """Eigen-CAM: the activations projected on their first principal component (over positions).

    A principal component's sign is arbitrary, so it is fixed to correlate positively with the
    mean activation (the lesson's map); then ReLU.

    Shape:
        (C, h, w) -> (h, w)
    """
    c, h, w = acts.shape
    a = acts.reshape(c, h * w).T.double()  # one row per position
    a = a - a.mean(dim=0)
    if h * w < 2 or not bool(a.abs().sum() > 0):
        return torch.zeros(h, w, dtype=acts.dtype, device=acts.device)
    _, _, vh = torch.linalg.svd(a, full_matrices=False)
    p = a @ vh[0]
    mean = acts.mean(0).flatten().double()
    if float(((p - p.mean()) * (mean - mean.mean())).sum()) < 0:
        p = -p
    return p.clamp_min(0).reshape(h, w).to(acts.dtype)


def normalise_channels(acts: Tensor) -> Tensor:
    """Each channel min-max scaled to [0, 1] (a constant channel becomes all 0), as Score-CAM's
    masks are: (a - min) / (max - min + EPS), like torchcam.

    Shape:
        (C, h, w) -> (C, h, w)
    """
    shifted = acts - acts.amin(dim=(1, 2), keepdim=True)
    return shifted / (shifted.amax(dim=(1, 2), keepdim=True) + EPS)


def fast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The reduced precision Score-CAM's masked passes may run in on this device: bfloat16 on a
    GPU or on a CPU with bfloat16 matrix units (AMX / AVX512-BF16, about 4x faster here), else
    None (full precision)."""
    if torch.device(device).type == "cuda":
        return torch.bfloat16
    cpu = torch.cpu
    if (
        getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        or getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
    ):
        return torch.bfloat16
    return None


_COPIES: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, nn.Module]] = weakref.WeakKeyDictionary()
_FX_FAILURES = (TraceError, TypeError, RuntimeError, NotImplementedError, AttributeError)


def _state_key(model: nn.Module) -> tuple | None:
    """What the model's numbers are now: every parameter's and buffer's identity, device and
    in-place version counter (an optimizer step, `load_state_dict` or BatchNorm's running
    statistics bump it); None when a tensor has no counter (made under inference mode)."""
    try:
        return tuple(
            (id(t), t.data_ptr(), t.dtype, t.device, t._version)
            for t in (*model.parameters(), *model.buffers())
        )
    except RuntimeError:
        return None


def _bare_copy(model: nn.Module) -> nn.Module:
    """A deep copy of the model without its hooks: a hook is someone else's (a torchcam
    extractor's, a closed `hooked` block's) and must neither run in our passes nor be copied
    (it may hold a lock, which cannot be)."""
    memo: dict[int, Any] = {
        id(v): type(v)()
        for m in model.modules()
        for name, v in vars(m).items()
        if "hooks" in name and isinstance(v, dict)
    }
    return deepcopy(model, memo)


def inference_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` for many inference passes of the same function: every BatchNorm after a
    convolution folded into it (torch.fx's `fuse`: w·γ/σ and (b-μ)·γ/σ+β, so eval BatchNorm's
    pass over every activation disappears) and the weights in channels-last layout (oneDNN's
    fast convolution layout on CPU). Equal to the model up to float rounding; the model itself is
    untouched. Kept per model until its weights change; a model fx cannot trace is copied as is.
    The copy is in eval mode whatever the model's mode.
    """
    key = _state_key(model)
    cached = _COPIES.get(model)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    try:
        copy: nn.Module = fx_fuse(_bare_copy(model).eval(), inplace=True)
    except _FX_FAILURES:  # data-dependent control flow, untraceable modules: no folding
        copy = _bare_copy(model)
    copy = copy.eval().to(memory_format=torch.channels_last)
    for p in copy.parameters():
        p.requires_grad_(False)
    if key is not None:
        _COPIES[model] = (key, copy)
    return copy


def unique_masks(acts: Tensor) -> tuple[Tensor, Tensor]:
    """Score-CAM's masks at the layer's resolution, each distinct one once.

    Channels whose min-max normalised maps are equal (every constant channel gives the all-zero
    map; a sparse channel's map can equal another's) show the network the same masked image, so
    one forward pass scores them all.

    Returns:
        (the distinct masks, index of each channel's mask among them).

    Shape:
        (C, h, w) -> (U, h, w), (C,)
    """
    masks = normalise_channels(acts.float())
    flat, inverse = torch.unique(masks.flatten(1), dim=0, return_inverse=True)
    return flat.view(-1, *masks.shape[1:]), inverse


def score_weights(
    model: nn.Module,
    x: Tensor,
    acts: Tensor,
    class_idx: int,
    batch_size: int = SCORE_BATCH,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Score-CAM's channel weights: softmax over channels of the class logit of x × mask_k.

    mask_k is channel k min-max normalised at the layer's resolution, then upsampled bilinearly to
    the input (torchcam's order). What makes it faster than torchcam at full precision, each
    exact up to float rounding: channels with the same mask share one pass (`unique_masks`); the
    passes run through `inference_copy` (BatchNorm folded, channels-last) under inference mode;
    each batch is written into one preallocated channels-last input.

    Args:
        model: the network.
        x: the normalised image.
        acts: the layer's output for x.
        class_idx: the class whose logit is kept.
        batch_size: masked images per forward pass.
        dtype: run the masked passes under autocast to this dtype (e.g. `fast_dtype(device)`);
            None keeps full precision (what torchcam computes).

    Shape:
        x: (1, 3, H, W), acts: (C, h, w) -> (C,)
    """
    device = next(model.parameters()).device
    x = x.to(device)
    masks_small, inverse = unique_masks(acts.to(device))
    n = masks_small.shape[0]
    scores = torch.empty(n, device=device)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
    with evaluating(model, no_grad_params=False):
        net = inference_copy(model)  # outside inference mode: it may be kept for later calls
    with torch.inference_mode():
        buffer = torch.empty((min(batch_size, n), *x.shape[1:]), device=device, dtype=x.dtype)
        buffer = buffer.contiguous(memory_format=torch.channels_last)
        for lo in range(0, n, batch_size):
            chunk = masks_small[lo : lo + batch_size, None]
            if chunk.shape[-2:] != x.shape[-2:]:
                chunk = F.interpolate(
                    chunk, size=x.shape[-2:], mode="bilinear", align_corners=False
                )
            masked = torch.mul(x, chunk, out=buffer[: chunk.shape[0]])
            with autocast:
                scores[lo : lo + chunk.shape[0]] = net(masked)[:, class_idx].float()
    return scores[inverse].softmax(0)


def score_cam(
    model: nn.Module,
    x: Tensor,
    acts: Tensor,
    class_idx: int,
    batch_size: int = SCORE_BATCH,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Score-CAM: ReLU of the activations weighted by `score_weights` (see there for `dtype`).

    Shape:
        x: (1, 3, H, W), acts: (C, h, w) -> (h, w)
    """
    w = score_weights(model, x, acts, class_idx, batch_size, dtype)
    return _weighted(acts.float().to(w.device), w)


def forward_acts(model: nn.Module, x: Tensor, layer: str) -> tuple[Tensor, Tensor]:
    """(the layer's activations, the logits) of one image in one forward pass without autograd.

    Shape:
        x: (1, 3, H, W) -> (C, h, w), (n_classes,)
    """
    with hooked(model, layer) as hook, torch.no_grad():
        logits = model(x.to(hook._device()))
        assert hook.acts is not None
        return hook.acts[0], logits[0]


def cam_map(
    model: nn.Module,
    x: Tensor,
    layer: str,
    class_idx: int | None = None,
    method: str = "gradcam",
    batch_size: int = SCORE_BATCH,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """One CAM method's map of one image at one layer for one class.

    Args:
        model: the network.
        x: a normalised batch of one image.
        layer: a name from `model.named_modules()`.
        class_idx: the class to explain; None means the predicted class (eigencam ignores it).
        method: one of CAM_METHODS.
        batch_size: Score-CAM's masked images per forward pass.
        dtype: Score-CAM's masked passes under autocast to this dtype (None: full precision).

    Returns:
        The map at the layer's resolution, ReLU applied, not normalised; hooks are removed and
        the model is left as it was.

    Shape:
        x: (1, 3, H, W) -> (h, w)
    """
    _check_method(method)
    if method in GRADIENT_METHODS:
        c = capture(model, x, layer, class_idx)
        return gradient_cam(c.acts, c.grads, method)
    acts, logits = forward_acts(model, x, layer)
    if method == "eigencam":
        return eigen_cam(acts)
    n = logits.shape[0]
    k = int(logits.argmax()) if class_idx is None else int(class_idx)
    if not 0 <= k < n:
        raise ClassIndexError(
            f"Class index {k} is out of range for a model with {n} classes; pick 0–{n - 1}."
        )
    return score_cam(model, x, acts, k, batch_size, dtype)


def method_map(acts: Tensor, grads: Tensor, method: str) -> Tensor:
    """The map of any method that needs only stored activations and gradients (not Score-CAM).

    Shape:
        acts, grads: (C, h, w) -> (h, w)
    """
    if method == "eigencam":
        return eigen_cam(acts)
    return gradient_cam(acts, grads, method)
