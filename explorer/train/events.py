"""What a run reports, one JSON object per line in runs/<id>/events.jsonl: a TypedDict per kind.

The trainer writes them (`EventLog`), explorer.jobs and the Training page read them back
(`read_events`); no torch here, so reading a run stays cheap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NotRequired, TextIO, TypedDict, cast

ErrorKind = Literal["oom", "dataset", "weights", "input", "rank", "internal"]
FINAL_EVENTS = ("done", "stopped", "error")
# How explorer.jobs stops a trainer without a race against its start-up: the trainer writes
# READY_FILE once its SIGTERM handler is installed and then reads STOP_FILE; jobs.stop writes
# STOP_FILE and then signals only if READY_FILE exists.
STOP_FILE = "stop_requested"
READY_FILE = "signals_ready"


class StatusEvent(TypedDict):
    """What the trainer is doing before it trains (e.g. decoding images)."""

    event: Literal["status"]
    t: NotRequired[float]  # Unix time, stamped by EventLog
    message: str


class StartEvent(TypedDict):
    """The data and model are ready: what the run works with."""

    event: Literal["start"]
    t: NotRequired[float]
    device: str
    amp: str  # "bf16" on CUDA, "fp32" elsewhere
    classes: list[str]
    n_train: int
    n_valid: int
    skipped: int  # unreadable images left out
    cache_shape: list[int]  # the presized uint8 training cache (N, 3, P, P)
    batches_per_epoch: list[int]  # per stage
    total_epochs: int
    n_params: int
    config: dict[str, Any]  # TrainConfig.to_dict()


class StageEvent(TypedDict):
    """A stage (one fit_one_cycle) begins."""

    event: Literal["stage"]
    t: NotRequired[float]
    stage: int  # 0-based
    n_stages: int
    epochs: int
    size: int
    frozen: bool
    lrs: list[float]  # peak lr per layer group, first group first
    batches: int  # per epoch
    trainable: int  # parameters that get a gradient in this stage
    batch_shape: list[int]


class BatchEvent(TypedDict):
    """One optimizer step."""

    event: Literal["batch"]
    t: NotRequired[float]
    stage: int
    epoch: int  # over the whole run, 0-based
    batch: int  # in the epoch, 0-based
    batches: int  # per epoch
    step: int  # over the whole run
    loss: float
    smooth_loss: float  # fastai's debiased exponential moving average (beta 0.98)
    lr: float  # head group's
    mom: float


class EpochRow(TypedDict):
    """One line of the table fastai prints after each epoch."""

    epoch: int
    stage: int
    train_loss: float  # the smoothed training loss at the end of the epoch
    valid_loss: float
    error_rate: float
    time: float  # seconds, training + validation
    images_per_s: float  # training throughput


class EpochEvent(EpochRow):
    event: Literal["epoch"]
    t: NotRequired[float]


class CheckpointEvent(TypedDict):
    """A checkpoint was written (after every stage, and on a stop)."""

    event: Literal["checkpoint"]
    t: NotRequired[float]
    name: str
    path: str
    stage: int


class EndEvent(TypedDict):
    """The run ended as planned ("done") or on request ("stopped")."""

    event: Literal["done", "stopped"]
    t: NotRequired[float]
    checkpoint: str | None  # the checkpoint's name, None when nothing was saved
    path: str | None
    error_rate: float | None


class ErrorEvent(TypedDict):
    """The run failed; `kind` says how to explain it to a person."""

    event: Literal["error"]
    t: NotRequired[float]
    kind: ErrorKind
    message: str


Event = (
    StatusEvent
    | StartEvent
    | StageEvent
    | BatchEvent
    | EpochEvent
    | CheckpointEvent
    | EndEvent
    | ErrorEvent
)
Listener = Callable[[Event], None]


class EventLog:
    """Appends one JSON object per line to `path` (flushed each line) and passes it to listeners."""

    def __init__(self, path: Path | None, listeners: Sequence[Listener] = ()) -> None:
        self.path = path
        self.listeners = list(listeners)
        self._fh: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def emit(self, record: Event) -> None:
        """Stamp `record` with the time, write it and hand it to every listener."""
        rec = cast(Event, {"event": record["event"], "t": round(time.time(), 3), **record})
        if self._fh is not None:
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()
        for fn in self.listeners:
            fn(rec)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_events(path: Path) -> list[Event]:
    """Every complete event in an events.jsonl file ([] when there is none yet).

    The writer may be half-way through the last line: a line that does not parse is skipped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    events: list[Event] = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("event"), str):
            events.append(cast(Event, rec))
    return events


def format_time(seconds: float) -> str:
    """Seconds as fastai's epoch table shows them: mm:ss."""
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"
