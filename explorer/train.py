"""The lesson's training run: one-cycle fits, freeze/unfreeze, discriminative LRs, progressive resize.

`fit(config)` runs the same code on CPU (fp32) and CUDA (bf16, channels_last, data on the GPU), writes
events to a JSONL file and checkpoints through `explorer.models`; `python -m explorer.train` is its CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import UserError
from explorer.images import IMAGENET_MEAN, IMAGENET_STD

LR = float | tuple[float, float]
Event = dict[str, Any]


@dataclass
class Stage:
    """One `fit_one_cycle` call of the lesson."""

    epochs: int  # passes over the training set in this cycle
    size: int  # side (px) of the square training and validation images in this stage
    lr: LR  # peak LR: x = slice(x) (head x, body x/10), (lo, hi) = slice(lo, hi) spread over groups
    frozen: bool  # True: train only the head and the BatchNorm layers (fastai's freeze())
    pct_start: float = 0.3  # fraction of the cycle's steps spent warming the LR up


def _lesson_stages() -> list[Stage]:
    return [
        Stage(epochs=3, size=224, lr=1e-2, frozen=True, pct_start=0.8),
        Stage(epochs=2, size=224, lr=(1e-6, 1e-3), frozen=False, pct_start=0.8),
        Stage(epochs=2, size=352, lr=(1e-6, 1e-4), frozen=False, pct_start=0.3),
    ]


@dataclass
class TrainConfig:
    """Everything a run needs; the defaults are the lesson's recipe (see `recipe`)."""

    data: str = "pets"  # "pets", "shapes" or "folder:PATH"
    arch: str = "resnet34"  # a name in explorer.models.ARCHS
    name: str = "352"  # checkpoint name: weights/NAME.safetensors + NAME.json
    stages: list[Stage] = field(default_factory=_lesson_stages)  # the fits, in order
    batch_size: int = 64  # images per training step (the lesson's bs)
    padding_mode: str = (
        "reflection"  # what augmentation shows outside the image: zeros/border/reflection
    )
    augment: str = "lesson"  # "lesson" = get_transforms(max_rotate=20, ...) of the notebook; "none"
    pretrained: bool = True  # start from ImageNet weights (needs them cached or a network)
    bn_final: bool = True  # BatchNorm on the logits, as the lesson's create_cnn(bn_final=True)
    wd: float = 1e-2  # AdamW's decoupled weight decay (fastai's default)
    moms: tuple[float, float] = (0.95, 0.85)  # momentum (Adam's beta1) goes high -> low -> high
    beta2: float = 0.99  # Adam's second-moment decay (fastai's default)
    div_factor: float = 25.0  # the cycle starts at lr_max / div_factor
    final_div: float | None = None  # ends near lr_max / final_div; None = div_factor * 1e4
    valid_pct: float = 0.2  # share of the items held out for validation
    seed: int = (
        2  # split, initialisation, shuffling and augmentation seed (the lesson's split seed)
    )
    recipe: str = ""  # the named recipe this config started from ("" = none); for the page
    presize_scale: float = 1.15  # the cache holds images this much larger than a stage's size
    n_shapes: int = 2000  # number of synthetic images when data == "shapes"
    label_regex: str | None = None  # folder data: regex on the file name, None = sub-folder names
    device: str | None = None  # "cpu" or "cuda"; None = CUDA when present
    workers: int = 0  # decoding threads for the one-time presize; 0 = one per CPU core
    cpu_threads: int = 0  # torch CPU threads for the CLI process; 0 = torch's default (all cores)

    @property
    def total_epochs(self) -> int:
        return sum(s.epochs for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (round-trips through `TrainConfig.from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from `to_dict` output (e.g. a run's config.json); unknown keys fail."""
        d = dict(d)
        stages = [_stage_from_dict(s) for s in d.pop("stages", [])]
        if "moms" in d:
            d["moms"] = tuple(d["moms"])
        cfg = cls(**d)
        if stages:
            cfg.stages = stages
        return cfg


def _stage_from_dict(s: dict[str, Any]) -> Stage:
    lr = s["lr"]
    lr = (float(lr[0]), float(lr[1])) if isinstance(lr, list | tuple) else float(lr)
    return Stage(
        epochs=int(s["epochs"]),
        size=int(s["size"]),
        lr=lr,
        frozen=bool(s["frozen"]),
        pct_start=float(s.get("pct_start", 0.3)),
    )


RECIPES: dict[str, str] = {
    "lesson": "The notebook: resnet34 on Oxford-IIIT Pet, 3 frozen + 2 unfrozen epochs at 224 px, "
    "then 2 at 352 px.",
    "quick": "CPU-sized: resnet18 from scratch on 10000 synthetic shapes at 32 px, 8 epochs.",
    "tiny": "Seconds: one epoch on a few hundred 32 px shapes (for tests and a smoke check).",
}


def recipe(name: str, /, **overrides: Any) -> TrainConfig:
    """A named recipe (`RECIPES`) as a config, with any field overridden.

    Args:
        name: "lesson", "quick" or "tiny".
        **overrides: TrainConfig fields to replace.

    Raises:
        ValueError: for an unknown recipe or field.
    """
    if name == "lesson":
        cfg = TrainConfig()
    elif name == "quick":
        cfg = TrainConfig(
            data="shapes",
            arch="resnet18",
            name="shapes-quick",
            # From scratch, many distinct shapes at 32 px beat more epochs or pixels for the same
            # CPU time: 2400 training shapes for 15 epochs were memorised (train loss 0.13, 56 %
            # error). From scratch the drop from chance comes at a run-dependent epoch (6 epochs
            # ended at 0.7 %, 9.6 % and 15 % in three runs); 8 epochs measured 9.6 % error after
            # epoch 5 and 0.35 % at the end, ~4.5 min on 2 cores.
            stages=[Stage(epochs=8, size=32, lr=(3e-3, 3e-3), frozen=False, pct_start=0.3)],
            batch_size=32,
            augment="none",  # generated data is plentiful; zoom 1.3 + warp can crop the shape out
            pretrained=False,
            bn_final=False,
            n_shapes=10000,
            cpu_threads=2,  # both cores: a shared machine's load only stretches the minutes
        )
    elif name == "tiny":
        cfg = TrainConfig(
            data="shapes",
            arch="resnet18",
            name="shapes-tiny",
            stages=[Stage(epochs=1, size=32, lr=(3e-3, 3e-3), frozen=False, pct_start=0.3)],
            batch_size=32,
            pretrained=False,
            bn_final=False,
            n_shapes=240,
            cpu_threads=1,  # seconds even on a busy machine, where one thread beats two
        )
    else:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {', '.join(RECIPES)}.")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    bad = set(overrides) - fields
    if bad:
        raise ValueError(f"Unknown config field(s): {', '.join(sorted(bad))}.")
    return dataclasses.replace(cfg, **{"recipe": name, **overrides})


def parse_lr(text: str) -> LR:
    """Read a learning rate as a person types it: "1e-2", or "1e-6:1e-3" for slice(1e-6, 1e-3).

    Raises:
        ValueError: when it is not one or two positive numbers with lo <= hi.
    """
    parts = [p.strip() for p in str(text).replace("..", ":").split(":")]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"Learning rate {text!r} is not a number like 1e-3 or a range like 1e-6:1e-3."
        ) from None
    if len(vals) not in (1, 2) or not all(math.isfinite(v) and v > 0 for v in vals):
        raise ValueError(f"Learning rate {text!r} must be one or two positive numbers.")
    if len(vals) == 1:
        return vals[0]
    if vals[0] > vals[1]:
        raise ValueError(f"Learning-rate range {text!r} must go from low to high.")
    return (vals[0], vals[1])


def format_lr(lr: LR) -> str:
    """The inverse of `parse_lr`, in the lesson's notation: 1e-02, 1e-06:1e-03."""
    if isinstance(lr, tuple | list):
        return f"{_sci(lr[0])}:{_sci(lr[1])}"
    return _sci(lr)


def _sci(v: float) -> str:
    mantissa, exp = f"{v:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exp}"


def stage_rows(stages: Sequence[Stage]) -> list[dict[str, Any]]:
    """Stages as table rows for an editor (lr as text, see `parse_lr`)."""
    return [
        {
            "epochs": s.epochs,
            "size": s.size,
            "lr": format_lr(s.lr),
            "frozen": s.frozen,
            "pct_start": s.pct_start,
        }
        for s in stages
    ]


def stages_from_rows(rows: Sequence[dict[str, Any]]) -> list[Stage]:
    """The inverse of `stage_rows`, checking every cell.

    Raises:
        ValueError: naming the stage and the cell that is empty or out of range.
    """
    stages = []
    for i, row in enumerate(rows, start=1):

        def num(key: str, lo: float, hi: float, row: dict[str, Any] = row, i: int = i) -> float:
            v = row.get(key)
            try:
                v = float(v)
            except (TypeError, ValueError):
                v = math.nan
            if not lo <= v <= hi:  # also catches NaN from an empty cell
                raise ValueError(f"Stage {i}: {key} must be between {lo:g} and {hi:g}.")
            return v

        lr = row.get("lr")
        if lr is None or (isinstance(lr, float) and math.isnan(lr)) or not str(lr).strip():
            raise ValueError(f"Stage {i}: the learning rate is empty.")
        try:
            lr = parse_lr(str(lr))
        except ValueError as exc:
            raise ValueError(f"Stage {i}: {exc}") from None
        frozen = row.get("frozen")
        if frozen is None or (isinstance(frozen, float) and math.isnan(frozen)):
            frozen = False  # a row just added in an editor
        stages.append(
            Stage(
                epochs=int(num("epochs", 1, 1000)),
                size=int(num("size", 16, 2048)),
                lr=lr,
                frozen=bool(frozen),
                pct_start=num("pct_start", 0.0, 1.0),
            )
        )
    if not stages:
        raise ValueError("The recipe needs at least one stage.")
    return stages


# --------------------------------------------------------------------------- the one-cycle schedule


def annealing_cos(start: float, end: float, pct: float) -> float:
    """Cosine from `start` (pct=0) to `end` (pct=1), as fastai's annealing_cos."""
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def one_cycle(
    step: int,
    total: int,
    lr_max: float,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div: float | None = None,
    moms: tuple[float, float] = (0.95, 0.85),
) -> tuple[float, float]:
    """Learning rate and momentum for batch `step` of a `total`-batch cycle, like fit_one_cycle.

    Warm-up over the first int(total * pct_start) batches: lr goes lr_max/div_factor -> lr_max and
    momentum moms[0] -> moms[1] on a cosine; then lr anneals towards lr_max/final_div and momentum
    back to moms[0]. As in fastai, batch 0 uses the start values and the schedule advances one step
    per batch, so the last batch is one step short of the final values.

    Args:
        step: batch index in the cycle, 0 <= step < total.
        total: batches in the cycle (epochs * batches per epoch).
        lr_max: the peak learning rate.
        pct_start: share of batches spent warming up.
        div_factor: start lr = lr_max / div_factor.
        final_div: final lr = lr_max / final_div; None means div_factor * 1e4.
        moms: (high, low) momentum.

    Returns:
        (lr, momentum).
    """
    if total <= 0 or not 0 <= step < total:
        raise ValueError(f"step {step} is outside a cycle of {total} batches.")
    final_div = div_factor * 1e4 if final_div is None else final_div
    warm = int(total * pct_start)
    if step <= warm and warm > 0:
        pct = step / warm
        return (
            annealing_cos(lr_max / div_factor, lr_max, pct),
            annealing_cos(moms[0], moms[1], pct),
        )
    pct = (step - warm) / (total - warm)
    return annealing_cos(lr_max, lr_max / final_div, pct), annealing_cos(moms[1], moms[0], pct)


def planned_schedule(
    config: TrainConfig, batches_per_epoch: Sequence[int]
) -> list[dict[str, float]]:
    """The head group's (lr, momentum) for every batch of every stage, to plot before or during a run.

    Args:
        config: the run's config.
        batches_per_epoch: training batches per epoch in each stage.

    Returns:
        One dict per batch: {"step", "stage", "lr", "mom"}.
    """
    rows: list[dict[str, float]] = []
    for i, (stage, nb) in enumerate(zip(config.stages, batches_per_epoch, strict=True)):
        total = stage.epochs * nb
        hi = stage.lr[1] if isinstance(stage.lr, tuple | list) else stage.lr
        for k in range(total):
            lr, mom = one_cycle(
                k, total, hi, stage.pct_start, config.div_factor, config.final_div, config.moms
            )
            rows.append({"step": len(rows), "stage": i, "lr": lr, "mom": mom})
    return rows


# --------------------------------------------------------------------------- data


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


def prepare_data(config: TrainConfig, device: torch.device, log: Callable[[str], None]) -> Prepared:
    """Decode and presize every image once into a uint8 tensor cache on `device`.

    Raises:
        explorer.data.DatasetUnavailable: when the dataset is not on disk (or cannot be read).
        ValueError: for an unknown data spec or a split with an empty side.
    """
    from explorer import data

    side = presize_side(config)
    skipped = 0
    if config.data == "shapes":
        log(f"Generating {config.n_shapes} synthetic shape images at {side} px")
        sd = data.make_shapes(config.n_shapes, size=side, seed=config.seed)
        x, y, classes = sd.images, sd.labels, list(sd.classes)
        ok = torch.ones(len(y), dtype=torch.bool)
    else:
        if config.data == "pets":
            items = data.pets_items()
        elif config.data.startswith("folder:"):
            items = data.folder_items(config.data.removeprefix("folder:"), regex=config.label_regex)
        else:
            raise ValueError(f"Unknown data {config.data!r}; use pets, shapes or folder:PATH.")
        log(f"Decoding {len(items.paths)} images once into a {side} px cache")
        workers = config.workers or os.cpu_count() or 1
        x, ok = data.presize(items.paths, side, workers=workers)
        y = torch.as_tensor(items.labels, dtype=torch.int64)
        classes = list(items.classes)
        skipped = int((~ok).sum())
    train_idx, valid_idx = data.split_indices(len(y), valid_pct=config.valid_pct, seed=config.seed)
    train_idx = torch.as_tensor(train_idx, dtype=torch.int64)
    valid_idx = torch.as_tensor(valid_idx, dtype=torch.int64)
    # Split first, then drop unreadable images, so the split is the lesson's whatever fails to decode.
    train_idx = train_idx[ok[train_idx]]
    valid_idx = valid_idx[ok[valid_idx]]
    if len(train_idx) < config.batch_size or len(valid_idx) == 0:
        raise ValueError(
            f"Only {len(train_idx)} training and {len(valid_idx)} validation images: need at least "
            f"one batch ({config.batch_size}) to train and one image to validate."
        )
    return Prepared(
        train_x=x[train_idx].to(device),
        train_y=y[train_idx].to(device),
        valid_x=x[valid_idx].to(device),
        valid_y=y[valid_idx].to(device),
        classes=classes,
        skipped=skipped,
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


# --------------------------------------------------------------------------- timing


class _Clock:
    """Elapsed seconds between marks: CUDA events on a GPU (no host sync per batch), else perf_counter."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def mark(self) -> Any:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def seconds(self, a: Any, b: Any) -> float:
        if self.cuda:
            b.synchronize()
            return a.elapsed_time(b) / 1000.0
        return b - a


# --------------------------------------------------------------------------- the fit


class EventLog:
    """Appends one JSON object per line to `path` (flushed each line) and passes it to listeners."""

    def __init__(
        self, path: Path | None, listeners: Sequence[Callable[[Event], None]] = ()
    ) -> None:
        self.path = path
        self.listeners = list(listeners)
        self._fh: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def emit(self, event: str, **fields: Any) -> None:
        rec = {"event": event, "t": round(time.time(), 3), **fields}
        if self._fh is not None:
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()
        for fn in self.listeners:
            fn(rec)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Diverged(UserError):
    """The loss became NaN or infinite: a learning rate too high for the model (a person's fix)."""


@dataclass
class FitResult:
    """What a run produced."""

    history: list[
        dict[str, float]
    ]  # one row per epoch: epoch, train_loss, valid_loss, error_rate, time
    checkpoint: Path | None  # the last checkpoint written
    stopped: bool  # True when a stop was requested before the end
    error_rate: float | None  # the last validation error rate


def resolve_device(name: str | None) -> torch.device:
    """`name` as a torch.device; None picks CUDA when present.

    Raises:
        ValueError: when CUDA is asked for and none is available.
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no GPU is available; use the CPU (--device cpu).")
    return dev


def _group_lrs(model: nn.Module, lr: LR) -> tuple[list[list[nn.Parameter]], list[float]]:
    from explorer import models

    groups = models.layer_groups(model)
    lrs = models.lr_for_groups(lr, len(groups))
    return groups, [float(v) for v in lrs]


def make_optimizer(model: nn.Module, stage: Stage, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with one param group per layer group, each with its own peak LR (`"lr_max"`).

    Frozen parameters stay in their groups; they get no gradient, so AdamW leaves them untouched.
    """
    groups, lrs = _group_lrs(model, stage.lr)
    param_groups = [
        {"params": params, "lr": lr / config.div_factor, "lr_max": lr}
        for params, lr in zip(groups, lrs, strict=True)
    ]
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(
        param_groups, betas=(config.moms[0], config.beta2), weight_decay=config.wd, fused=fused
    )


def set_schedule(
    opt: torch.optim.Optimizer, step: int, total: int, stage: Stage, config: TrainConfig
):
    """Put batch `step`'s one-cycle LR (per group) and momentum into the optimizer.

    Returns:
        (head group's lr, momentum).
    """
    lr = mom = 0.0
    for g in opt.param_groups:
        lr, mom = one_cycle(
            step,
            total,
            g["lr_max"],
            stage.pct_start,
            config.div_factor,
            config.final_div,
            config.moms,
        )
        g["lr"] = lr
        g["betas"] = (mom, config.beta2)
    return lr, mom


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    batch_size: int,
    amp: bool,
) -> tuple[float, float]:
    """Mean cross-entropy and error rate on a presized uint8 set already at the stage's size."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    wrong = torch.zeros((), device=x.device)
    for i in range(0, len(y), batch_size):
        xb = normalise(x[i : i + batch_size], mean, std)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(xb)
        out = out.float()
        loss_sum += F.cross_entropy(out, y[i : i + batch_size], reduction="sum")
        wrong += (out.argmax(1) != y[i : i + batch_size]).sum()
    model.train(was_training)
    n = len(y)
    return float(loss_sum) / n, float(wrong) / n


def normalise(xb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation with stats already on the device; channels_last on CUDA.

    Shape:
        (B, 3, H, W) uint8 or float in [0, 1] -> (B, 3, H, W) float
    """
    if xb.dtype == torch.uint8:
        xb = xb.float().div_(255)
    xb = (xb - mean) / std
    if xb.device.type == "cuda":
        xb = xb.contiguous(memory_format=torch.channels_last)
    return xb


def augment_batch(
    xb: torch.Tensor,
    settings: Any | None,
    gen: torch.Generator,
    size: int,
    padding_mode: str,
) -> torch.Tensor:
    """A training batch from the uint8 cache: the lesson's transforms drawn on the CPU (seeded), then
    applied with one batched resample on the batch's device; `settings=None` only resizes.

    Shape:
        (B, 3, P, P) uint8 -> (B, 3, size, size) float in [0, 1]
    """
    from explorer import augment

    if settings is None:
        return resize_batch(xb, size).float().div_(255)
    return augment.apply(xb, augment.draw(settings, xb.shape[0], gen), size, padding_mode)


def train_step(
    model: nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor
) -> torch.Tensor:
    """One optimizer step on a normalised batch; bf16 autocast on CUDA, fp32 elsewhere.

    Returns:
        The batch's loss, detached and left on the device (reading it would sync a GPU).
    """
    with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=xb.device.type == "cuda"):
        out = model(xb)
    loss = F.cross_entropy(out.float(), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def fit(
    config: TrainConfig,
    run_dir: Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    listeners: Sequence[Callable[[Event], None]] = (),
    weights_folder: Path | None = None,
) -> FitResult:
    """Run every stage of `config`, write events to run_dir/events.jsonl and checkpoint after each.

    Args:
        config: the recipe.
        run_dir: where events.jsonl goes (None: events only reach `listeners`).
        should_stop: polled after every batch; when True the run saves a checkpoint and returns.
        listeners: callables receiving every event dict (the CLI prints progress from them).
        weights_folder: checkpoint folder (None: explorer.paths.weights_dir()).

    Returns:
        The epoch history, the last checkpoint and whether the run was stopped.

    Raises:
        explorer.data.DatasetUnavailable, explorer.models.WeightsUnavailable, ValueError: for things
        a person can fix; torch.OutOfMemoryError when a batch does not fit.
    """
    log = EventLog(run_dir / "events.jsonl" if run_dir else None, listeners)
    try:
        return _fit(config, log, should_stop, weights_folder)
    except BaseException as exc:
        log.emit("error", kind=error_kind(exc), message=str(exc) or type(exc).__name__)
        raise
    finally:
        log.close()


def error_kind(exc: BaseException) -> str:
    """ "oom", "dataset", "weights", "input" or "internal": how a failed run is explained to a person."""
    name = type(exc).__name__
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return "oom"
    if name == "DatasetUnavailable":
        return "dataset"
    if name == "WeightsUnavailable":
        return "weights"
    if isinstance(exc, ValueError):
        return "input"
    return "internal"


def _fit(
    config: TrainConfig,
    log: EventLog,
    should_stop: Callable[[], bool],
    weights_folder: Path | None,
) -> FitResult:
    """The stages, epochs and batches of `fit` (see there)."""
    from explorer import augment, models

    if config.augment not in ("lesson", "none"):  # a typo must not silently train unaugmented
        raise ValueError(f"Unknown augment {config.augment!r}; use lesson or none.")
    device = resolve_device(config.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed shapes per stage: let cuDNN pick its fastest
    gen = torch.Generator().manual_seed(config.seed)
    log.emit("status", message="preparing data")
    data = prepare_data(config, device, lambda m: log.emit("status", message=m))
    if should_stop():  # asked to stop while decoding: nothing trained, nothing to save
        log.emit("stopped", checkpoint=None, path=None, error_rate=None)
        return FitResult(history=[], checkpoint=None, stopped=True, error_rate=None)
    n_classes = len(data.classes)
    model = models.create_cnn(
        config.arch,
        n_classes,
        pretrained=config.pretrained,
        bn_final=config.bn_final,
        seed=config.seed,
    )
    model = model.to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    bs = config.batch_size
    nb = len(data.train_y) // bs  # drop the last partial batch, as fastai's training loader does
    settings = augment.AugSettings.lesson() if config.augment == "lesson" else None
    log.emit(
        "start",
        device=str(device),
        amp="bf16" if cuda else "fp32",
        classes=data.classes,
        n_train=len(data.train_y),
        n_valid=len(data.valid_y),
        skipped=data.skipped,
        cache_shape=list(data.train_x.shape),
        batches_per_epoch=[nb] * len(config.stages),
        total_epochs=config.total_epochs,
        n_params=sum(p.numel() for p in model.parameters()),
        config=config.to_dict(),
    )
    clock = _Clock(device)
    history: list[dict[str, float]] = []
    checkpoint: Path | None = None
    smooth, n_seen, step_all, epoch_all = 0.0, 0, 0, 0
    stopped = False
    err: float | None = None
    base_side = data.train_x.shape[-1]
    for si, stage in enumerate(config.stages):
        (models.freeze if stage.frozen else models.unfreeze)(model)
        opt = make_optimizer(model, stage, config)
        # Progressive resize: a smaller stage trains from a cache shrunk once, not per batch.
        side = min(base_side, round(stage.size * config.presize_scale))
        train_x = data.train_x if side == base_side else resize_batch(data.train_x, side)
        valid_x = resize_batch(data.valid_x, stage.size)
        total = stage.epochs * nb
        log.emit(
            "stage",
            stage=si,
            n_stages=len(config.stages),
            epochs=stage.epochs,
            size=stage.size,
            frozen=stage.frozen,
            lrs=[g["lr_max"] for g in opt.param_groups],
            batches=nb,
            trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
            batch_shape=[bs, 3, stage.size, stage.size],
        )
        model.train()
        for e in range(stage.epochs):
            t0 = clock.mark()
            perm = torch.randperm(len(data.train_y), generator=gen).to(device)
            pending: list[tuple[int, torch.Tensor, float, float]] = []
            last_flush = time.perf_counter()
            for b in range(nb):
                idx = perm[b * bs : (b + 1) * bs]
                lr, mom = set_schedule(opt, e * nb + b, total, stage, config)
                xb = augment_batch(train_x[idx], settings, gen, stage.size, config.padding_mode)
                loss = train_step(model, opt, normalise(xb, mean, std), data.train_y[idx])
                pending.append((b, loss, lr, mom))
                stop_now = should_stop()
                # On a GPU, reading the loss forces a sync; batch events are written in bursts.
                if not cuda or stop_now or b == nb - 1 or time.perf_counter() - last_flush > 0.5:
                    losses = torch.stack([p[1] for p in pending]).tolist()
                    for (bi, _, plr, pmom), lv in zip(pending, losses, strict=True):
                        n_seen += 1
                        smooth = 0.98 * smooth + 0.02 * lv
                        log.emit(
                            "batch",
                            stage=si,
                            epoch=epoch_all,
                            batch=bi,
                            batches=nb,
                            step=step_all,
                            loss=lv,
                            smooth_loss=smooth / (1 - 0.98**n_seen),
                            lr=plr,
                            mom=pmom,
                        )
                        step_all += 1
                        if not math.isfinite(lv):  # the curve shows the blow-up, then it stops
                            raise Diverged(
                                f"The training loss became {lv} at epoch {epoch_all + 1}, batch "
                                f"{bi + 1} (learning rate {plr:.2g}): the run diverged, and the "
                                "weights are no longer usable, so nothing of this stage was "
                                "saved. Try learning rates about 10× lower."
                            )
                    pending.clear()
                    last_flush = time.perf_counter()
                if stop_now:
                    stopped = True
                    break
            t1 = clock.mark()
            if stopped:
                break
            vloss, err = evaluate(model, valid_x, data.valid_y, mean, std, bs, cuda)
            t2 = clock.mark()
            train_s = clock.seconds(t0, t1)
            row = {
                "epoch": epoch_all,
                "stage": si,
                "train_loss": smooth / (1 - 0.98**n_seen),
                "valid_loss": vloss,
                "error_rate": err,
                "time": clock.seconds(t0, t2),
                "images_per_s": nb * bs / train_s if train_s > 0 else float("nan"),
            }
            history.append(row)
            log.emit("epoch", **row)
            epoch_all += 1
        meta = {
            "arch": config.arch,
            "classes": data.classes,
            "size": stage.size,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "bn_final": config.bn_final,
            "history": history,
            "config": config.to_dict(),
            "stages_done": si + (0 if stopped else 1),
            "complete": not stopped and si == len(config.stages) - 1,
        }
        checkpoint = models.save(model, config.name, meta, folder=weights_folder)
        log.emit("checkpoint", name=config.name, path=str(checkpoint), stage=si)
        if stopped:
            break
    result = FitResult(history=history, checkpoint=checkpoint, stopped=stopped, error_rate=err)
    log.emit(
        "stopped" if stopped else "done",
        checkpoint=config.name,
        path=str(checkpoint) if checkpoint else None,
        error_rate=err,
    )
    return result


# --------------------------------------------------------------------------- CLI


class Printer:
    """Terminal output for the CLI: a progress bar (on a TTY) and the fastai-style epoch table."""

    COLS = ("epoch", "train_loss", "valid_loss", "error_rate", "time")

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.tty = out.isatty()
        self.header_done = False

    def __call__(self, ev: Event) -> None:
        kind = ev["event"]
        if kind == "status":
            self._line(ev["message"])
        elif kind == "start":
            self._line(
                f"{ev['n_train']} train / {ev['n_valid']} valid images, {len(ev['classes'])} classes, "
                f"cache {tuple(ev['cache_shape'])} uint8 on {ev['device']} ({ev['amp']})"
                + (f", {ev['skipped']} unreadable skipped" if ev["skipped"] else "")
            )
        elif kind == "stage":
            frozen = "frozen" if ev["frozen"] else "unfrozen"
            lrs = ", ".join(f"{v:.0e}" for v in ev["lrs"])
            self._line(
                f"stage {ev['stage'] + 1}/{ev['n_stages']}: {ev['epochs']} epochs at {ev['size']} px, "
                f"{frozen}, lr per group [{lrs}]"
            )
        elif kind == "batch" and self.tty:
            done = ev["batch"] + 1
            bar = "#" * (30 * done // ev["batches"])
            self.out.write(
                f"\r[{bar:<30}] {done}/{ev['batches']} loss {ev['smooth_loss']:.4f} lr {ev['lr']:.2e}"
            )
            self.out.flush()
        elif kind == "epoch":
            if not self.header_done:
                self._line("".join(f"{c:<12}" for c in self.COLS))
                self.header_done = True
            t = ev["time"]
            self._line(
                f"{ev['epoch']:<12}{ev['train_loss']:<12.6f}{ev['valid_loss']:<12.6f}"
                f"{ev['error_rate']:<12.6f}{int(t) // 60:02d}:{int(t) % 60:02d}"
                f"   ({ev['images_per_s']:.0f} images/s)"
            )
        elif kind == "checkpoint":
            self._line(f"saved checkpoint {ev['name']} -> {ev['path']}")
        elif kind in ("done", "stopped"):
            self._line(f"{kind}: checkpoint {ev['checkpoint']}")

    def _line(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(text + "\n")
        self.out.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m explorer.train", description="Train the lesson's CNN (fast.ai Lesson 6)."
    )
    p.add_argument("--recipe", default="lesson", choices=sorted(RECIPES), help="base recipe")
    p.add_argument(
        "--config", type=Path, help="a config.json (TrainConfig fields); flags override it"
    )
    p.add_argument("--data", help="pets | shapes | folder:PATH")
    p.add_argument("--arch", help="resnet18 | resnet34 | resnet50 ...")
    p.add_argument("--name", help="checkpoint name (weights/NAME.safetensors)")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--batch-size", type=int)
    p.add_argument("--padding-mode", choices=["zeros", "border", "reflection"])
    p.add_argument("--label-regex", help="folder data: regex with one group on the file name")
    p.add_argument("--no-pretrained", action="store_true", help="train from scratch")
    p.add_argument(
        "--cpu-threads", type=int, help="torch CPU threads (1 is faster on a busy machine)"
    )
    p.add_argument(
        "--run-dir", type=Path, help="where events.jsonl goes (default runs/<time>-<name>)"
    )
    p.add_argument("--download", action="store_true", help="fetch Oxford-IIIT Pet first if missing")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config a CLI invocation describes: --config or --recipe, then the explicit flags."""
    if args.config is not None:
        cfg = TrainConfig.from_dict(json.loads(args.config.read_text()))
    else:
        cfg = recipe(args.recipe)
    over = {
        "data": args.data,
        "arch": args.arch,
        "name": args.name,
        "device": args.device,
        "batch_size": args.batch_size,
        "padding_mode": args.padding_mode,
        "label_regex": args.label_regex,
        "cpu_threads": args.cpu_threads,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in over.items() if v is not None})
    if args.no_pretrained:
        cfg.pretrained = False
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 also after a requested stop)."""
    from explorer import paths

    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except (ValueError, TypeError, OSError, json.JSONDecodeError) as exc:
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2
    run_dir = args.run_dir or paths.runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.name}"
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        cfg_path.write_text(json.dumps(cfg.to_dict(), indent=2))
    if cfg.cpu_threads > 0:
        torch.set_num_threads(cfg.cpu_threads)  # the CLI owns its process, so this is its choice
    stop = threading.Event()

    def _request_stop(signum: int, _frame: Any) -> None:
        print(
            f"\n{signal.Signals(signum).name}: finishing the batch and saving a checkpoint",
            flush=True,
        )
        stop.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    try:
        if args.download and cfg.data == "pets":
            from explorer import data

            data.download_pets(
                progress=lambda what, frac: print(f"{what} ({frac:.0%})", flush=True)
            )
        fit(cfg, run_dir, should_stop=stop.is_set, listeners=[Printer()])
    except Exception as exc:  # noqa: BLE001 - turned into one sentence + an exit code
        kind = error_kind(exc)
        msg = str(exc) or type(exc).__name__
        if kind == "weights":
            msg += " Run again with --no-pretrained to train from scratch."
        elif kind == "dataset" and cfg.data == "pets":
            msg += " Run again with --download to fetch it (about 800 MB)."
        elif kind == "oom":
            msg = f"Ran out of memory with batch size {cfg.batch_size}: try --batch-size {max(1, cfg.batch_size // 2)}."
        elif kind == "internal":
            import traceback

            traceback.print_exc()  # an unexpected failure: the log keeps the details
        print(f"error: {msg}", file=sys.stderr, flush=True)
        return {"oom": 3, "internal": 1}.get(kind, 2)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
