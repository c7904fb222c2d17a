"""Does the model still see it? Top-1 predictions on augmented tiles, the tiles whose label flips
against the un-augmented picture, and a model's accuracy against one transform's magnitude.

The model runs under `torch.inference_mode` inside `explorer.heatmap.evaluating` (its lock held,
eval mode, every flag restored), so a cached model shared by sessions is never disturbed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from explorer.augment.apply import apply
from explorer.augment.series import SERIES, SERIES_IDENTITY, drop_point, magnitude_series

Stats = tuple[float, float, float]


@dataclass(frozen=True)
class Prediction:
    """Top-1 predictions for n pictures."""

    label: Tensor  # (n,) int64: index into the model's classes
    confidence: Tensor  # (n,) float: softmax probability of that label


def predict(
    model: nn.Module,
    tiles: Tensor,
    mean: Stats,
    std: Stats,
    batch_size: int = 64,
    size: int | None = None,
) -> Prediction:
    """The model's top-1 label and its softmax probability for each tile.

    Args:
        model: a classifier returning logits (n, classes).
        tiles: pictures in [0, 1], normalised here with `mean` and `std` (the checkpoint's stats).
        mean, std: per-channel normalisation the model was trained with.
        batch_size: tiles per forward pass (memory stays bounded for long sweeps).
        size: the model's input side: tiles of another size are resized (antialiased) first.

    Shape:
        tiles (n, 3, H, W) -> label (n,), confidence (n,)
    """
    from explorer.heatmap import evaluating  # heavy package: only when a model is used

    if tiles.ndim != 4 or tiles.shape[1] != 3:
        raise ValueError(f"Expected tiles (n, 3, H, W), got {tuple(tiles.shape)}.")
    labels, confs = [], []
    with evaluating(model) as net, torch.inference_mode():
        p = next(iter(net.parameters()), None)
        device, dtype = (p.device, p.dtype) if p is not None else (tiles.device, torch.float32)
        m = torch.tensor(mean, device=device, dtype=dtype).view(1, 3, 1, 1)
        s = torch.tensor(std, device=device, dtype=dtype).view(1, 3, 1, 1)
        for chunk in tiles.split(batch_size):
            x = chunk.to(device=device, dtype=dtype)
            if size is not None and x.shape[-2:] != (size, size):
                x = F.interpolate(x, (size, size), mode="bilinear", antialias=True)
            x = (x - m) / s
            probs = net(x).float().softmax(dim=1)
            conf, label = probs.max(dim=1)
            labels.append(label.cpu())
            confs.append(conf.cpu())
    return Prediction(torch.cat(labels), torch.cat(confs))


def label_flips(augmented: Prediction, original: Prediction) -> Tensor:
    """Which augmented tiles the model labels differently from the un-augmented picture.

    `original` holds one prediction per tile, or one for all tiles (they share a picture).

    Shape:
        (n,), (n,) or (1,) -> (n,) bool
    """
    return augmented.label != original.label.expand_as(augmented.label)


@dataclass(frozen=True)
class TileMark:
    """What one tile shows about the model's view of it."""

    text: str  # e.g. "tabby 92%"
    detail: str  # e.g. "tabby 92% · un-augmented: tabby 97% · true: tabby"
    flipped: bool  # the label differs from the un-augmented picture's
    wrong: bool | None  # the label differs from the true one (None: truth unknown)


def tile_marks(
    augmented: Prediction,
    original: Prediction,
    classes: Sequence[str],
    truth: Sequence[str | None] | None = None,
) -> list[TileMark]:
    """One mark per augmented tile: its top-1 label and confidence, and whether it flipped.

    Args:
        augmented: predictions for n tiles.
        original: for the un-augmented picture(s): one for all tiles, or one per tile.
        classes: the model's class names.
        truth: the true class name of each tile's picture, where known.
    """
    flips = label_flips(augmented, original).tolist()
    ref = original.label.expand_as(augmented.label).tolist()
    ref_conf = original.confidence.expand_as(augmented.confidence).tolist()
    marks = []
    for i, (label, conf) in enumerate(
        zip(augmented.label.tolist(), augmented.confidence.tolist(), strict=True)
    ):
        text = f"{classes[label]} {100 * conf:.0f}%"
        detail = f"{text} · un-augmented: {classes[ref[i]]} {100 * ref_conf[i]:.0f}%"
        true = truth[i] if truth is not None else None
        if true is not None:
            detail += f" · true: {true}"
        wrong = None if true is None else classes[label] != true
        marks.append(TileMark(text, detail, flips[i], wrong))
    return marks


@dataclass(frozen=True)
class Sweep:
    """A model's accuracy and mean top-1 confidence against one transform's magnitude."""

    name: str  # the transform (a key of SERIES)
    magnitudes: list[float]  # the first is the unchanged picture (SERIES_IDENTITY)
    accuracy: list[float]  # % of pictures labelled correctly at each magnitude
    confidence: list[float]  # mean top-1 probability at each magnitude, 0..1
    drop_at: float | None  # where accuracy first falls `drop` points below the first; None: never
    n: int  # pictures per magnitude


def sweep_magnitudes(name: str, strongest: float | None = None, steps: int = 9) -> list[float]:
    """`steps` evenly spaced magnitudes from the transform's identity to `strongest` (default: the
    SERIES magnitude farthest from the identity; the last of equally far ones)."""
    if name not in SERIES:
        raise ValueError(f"No series for {name!r}; choose one of {', '.join(SERIES)}.")
    if steps < 2:
        raise ValueError("A sweep needs at least two magnitudes.")
    start = SERIES_IDENTITY[name]
    if strongest is None:
        far = max(abs(m - start) for m in SERIES[name][0])
        strongest = [m for m in SERIES[name][0] if abs(m - start) == far][-1]
    return [start + (strongest - start) * i / (steps - 1) for i in range(steps)]


def robustness(
    model: nn.Module,
    pictures: Tensor,
    labels: Tensor,
    name: str,
    magnitudes: Sequence[float],
    mean: Stats,
    std: Stats,
    size: int,
    padding_mode: str = "reflection",
    drop: float = 5.0,
) -> Sweep:
    """Accuracy and mean confidence of `model` on `pictures` under transform `name`, per magnitude.

    Every picture gets the same parameters at a magnitude (`magnitude_series`), so the curve
    measures the transform, not a random draw.

    Args:
        model: a classifier returning logits.
        pictures: the images, uint8 or float in [0, 1], one size.
        labels: their true class indices.
        name: a key of SERIES.
        magnitudes: increasing strengths, the first the unchanged picture (see sweep_magnitudes).
        mean, std: the model's normalisation.
        size: output side of each tile (the model's input size).
        padding_mode: what is sampled outside the picture.
        drop: accuracy points that count as "no longer recognised" (drop_point).

    Shape:
        pictures (N, 3, H, W), labels (N,)
    """
    if pictures.ndim != 4 or labels.shape != (pictures.shape[0],):
        raise ValueError("Give pictures (N, 3, H, W) and one label per picture.")
    params, _ = magnitude_series(name, list(magnitudes))
    n = pictures.shape[0]
    accuracy, confidence = [], []
    for j in range(len(magnitudes)):
        one = params[[j] * n]  # the same parameters for every picture
        pred = predict(model, apply(pictures, one, size, padding_mode), mean, std)
        accuracy.append(100.0 * float((pred.label == labels.cpu()).double().mean()))
        confidence.append(float(pred.confidence.double().mean()))
    mags = [float(m) for m in magnitudes]
    return Sweep(name, mags, accuracy, confidence, drop_point(mags, accuracy, drop), n)
