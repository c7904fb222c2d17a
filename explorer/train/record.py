"""What a run leaves behind besides its events: the start event (what it works with), the
checkpoint after each stage and, when asked, per-epoch snapshots NAME-epochK (only process 0 of a
torchrun run writes them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from explorer.images import IMAGENET_MEAN, IMAGENET_STD
from explorer.train.events import EpochRow, StartEvent

if TYPE_CHECKING:
    from explorer.train.loop import Run


def start_event(run: Run) -> StartEvent:
    """What the run works with, once the data and the model are ready."""
    cfg, data = run.config, run.data
    return StartEvent(
        event="start",
        device=str(run.device),
        amp="bf16" if run.cuda else "fp32",
        classes=data.classes,
        n_train=len(data.train_y),
        n_valid=len(data.valid_y),
        skipped=data.skipped,
        cache_shape=list(data.train_x.shape),
        batches_per_epoch=[run.batches] * len(cfg.stages),
        total_epochs=cfg.total_epochs,
        n_params=sum(p.numel() for p in run.model.parameters()),
        config=cfg.to_dict(),
    )


def save_checkpoint(
    run: Run,
    stage_index: int,
    history: list[EpochRow],
    stopped: bool,
    folder: Path | None,
    name: str | None = None,
) -> Path:
    """Write the model with everything needed to use it (classes, size, statistics, history)."""
    from explorer import models

    cfg = run.config
    meta = {
        "arch": cfg.arch,
        "classes": run.data.classes,
        "size": cfg.stages[stage_index].size,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "bn_final": cfg.bn_final,
        "history": history,
        "config": cfg.to_dict(),
        "stages_done": stage_index + (0 if stopped else 1),
        "complete": not stopped and stage_index == len(cfg.stages) - 1,
        "world_size": run.dist.world,  # training processes (torchrun's nproc x nodes)
    }
    return models.save(run.model, name or cfg.name, meta, folder=folder)


def snapshot(run: Run, si: int, history: list[EpochRow], folder: Path | None) -> None:
    """`--snapshots N`: this epoch's weights as NAME-epochK (K counts from 1 over the run),
    written like any checkpoint, keeping only the last N."""
    from explorer import checkpoints

    n, name = run.config.snapshots, run.config.name
    if n <= 0 or not run.dist.main:
        return
    k = len(history)
    save_checkpoint(run, si, history, True, folder, name=f"{name}-epoch{k}")
    if k > n:
        checkpoints.remove(f"{name}-epoch{k - n}", folder)
