"""The training step captured for the GPU: `torch.compile(mode="reduce-overhead")` (CUDA graphs)
once per stage and image size (the shapes are static within a stage), on by default on CUDA where
the lesson's batch of 64 is launch-bound, off on a CPU (`--compile` / `--no-compile`). When
capturing fails, the run says so in one sentence and goes on eagerly with the same batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from explorer.train.config import TrainConfig
from explorer.train.events import EventLog, StatusEvent

if TYPE_CHECKING:
    from explorer.train.loop import Run


def run_step(
    run: Run, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor, log: EventLog
) -> torch.Tensor:
    """`train_step` with the captured step when there is one; if capturing fails, say so once and
    go on without it (the same batch is retried eagerly, so nothing is lost)."""
    from explorer.train.loop import train_step

    model = run.step_model or run.model
    if run.compiled is None:
        return train_step(model, opt, xb, yb)
    try:
        return train_step(run.compiled, opt, xb, yb)
    except torch.OutOfMemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back, keep training
        run.compiled = None
        run.config.compile = False  # later stages do not try again
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        log.emit(
            StatusEvent(
                event="status",
                message=f"torch.compile could not capture the training step ({reason}); "
                "training goes on without it.",
            )
        )
        return train_step(model, opt, xb, yb)


def use_compile(config: TrainConfig, device: torch.device) -> bool:
    """--compile / --no-compile, or by default on CUDA (launch-bound steps) and off on a CPU."""
    return device.type == "cuda" if config.compile is None else bool(config.compile)


def wrap_for_stage(run: Run) -> None:
    """What trains in this stage: DDP around the model under torchrun (made after freezing, so it
    covers exactly the trainable parameters), captured with torch.compile when asked. One capture
    per stage and image size: the shapes are static within a stage."""
    from torch.nn.parallel import DistributedDataParallel

    d = run.dist
    run.step_model = run.model
    if d.on:
        ids = [run.device.index] if run.cuda else None
        run.step_model = DistributedDataParallel(run.model, device_ids=ids)
    run.compiled = None
    if use_compile(run.config, run.device):
        captured = torch.compile(run.step_model, mode="reduce-overhead", dynamic=False)
        run.compiled = captured  # type: ignore[assignment]  # an OptimizedModule, a Module
