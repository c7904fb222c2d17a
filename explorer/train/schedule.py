"""fastai's one-cycle schedule: the learning rate warms up then anneals, momentum does the opposite.

Pure arithmetic (no torch at import), so the page can plot the plan before a run starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

from explorer.train.config import Stage, TrainConfig

if TYPE_CHECKING:
    import torch


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


class PlannedStep(TypedDict):
    """The head group's schedule at one batch of a run."""

    step: int  # batch index over the whole run
    stage: int
    lr: float
    mom: float


def head_lr(stage: Stage) -> float:
    """The head's (last layer group's) peak learning rate: x of slice(x), hi of slice(lo, hi)."""
    return stage.lr[1] if isinstance(stage.lr, tuple | list) else stage.lr


def planned_schedule(config: TrainConfig, batches_per_epoch: Sequence[int]) -> list[PlannedStep]:
    """The head group's (lr, momentum) at every batch of every stage, to plot before or in a run.

    Args:
        config: the run's config.
        batches_per_epoch: training batches per epoch in each stage.

    Returns:
        One row per batch: {"step", "stage", "lr", "mom"}.
    """
    rows: list[PlannedStep] = []
    for i, (stage, nb) in enumerate(zip(config.stages, batches_per_epoch, strict=True)):
        total = stage.epochs * nb
        for k in range(total):
            lr, mom = one_cycle(
                k,
                total,
                head_lr(stage),
                stage.pct_start,
                config.div_factor,
                config.final_div,
                config.moms,
            )
            rows.append(PlannedStep(step=len(rows), stage=i, lr=lr, mom=mom))
    return rows


def set_schedule(
    opt: torch.optim.Optimizer, step: int, total: int, stage: Stage, config: TrainConfig
) -> tuple[float, float]:
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
