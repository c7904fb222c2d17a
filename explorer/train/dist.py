"""Several training processes under torchrun: `torchrun --standalone --nproc-per-node N -m
explorer.train ...` runs the same loop with DistributedDataParallel (NCCL on CUDA, gloo on CPU).

Every process draws the same shuffle and the same augmentation for the whole global batch (one
seeded generator each) and trains on its own slice of it, so N processes see exactly the batches
one process would; gradients are averaged by DDP, and with SyncBatchNorm the BatchNorm statistics
too. Only process 0 decodes the data (the others receive the cache from it), writes the event log
and saves checkpoints. Stop requests and losses are agreed on with collectives, so every process
stops at the same batch.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed import nn as dist_nn
from torch.nn.modules.batchnorm import _BatchNorm

if TYPE_CHECKING:
    from explorer.augment import AugParams
    from explorer.train.prepare import Prepared


# The differentiable all_reduce GlooSyncBatchNorm needs is still torch.distributed.nn's.
warnings.filterwarnings(
    "ignore", message="torch.distributed.nn.functional.all_reduce is deprecated"
)


class RankFailed(RuntimeError):
    """Another process of the run failed or was killed, so this one cannot go on."""


RANK_FAILED = (
    "Another training process of this run failed or was killed, so the whole run ended; the "
    "job's log names the process and why."
)


@dataclass
class Dist:
    """This process's place in the run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    control: Any = None  # a gloo group for CPU-side flags (None: the default group is gloo)

    @property
    def on(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def part(self, n: int) -> slice:
        """This process's contiguous share of n items (the shares differ by at most one)."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)


def env_rank() -> int:
    """The rank torchrun gave this process (0 without torchrun), known before any set-up."""
    return int(os.environ.get("RANK", "0"))


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the run's process group (when torchrun started several) and pick this process's
    device: cuda:LOCAL_RANK on a GPU machine.

    Returns:
        (this process's Dist, its device).
    """
    if not launched():
        return Dist(), device
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    control = dist.new_group(backend="gloo") if device.type == "cuda" else None
    return Dist(rank=rank, world=world, local_rank=local, control=control), device


def close_group() -> None:
    """Leave the process group (a no-op without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_true(d: Dist, flag: bool) -> bool:
    """Whether any process says True (a stop request): every process then acts alike."""
    if not d.on:
        return flag
    t = torch.tensor([int(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=d.control)
    return bool(t.item())


def all_sum(d: Dist, t: torch.Tensor) -> torch.Tensor:
    """`t` summed over the processes (in place; unchanged with one process)."""
    if d.on:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def slice_params(params: AugParams, part: slice) -> AugParams:
    """The rows `part` of augmentation parameters drawn for a whole global batch."""
    fields = {f.name: getattr(params, f.name)[part] for f in dataclasses.fields(params)}
    return type(params)(**fields)


def share_prepared(d: Dist, make: Callable[[], Prepared], device: torch.device) -> Prepared:
    """Process 0 prepares the data (`make`: decode, presize, split); the others wait for it and
    receive the same cache, so a dataset is read and decoded once.

    Raises:
        RankFailed: on the other processes, when process 0 could not prepare it (process 0 raises
            its own error).
    """
    from explorer.train.prepare import Prepared

    if not d.on:
        return make()
    made: Prepared | None = None
    info: list[Any] = [None]
    if d.main:
        try:
            made = make()
        except BaseException as exc:
            info = [{"error": str(exc) or type(exc).__name__}]
            dist.broadcast_object_list(info, src=0, group=d.control)
            raise
        tensors = [made.train_x, made.train_y, made.valid_x, made.valid_y]
        info = [{"shapes": [list(t.shape) for t in tensors], "classes": made.classes}]
        info[0]["skipped"] = made.skipped
    dist.broadcast_object_list(info, src=0, group=d.control)
    if "error" in info[0]:
        raise RankFailed(f"Process 0 could not prepare the data: {info[0]['error']}")
    if made is None:
        dtypes = (torch.uint8, torch.int64, torch.uint8, torch.int64)
        tensors = [
            torch.empty(s, dtype=dt, device=device)
            for s, dt in zip(info[0]["shapes"], dtypes, strict=True)
        ]
    for t in tensors:
        dist.broadcast(t, src=0)
    train_x, train_y, valid_x, valid_y = tensors
    return Prepared(
        train_x=train_x,
        train_y=train_y,
        valid_x=valid_x,
        valid_y=valid_y,
        classes=list(info[0]["classes"]),
        skipped=int(info[0]["skipped"]),
    )


class GlooSyncBatchNorm(_BatchNorm):
    """SyncBatchNorm for CPU processes: PyTorch's nn.SyncBatchNorm runs only on GPUs, so on gloo
    the batch statistics are summed with a differentiable all_reduce (torch.distributed.nn),
    giving the global batch's mean and variance and their gradients, as one process computes them.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        count = torch.full((1,), x.numel() / c, dtype=x.dtype)
        stats = dist_nn.all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c : 2 * c] / n - mean * mean  # biased, as BatchNorm normalises with
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None
            m = 0.1 if self.momentum is None else self.momentum
            with torch.no_grad():
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
                self.num_batches_tracked.add_(1)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_bn(model: nn.Module, cuda: bool) -> nn.Module:
    """Every BatchNorm of `model` synchronised over the processes (same parameters and buffers,
    so checkpoints load into the plain model): nn.SyncBatchNorm on CUDA, GlooSyncBatchNorm on CPU.
    """
    if cuda:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    out = model
    if isinstance(model, _BatchNorm):
        out = GlooSyncBatchNorm(
            model.num_features, model.eps, model.momentum, model.affine, model.track_running_stats
        )
        if model.affine:
            out.weight, out.bias = model.weight, model.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(out, name, getattr(model, name))
        out.train(model.training)
    for name, child in model.named_children():
        out.add_module(name, convert_sync_bn(child, cuda))
    return out
