"""The data a run trains on: every image decoded once into a presized uint8 cache on the device,
split like the lesson (20 % validation, seed 2), and shrunk for smaller stages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from explorer.train.config import ConfigError, TrainConfig


@dataclass
class Prepared:
    """The presized uint8 cache, on the training device, split into train and valid."""

    train_x: torch.Tensor  # (N, 3, P, P) uint8
    train_y: torch.Tensor  # (N,) int64
    valid_x: torch.Tensor  # (M, 3, P, P) uint8
    valid_y: torch.Tensor  # (M,) int64
    classes: list[str]
    skipped: int  # unreadable images left out


def presize_side(config: TrainConfig) -> int:
    """Side of the one-time cache: a little larger than the largest stage, as fastai presizes."""
    return round(max(s.size for s in config.stages) * config.presize_scale)


def _decode(
    config: TrainConfig, side: int, log: Callable[[str], None]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """(images (N, 3, side, side) uint8, labels (N,), readable (N,) bool, class names)."""
    from explorer import data

    if config.data == "shapes":
        log(f"Generating {config.n_shapes} synthetic shape images at {side} px")
        sd = data.make_shapes(config.n_shapes, size=side, seed=config.seed)
        return sd.images, sd.labels, torch.ones(len(sd.labels), dtype=torch.bool), sd.classes
    if config.data == "pets":
        items = data.pets_items()
    else:  # TrainConfig has checked the spec: "folder:PATH"
        items = data.folder_items(config.data.removeprefix("folder:"), regex=config.label_regex)
    log(f"Decoding {len(items.paths)} images once into a {side} px cache")
    x, ok = data.presize(items.paths, side, workers=config.workers or os.cpu_count() or 1)
    return x, torch.as_tensor(items.labels, dtype=torch.int64), ok, list(items.classes)


def prepare_data(config: TrainConfig, device: torch.device, log: Callable[[str], None]) -> Prepared:
    """Decode and presize every image once into a uint8 tensor cache on `device`.

    Raises:
        explorer.data.DatasetUnavailable: when the dataset is not on disk (or cannot be read).
        explorer.data.FolderError: a folder that holds no usable images or a bad label regex.
        ConfigError: a split too small for one batch and one validation image.
    """
    from explorer import data

    x, y, ok, classes = _decode(config, presize_side(config), log)
    train, valid = data.split_indices(len(y), valid_pct=config.valid_pct, seed=config.seed)
    train_idx = torch.as_tensor(train, dtype=torch.int64)
    valid_idx = torch.as_tensor(valid, dtype=torch.int64)
    # Split first, then drop unreadable images: the split is the lesson's whatever fails to decode.
    train_idx = train_idx[ok[train_idx]]
    valid_idx = valid_idx[ok[valid_idx]]
    if len(train_idx) < config.batch_size or len(valid_idx) == 0:
        raise ConfigError(
            f"Only {len(train_idx)} training and {len(valid_idx)} validation images: need at least "
            f"one batch ({config.batch_size}) to train and one image to validate. Use more images "
            "or a smaller batch size."
        )
    return Prepared(
        train_x=x[train_idx].to(device),
        train_y=y[train_idx].to(device),
        valid_x=x[valid_idx].to(device),
        valid_y=y[valid_idx].to(device),
        classes=classes,
        skipped=int((~ok).sum()),
    )


def resize_batch(x: torch.Tensor, size: int, chunk: int = 256) -> torch.Tensor:
    """Deterministic centre-square resize (antialiased bilinear), uint8 in and out.

    Used for validation and to shrink the cache for smaller stages.

    Shape:
        (B, 3, H, W) uint8 -> (B, 3, size, size) uint8
    """
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    x = x[..., top : top + s, left : left + s]
    if s == size:
        return x.contiguous()
    out = torch.empty((x.shape[0], 3, size, size), dtype=torch.uint8, device=x.device)
    for i in range(0, x.shape[0], chunk):
        part = x[i : i + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True)
        out[i : i + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out
