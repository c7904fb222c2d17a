"""After a run, like fastai's `ClassificationInterpretation`: the validation set the run used,
rebuilt from its config, its confusion matrix, the most confused pairs and the top losses, each
with its Grad-CAM; computed once and cached in the run's folder (runs/<id>/interpret.*).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from explorer.errors import UserError

# Rebuilding a shapes run's validation split makes only those images, but draws the noise of all
# of them (a third of the images, float32): n_shapes × side² bounds that draw (~0.5 GB).
MAX_SHAPES_PIXELS = 400_000_000
TOP_K = 9  # top losses kept (a 3 × 3 grid, as fastai's plot_top_losses(9))
CACHE_VERSION = 1  # bump when what interpret.* holds changes


class InterpretError(UserError):
    """A run whose validation set or checkpoint cannot be used (gone, overwritten, too large)."""


@dataclass
class ValidSet:
    """The validation images of a run: uint8 tensors (shapes) or files (pets, folders)."""

    classes: list[str]
    labels: list[int]
    size: int  # the side the run's last stage trained and validated at
    side: int  # the side the run presized its cache to (before resizing to `size`)
    images: Tensor | None = None  # (M, 3, side, side) uint8, for shapes
    boxes: Tensor | None = None  # (M, 4) the object's box at `side` px, for shapes
    paths: list[Path] | None = None  # the image files, for pets and folders

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, i: int) -> Image.Image:
        """Validation image i as the run's cache held it (a centred square)."""
        from explorer import images

        if self.images is not None:
            return images.to_image(self.images[i].float() / 255)
        assert self.paths is not None
        return images.open_image(self.paths[i])

    def box(self, i: int) -> list[float] | None:
        """The object's box in image i (x0, y0, x1, y1 in pixels), when known."""
        return None if self.boxes is None else [float(v) for v in self.boxes[i]]


def validation_set(config: Mapping[str, Any]) -> ValidSet:
    """The validation images a run used, rebuilt from its config with `explorer.data`: the same
    items, the same split (valid_pct, seed) and, for shapes, the same generated images.

    Raises:
        explorer.train.ConfigError: a config that is not a run's.
        explorer.data.DatasetUnavailable: the run's dataset is not on this machine.
        InterpretError: shapes too many to make again here.
    """
    from explorer import data
    from explorer.train.config import TrainConfig
    from explorer.train.prepare import presize_side

    cfg = TrainConfig.from_dict(config)
    side, size = presize_side(cfg), cfg.stages[-1].size
    if cfg.data == "shapes":
        if cfg.n_shapes * side * side > MAX_SHAPES_PIXELS:
            raise InterpretError(
                f"This run's {cfg.n_shapes} shapes at {side} px are too many to make again here; "
                "interpret a run with fewer or smaller shapes."
            )
        _, valid = data.split_indices(cfg.n_shapes, valid_pct=cfg.valid_pct, seed=cfg.seed)
        sd = data.make_shapes(cfg.n_shapes, size=side, seed=cfg.seed, only=valid)
        return ValidSet(
            classes=list(sd.classes),
            labels=sd.labels.tolist(),
            size=size,
            side=side,
            images=sd.images,
            boxes=sd.boxes,
        )
    if cfg.data == "pets":
        items = data.pets_items()
    else:
        items = data.folder_items(cfg.data.removeprefix("folder:"), regex=cfg.label_regex)
    _, valid = data.split_indices(len(items.labels), valid_pct=cfg.valid_pct, seed=cfg.seed)
    return ValidSet(
        classes=list(items.classes),
        labels=[items.labels[i] for i in valid],
        size=size,
        side=side,
        paths=[items.paths[i] for i in valid],
    )


def confusion_matrix(labels: Tensor, preds: Tensor, n_classes: int) -> Tensor:
    """Counts of (actual, predicted) pairs: row = the true class, column = the prediction.

    Shape:
        labels, preds: (N,) -> (n_classes, n_classes) int64
    """
    flat = labels.long() * n_classes + preds.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).view(n_classes, n_classes)


def most_confused(
    matrix: Tensor, classes: Sequence[str], min_val: int = 1
) -> list[tuple[str, str, int]]:
    """fastai's `most_confused`: (actual, predicted, count) off the diagonal, most frequent first,
    only pairs seen at least `min_val` times; ties in class order.

    Shape:
        matrix: (n_classes, n_classes)
    """
    pairs = [
        (str(classes[i]), str(classes[j]), int(matrix[i, j]))
        for i in range(matrix.shape[0])
        for j in range(matrix.shape[1])
        if i != j and int(matrix[i, j]) >= min_val
    ]
    return sorted(pairs, key=lambda p: -p[2])


@dataclass
class TopLoss:
    """One of the validation images the model got most wrong."""

    index: int  # into the validation set
    label: int  # the true class
    pred: int  # the predicted class
    loss: float  # cross-entropy of the true class
    prob: float  # the probability the model gave the true class


def top_losses(logits: Tensor, labels: Tensor, k: int = TOP_K) -> list[TopLoss]:
    """The k validation images with the largest cross-entropy loss, largest first.

    Shape:
        logits: (N, n_classes), labels: (N,)
    """
    logits = logits.float()
    losses = F.cross_entropy(logits, labels.long(), reduction="none")
    probs = logits.softmax(-1)
    order = torch.argsort(losses, descending=True, stable=True)[:k]
    return [
        TopLoss(
            index=int(i),
            label=int(labels[i]),
            pred=int(logits[i].argmax()),
            loss=float(losses[i]),
            prob=float(probs[i, labels[i]]),
        )
        for i in order
    ]


def batch_at(
    vs: ValidSet, idx: Sequence[int], mean: Sequence[float], std: Sequence[float]
) -> Tensor:
    """Validation images `idx` as the run validated them: the presized square resized to the
    last stage's size (antialiased bilinear), normalised.

    Shape:
        -> (len(idx), 3, size, size) float
    """
    from explorer import data
    from explorer.images import normalize
    from explorer.train.prepare import resize_batch

    if vs.images is not None:
        raw = vs.images[torch.as_tensor(list(idx), dtype=torch.int64)]
    else:
        assert vs.paths is not None
        raw, ok = data.presize([vs.paths[i] for i in idx], vs.side)
        if not bool(ok.all()):
            raise InterpretError("Some validation images can no longer be read.")
    x = resize_batch(raw, vs.size).float() / 255
    return normalize(x, mean, std)


def predict(
    model: nn.Module, vs: ValidSet, mean: Sequence[float], std: Sequence[float], bs: int = 64
) -> Tensor:
    """The model's logits for every validation image, in batches, in eval mode.

    Shape:
        -> (len(vs), n_classes)
    """
    from explorer.heatmap import evaluating

    device = next(model.parameters()).device
    out = []
    with evaluating(model, no_grad_params=False), torch.inference_mode():
        for start in range(0, len(vs), bs):
            idx = range(start, min(start + bs, len(vs)))
            out.append(model(batch_at(vs, idx, mean, std).to(device)).float().cpu())
    return torch.cat(out)


@dataclass
class Interpretation:
    """What the page shows after a run, as cached in runs/<id>/interpret.*."""

    classes: list[str]
    size: int
    layer: str
    checkpoint: str
    labels: Tensor  # (N,) int64
    logits: Tensor  # (N, n_classes)
    top: list[TopLoss]
    maps: Tensor  # (k, h, w): Grad-CAM of each top loss for its predicted class

    @property
    def confusion(self) -> Tensor:
        return confusion_matrix(self.labels, self.logits.argmax(-1), len(self.classes))

    @property
    def accuracy(self) -> float:
        return float((self.logits.argmax(-1) == self.labels).float().mean())


RUN_KEYS = (
    "data",
    "arch",
    "stages",
    "n_shapes",
    "seed",
    "valid_pct",
    "label_regex",
    "presize_scale",
)


def same_data(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two run configs train the same model on the same split (the fields that decide
    which checkpoint and validation set a run has; device or thread counts do not)."""
    return all(a.get(k) == b.get(k) for k in RUN_KEYS)


def _files(run_dir: Path) -> tuple[Path, Path]:
    return run_dir / "interpret.safetensors", run_dir / "interpret.json"


def load_cached(run_dir: Path, stamp: float, layer: str) -> Interpretation | None:
    """The cached interpretation of a run, if it was made from this checkpoint (`stamp` is its
    saved_at) at this layer; None otherwise."""
    st_path, js_path = _files(run_dir)
    try:
        meta = json.loads(js_path.read_text())
        tensors = safetensors.torch.load_file(str(st_path))
    except (OSError, ValueError):
        return None
    if meta.get("version") != CACHE_VERSION or meta.get("stamp") != stamp:
        return None
    if meta.get("layer") != layer:
        return None
    return Interpretation(
        classes=list(meta["classes"]),
        size=int(meta["size"]),
        layer=layer,
        checkpoint=str(meta["checkpoint"]),
        labels=tensors["labels"],
        logits=tensors["logits"],
        top=[TopLoss(**t) for t in meta["top"]],
        maps=tensors["maps"],
    )


def _save(run_dir: Path, it: Interpretation, stamp: float) -> None:
    st_path, js_path = _files(run_dir)
    tensors = {"labels": it.labels, "logits": it.logits, "maps": it.maps.contiguous()}
    meta = {
        "version": CACHE_VERSION,
        "stamp": stamp,
        "classes": it.classes,
        "size": it.size,
        "layer": it.layer,
        "checkpoint": it.checkpoint,
        "top": [t.__dict__ for t in it.top],
    }
    # Temp files then a rename: a page that reads while another writes sees old or new, never half.
    tmp_st, tmp_js = st_path.with_suffix(".tmp1"), js_path.with_suffix(".tmp2")
    safetensors.torch.save_file(tensors, str(tmp_st))
    tmp_js.write_text(json.dumps(meta))
    tmp_st.replace(st_path)
    tmp_js.replace(js_path)


def interpret_run(run_dir: Path | str, layer: str = "0", k: int = TOP_K) -> Interpretation:
    """Interpret a finished run on its own validation set, once: later calls read the cache.

    Args:
        run_dir: the run's folder (holding config.json).
        layer: the layer the top losses' Grad-CAM hooks.
        k: how many top losses.

    Raises:
        InterpretError: no config, or the checkpoint is gone or was overwritten by another run.
        explorer.data.DatasetUnavailable: the run's dataset is not on this machine.
    """
    from explorer import models
    from explorer.heatmap import cam_map

    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise InterpretError(f"Run {run_dir.name} has no readable config.json.") from exc
    name = str(config.get("name", ""))
    found = [c for c in models.list_checkpoints() if c["name"] == name and "error" not in c]
    if not found:
        raise InterpretError(f"The checkpoint {name!r} of run {run_dir.name} is not in weights/.")
    if not same_data(found[0].get("config") or {}, config):
        raise InterpretError(
            f"The checkpoint {name!r} was overwritten by another run; retrain to interpret it."
        )
    stamp = float(found[0].get("saved_at") or 0)
    cached = load_cached(run_dir, stamp, layer)
    if cached is not None:
        return cached
    model, meta = models.load(name)
    vs = validation_set(config)
    from explorer.images import IMAGENET_MEAN, IMAGENET_STD

    mean = list(meta.get("mean") or IMAGENET_MEAN)
    std = list(meta.get("std") or IMAGENET_STD)
    logits = predict(model, vs, mean, std)
    labels = torch.as_tensor(vs.labels, dtype=torch.int64)
    top = top_losses(logits, labels, k)
    maps = [cam_map(model, batch_at(vs, [t.index], mean, std), layer, t.pred) for t in top]
    it = Interpretation(
        classes=list(meta["classes"]),
        size=vs.size,
        layer=layer,
        checkpoint=name,
        labels=labels,
        logits=logits,
        top=top,
        maps=torch.stack(maps) if maps else torch.zeros(0, 1, 1),
    )
    _save(run_dir, it, stamp)
    return it
