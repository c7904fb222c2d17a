"""The lesson's training loop, top to bottom: prepare the data once, build the model, then for every
stage freeze or unfreeze, make the optimizer and train epochs of one-cycle batches, validating after
each epoch and checkpointing after each stage.

`fit(config)` runs the same code on CPU (fp32) and CUDA (bf16, channels_last, data on the GPU),
writes events to a JSONL file and checkpoints through `explorer.models`; `python -m explorer.train`
is its CLI.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from explorer.errors import UserError
from explorer.images import IMAGENET_MEAN, IMAGENET_STD, normalize
from explorer.train import dist as ddp
from explorer.train.capture import run_step, wrap_for_stage
from explorer.train.config import ConfigError, Stage, TrainConfig
from explorer.train.events import (
    BatchEvent,
    CheckpointEvent,
    EndEvent,
    EpochEvent,
    EpochRow,
    ErrorEvent,
    ErrorKind,
    EventLog,
    Listener,
    StageEvent,
    StatusEvent,
)
from explorer.train.prepare import Prepared, prepare_data, resize_batch
from explorer.train.record import save_checkpoint, snapshot, start_event
from explorer.train.schedule import set_schedule

if TYPE_CHECKING:
    from explorer.augment import AugSettings


class DeviceUnavailable(UserError):
    """CUDA was asked for on a machine without a usable GPU."""


class Diverged(UserError):
    """The loss became NaN or infinite: a learning rate too high for the model (a person's fix)."""


# --------------------------------------------------------------------------- setting a run up


def resolve_device(name: str | None) -> torch.device:
    """`name` as a torch.device; None picks CUDA when present.

    Raises:
        DeviceUnavailable: when CUDA is asked for and none is available.
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(
            "CUDA was asked for but no GPU is available; use the CPU (--device cpu)."
        )
    return dev


@dataclass
class Run:
    """Everything the loop works with, made once by `setup_run`."""

    config: TrainConfig
    data: Prepared  # the uint8 cache on the device
    model: nn.Sequential  # create_cnn(arch, len(classes)): model[0] the body, model[1] the head
    mean: torch.Tensor  # (1, 3, 1, 1) ImageNet statistics on the device
    std: torch.Tensor
    augment: AugSettings | None  # the lesson's transforms, None = only resize
    gen: torch.Generator  # seeded: shuffling and augmentation draws
    batches: int  # per epoch: the last partial batch is dropped, as fastai's training loader does
    dist: ddp.Dist = field(default_factory=ddp.Dist)  # this process's rank among the run's
    step_model: nn.Module | None = None  # what trains: the model, DDP-wrapped under torchrun
    compiled: nn.Module | None = None  # step_model captured by torch.compile (None: eager)

    @property
    def device(self) -> torch.device:
        return self.data.train_x.device

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def setup_run(config: TrainConfig, data: Prepared, d: ddp.Dist | None = None) -> Run:
    """The model and everything else a run needs besides the data (see `prepare_data`).

    Raises:
        explorer.models.WeightsUnavailable: pretrained weights neither cached nor downloadable.
    """
    from explorer import augment, models

    d = d or ddp.Dist()
    device = data.train_x.device
    model = models.create_cnn(
        config.arch,
        len(data.classes),
        pretrained=config.pretrained,
        bn_final=config.bn_final,
        seed=config.seed,
        ps=config.ps,
    ).to(device)
    if config.sync_bn and d.on:  # statistics over the global batch, as one process computes them
        model = ddp.convert_sync_bn(model, device.type == "cuda")  # type: ignore[assignment]
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # fixed shapes per stage: let cuDNN pick its fastest
    return Run(
        config=config,
        data=data,
        model=model,
        mean=torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1),
        std=torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1),
        augment=augment.AugSettings.lesson() if config.augment == "lesson" else None,
        gen=torch.Generator().manual_seed(config.seed),
        batches=len(data.train_y) // config.batch_size,
        dist=d,
        step_model=model,
    )


def make_optimizer(model: nn.Module, stage: Stage, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with one param group per layer group, each with its own peak LR (`"lr_max"`).

    Frozen parameters stay in their groups; they get no gradient, so AdamW leaves them untouched.
    """
    from explorer import models

    groups = models.layer_groups(model)  # type: ignore[arg-type]
    lrs = models.lr_for_groups(stage.lr, len(groups))
    param_groups = [
        {"params": params, "lr": float(lr) / config.div_factor, "lr_max": float(lr)}
        for params, lr in zip(groups, lrs, strict=True)
    ]
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(
        param_groups, betas=(config.moms[0], config.beta2), weight_decay=config.wd, fused=fused
    )


# --------------------------------------------------------------------------- one batch


def normalise(xb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation with stats already on the device; channels_last on CUDA.

    Shape:
        (B, 3, H, W) uint8 or float in [0, 1] -> (B, 3, H, W) float
    """
    if xb.dtype == torch.uint8:
        xb = xb.float().div_(255)
    xb = normalize(xb, mean, std)
    if xb.device.type == "cuda":
        xb = xb.contiguous(memory_format=torch.channels_last)
    return xb


def augment_batch(
    xb: torch.Tensor,
    settings: AugSettings | None,
    gen: torch.Generator,
    size: int,
    padding_mode: str,
    share: tuple[int, slice] | None = None,
) -> torch.Tensor:
    """A training batch from the uint8 cache: the lesson's transforms drawn on the CPU (seeded),
    then applied with one batched resample on the batch's device; `settings=None` only resizes.

    `share=(global batch size, this process's rows)`: under torchrun every process draws for the
    whole global batch (the generators stay in step) and applies its own rows to `xb`.

    Shape:
        (B, 3, P, P) uint8 -> (B, 3, size, size) float in [0, 1]
    """
    from explorer import augment

    if settings is None:
        return resize_batch(xb, size).float().div_(255)
    if share is None:
        return augment.apply(xb, augment.draw(settings, xb.shape[0], gen), size, padding_mode)
    params = ddp.slice_params(augment.draw(settings, share[0], gen), share[1])
    return augment.apply(xb, params, size, padding_mode)


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


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    batch_size: int,
    d: ddp.Dist | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and error rate on a presized uint8 set already at the stage's size
    (under torchrun each process scores its share and the sums are added up)."""
    d = d or ddp.Dist()
    n = len(y)
    part = d.part(n)
    x, y = x[part], y[part]
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    wrong = torch.zeros((), device=x.device)
    for i in range(0, len(y), batch_size):
        xb = normalise(x[i : i + batch_size], mean, std)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
            out = model(xb)
        out = out.float()
        loss_sum += F.cross_entropy(out, y[i : i + batch_size], reduction="sum")
        wrong += (out.argmax(1) != y[i : i + batch_size]).sum()
    model.train(was_training)
    sums = ddp.all_sum(d, torch.stack([loss_sum, wrong.to(loss_sum.dtype)]))
    return float(sums[0]) / n, float(sums[1]) / n


# --------------------------------------------------------------------------- one epoch


@dataclass
class Progress:
    """Where a run is, over all its stages, and fastai's smoothed training loss."""

    epoch: int = 0  # epochs finished
    step: int = 0  # batches done
    seen: int = 0  # losses averaged so far
    moving: float = 0.0  # exponential moving average of the loss (beta 0.98), not yet debiased

    @property
    def smooth_loss(self) -> float:
        return self.moving / (1 - 0.98**self.seen) if self.seen else math.nan


def log_batches(
    pending: list[tuple[int, torch.Tensor, float, float]],
    stage_index: int,
    batches: int,
    progress: Progress,
    log: EventLog,
    d: ddp.Dist | None = None,
) -> None:
    """Read the losses of the steps in `pending` (one sync) and log a batch event for each (under
    torchrun, the mean over the processes: the global batch's loss).

    Raises:
        Diverged: a loss is NaN or infinite (after its event, so the curve shows the blow-up).
    """
    d = d or ddp.Dist()
    losses = (ddp.all_sum(d, torch.stack([p[1] for p in pending])) / d.world).tolist()
    for (b, _, lr, mom), loss in zip(pending, losses, strict=True):
        progress.seen += 1
        progress.moving = 0.98 * progress.moving + 0.02 * loss
        log.emit(
            BatchEvent(
                event="batch",
                stage=stage_index,
                epoch=progress.epoch,
                batch=b,
                batches=batches,
                step=progress.step,
                loss=loss,
                smooth_loss=progress.smooth_loss,
                lr=lr,
                mom=mom,
            )
        )
        progress.step += 1
        if not math.isfinite(loss):
            raise Diverged(
                f"The training loss became {loss} at epoch {progress.epoch + 1}, batch {b + 1} "
                f"(learning rate {lr:.2g}): the run diverged, and the weights are no longer "
                "usable, so nothing of this stage was saved. Try learning rates about 10× lower."
            )


def train_epoch(
    run: Run,
    opt: torch.optim.Optimizer,
    stage_index: int,
    epoch: int,
    train_x: torch.Tensor,
    progress: Progress,
    log: EventLog,
    should_stop: Callable[[], bool],
) -> bool:
    """One shuffled pass over the training set, batch by batch; True when a stop was requested.

    `epoch` counts within the stage (it places the step in the stage's one-cycle schedule).
    """
    stage = run.config.stages[stage_index]
    bs, nb, d = run.config.batch_size, run.batches, run.dist
    perm = torch.randperm(len(run.data.train_y), generator=run.gen).to(run.device)
    pending: list[tuple[int, torch.Tensor, float, float]] = []
    last_flush = time.perf_counter()
    share = (bs, d.part(bs)) if d.on else None
    for b in range(nb):
        idx = perm[b * bs : (b + 1) * bs]
        if share is not None:
            idx = idx[share[1]]  # this process's rows of the global batch
        lr, mom = set_schedule(opt, epoch * nb + b, stage.epochs * nb, stage, run.config)
        xb = augment_batch(
            train_x[idx], run.augment, run.gen, stage.size, run.config.padding_mode, share
        )
        loss = run_step(run, opt, normalise(xb, run.mean, run.std), run.data.train_y[idx], log)
        pending.append((b, loss, lr, mom))
        stop = ddp.any_true(d, should_stop())  # every process stops at the same batch
        # On a GPU, reading the loss forces a sync; batch events are written in bursts (every
        # 16 batches under torchrun, where all processes must read them together).
        burst = (b + 1) % 16 == 0 if d.on else time.perf_counter() - last_flush > 0.5
        if not run.cuda or stop or b == nb - 1 or burst:
            log_batches(pending, stage_index, nb, progress, log, d)
            pending.clear()
            last_flush = time.perf_counter()
        if stop:
            return True
    return False


# --------------------------------------------------------------------------- stages and the fit


class _Clock:
    """Seconds between marks: CUDA events on a GPU (no host sync per batch), else perf_counter."""

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
            return float(a.elapsed_time(b)) / 1000.0
        return float(b - a)


def begin_stage(
    run: Run, stage_index: int, log: EventLog
) -> tuple[torch.optim.AdamW, torch.Tensor, torch.Tensor]:
    """Freeze or unfreeze, make the stage's optimizer and its training and validation images.

    Returns:
        (optimizer, training cache at this stage's presize, validation images at its size).
    """
    from explorer import models

    stage, cfg = run.config.stages[stage_index], run.config
    (models.freeze if stage.frozen else models.unfreeze)(run.model)
    wrap_for_stage(run)
    opt = make_optimizer(run.model, stage, cfg)
    # Progressive resize: a smaller stage trains from a cache shrunk once, not per batch.
    base_side = run.data.train_x.shape[-1]
    side = min(base_side, round(stage.size * cfg.presize_scale))
    train_x = run.data.train_x if side == base_side else resize_batch(run.data.train_x, side)
    valid_x = resize_batch(run.data.valid_x, stage.size)
    log.emit(
        StageEvent(
            event="stage",
            stage=stage_index,
            n_stages=len(cfg.stages),
            epochs=stage.epochs,
            size=stage.size,
            frozen=stage.frozen,
            lrs=[g["lr_max"] for g in opt.param_groups],
            batches=run.batches,
            trainable=sum(p.numel() for p in run.model.parameters() if p.requires_grad),
            batch_shape=[cfg.batch_size, 3, stage.size, stage.size],
        )
    )
    run.model.train()
    return opt, train_x, valid_x


@dataclass
class FitResult:
    """What a run produced."""

    history: list[EpochRow] = field(default_factory=list)  # one row per epoch
    checkpoint: Path | None = None  # the last checkpoint written
    stopped: bool = False  # True when a stop was requested before the end
    error_rate: float | None = None  # the last validation error rate


def run_epoch(
    run: Run,
    opt: torch.optim.Optimizer,
    si: int,
    e: int,
    tensors: tuple[torch.Tensor, ...],
    progress: Progress,
    log: EventLog,
    should_stop: Callable[[], bool],
) -> EpochRow | None:
    """Train one epoch and validate it; its table row, or None when a stop was requested."""
    train_x, valid_x = tensors
    clock, cfg = _Clock(run.device), run.config
    t0 = clock.mark()
    if train_epoch(run, opt, si, e, train_x, progress, log, should_stop):
        return None
    t1 = clock.mark()
    vloss, error_rate = evaluate(
        run.model, valid_x, run.data.valid_y, run.mean, run.std, cfg.batch_size, run.dist
    )
    train_s = clock.seconds(t0, t1)
    return EpochRow(
        epoch=progress.epoch,
        stage=si,
        train_loss=progress.smooth_loss,
        valid_loss=vloss,
        error_rate=error_rate,
        time=clock.seconds(t0, clock.mark()),
        images_per_s=run.batches * cfg.batch_size / train_s if train_s > 0 else math.nan,
    )


def fit_stages(
    config: TrainConfig,
    log: EventLog,
    should_stop: Callable[[], bool],
    weights_folder: Path | None,
) -> FitResult:
    """The stages, epochs and batches of `fit` (see there)."""
    log.emit(StatusEvent(event="status", message="preparing data"))
    d, device = ddp.init(resolve_device(config.device))
    if config.batch_size % d.world:
        raise ConfigError(
            f"The batch size {config.batch_size} is the global one and must split evenly over "
            f"the {d.world} training processes; use a multiple of {d.world}."
        )
    data = ddp.share_prepared(
        d,
        lambda: prepare_data(
            config, device, lambda m: log.emit(StatusEvent(event="status", message=m))
        ),
        device,
    )
    if ddp.any_true(d, should_stop()):  # asked to stop while decoding: nothing to save
        log.emit(EndEvent(event="stopped", checkpoint=None, path=None, error_rate=None))
        return FitResult(stopped=True)
    run = setup_run(config, data, d)
    log.emit(start_event(run))
    progress, result = Progress(), FitResult()
    for si, stage in enumerate(config.stages):
        opt, train_x, valid_x = begin_stage(run, si, log)
        for e in range(stage.epochs):
            row = run_epoch(run, opt, si, e, (train_x, valid_x), progress, log, should_stop)
            result.stopped = row is None
            if row is None:
                break
            result.error_rate = row["error_rate"]
            result.history.append(row)
            log.emit(EpochEvent(event="epoch", **row))
            progress.epoch += 1
            snapshot(run, si, result.history, weights_folder)
        if d.main:  # one process writes the checkpoint
            result.checkpoint = save_checkpoint(
                run, si, result.history, result.stopped, weights_folder
            )
            log.emit(
                CheckpointEvent(
                    event="checkpoint", name=config.name, path=str(result.checkpoint), stage=si
                )
            )
        if result.stopped:
            break
    log.emit(
        EndEvent(
            event="stopped" if result.stopped else "done",
            checkpoint=config.name,
            path=str(result.checkpoint) if result.checkpoint else None,
            error_rate=result.error_rate,
        )
    )
    return result


def error_kind(exc: BaseException) -> ErrorKind:
    """How a failed run is explained to a person: out of memory, a missing dataset or weights, any
    other mistake a person can fix ("input"), or a bug ("internal")."""
    from explorer import data, models

    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return "oom"
    if isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower():
        return "oom"  # some back-ends (cuDNN, MPS) raise a plain RuntimeError
    if isinstance(exc, data.DatasetUnavailable):
        return "dataset"
    if isinstance(exc, models.WeightsUnavailable):
        return "weights"
    if isinstance(exc, UserError):
        return "input"
    if isinstance(exc, ddp.RankFailed):
        return "rank"
    return "internal"


def fit(
    config: TrainConfig,
    run_dir: Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    listeners: Sequence[Listener] = (),
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
        explorer.errors.UserError: for things a person can fix (a missing dataset or weights, a
        diverged loss, ...); torch.OutOfMemoryError when a batch does not fit.
    """
    main = ddp.env_rank() == 0  # under torchrun only process 0 writes the log
    log = EventLog(
        run_dir / "events.jsonl" if run_dir and main else None, listeners if main else ()
    )
    try:
        return fit_stages(config, log, should_stop, weights_folder)
    except BaseException as exc:
        if ddp.launched() and error_kind(exc) == "internal" and isinstance(exc, RuntimeError):
            # A collective failed because another process died: say that, not gloo's words.
            print(f"process {ddp.env_rank()}: {str(exc)[:300]}", flush=True)  # the details
            exc = ddp.RankFailed(ddp.RANK_FAILED)
        kind = error_kind(exc)
        log.emit(ErrorEvent(event="error", kind=kind, message=str(exc) or type(exc).__name__))
        if isinstance(exc, ddp.RankFailed):
            raise exc from None
        raise
    finally:
        log.close()
        ddp.close_group()
