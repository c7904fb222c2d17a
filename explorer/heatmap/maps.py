"""Activations and Grad-CAM for one image: the maps the lesson draws, and channel rankings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from explorer.errors import UserError
from explorer.heatmap.hooks import hooked

VARIANTS = ("lesson", "library")
RANKINGS = ("activation", "weight", "contribution")


class ClassIndexError(UserError):
    """A class to explain that the model does not have."""


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
            raise ClassIndexError(
                f"Class index {k} is out of range for a model with {n} classes; pick 0–{n - 1}."
            )
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


def heat(acts: Tensor, grads: Tensor | None, kind: str = "mean") -> Tensor:
    """One map to show: the lesson's mean activation (`mean`), a Grad-CAM variant (`lesson`,
    `library`) or a CAM method that needs only these tensors (any but Score-CAM).

    Shape:
        acts, grads: (C, h, w) -> (h, w)
    """
    if kind == "mean":
        return acts.mean(0)
    if grads is None:
        raise ValueError(f"The {kind} map needs the gradients.")
    if kind in VARIANTS:
        return cam(acts, grads, kind)
    from explorer.heatmap.methods import method_map  # methods builds on this module

    return method_map(acts, grads, kind)


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


def channel_stats(acts: Tensor, grads: Tensor) -> dict[str, list[float]]:
    """Per-channel numbers the channel browser shows: mean, min and max activation, and the
    Grad-CAM weight (mean gradient), each a list of C floats.

    Shape:
        acts, grads: (C, h, w)
    """
    a = acts.detach().float().cpu()
    return {
        "mean": a.mean(dim=(1, 2)).tolist(),
        "min": a.amin(dim=(1, 2)).tolist(),
        "max": a.amax(dim=(1, 2)).tolist(),
        "weight": channel_weights(grads.detach().float().cpu()).tolist(),
    }


def confidence(logits: Tensor) -> tuple[float, float, float]:
    """(top softmax probability, smallest logit, largest logit): why random weights look sure.

    Shape:
        logits: (n_classes,)
    """
    x = logits.detach().float()
    return float(x.softmax(-1).max()), float(x.min()), float(x.max())
