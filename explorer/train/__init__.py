"""The lesson's training run: one-cycle fits, freeze/unfreeze, discriminative LRs, progressive
resize.

    config.py    Stage, TrainConfig (checked when made), the recipes, the text forms people type
    schedule.py  the one-cycle learning rate and momentum
    prepare.py   the presized uint8 cache, split and resized
    loop.py      setup_run, train_epoch, evaluate, fit: the loop itself, top to bottom
    events.py    EventLog and one TypedDict per event kind (read back by explorer.jobs)
    cli.py       `python -m explorer.train`

The config, schedule and events import no torch, so reading a run stays cheap; the loop's names
load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from explorer.train.config import (
    LR,
    RECIPES,
    ConfigError,
    Stage,
    StageRow,
    TrainConfig,
    format_lr,
    parse_lr,
    recipe,
    stage_rows,
    stages_from_rows,
    stages_from_text,
    stages_to_text,
)
from explorer.train.events import Event, EventLog, read_events
from explorer.train.schedule import (
    PlannedStep,
    annealing_cos,
    one_cycle,
    planned_schedule,
    set_schedule,
)

if TYPE_CHECKING:
    from explorer.train.cli import Printer, build_parser, config_from_args, main
    from explorer.train.loop import (
        DeviceUnavailable,
        Diverged,
        FitResult,
        Run,
        augment_batch,
        error_kind,
        evaluate,
        fit,
        fit_stages,
        make_optimizer,
        normalise,
        resolve_device,
        setup_run,
        train_epoch,
        train_step,
    )
    from explorer.train.prepare import Prepared, prepare_data, presize_side, resize_batch

_LAZY = {
    "cli": ("Printer", "build_parser", "config_from_args", "main"),
    "loop": (
        "DeviceUnavailable",
        "Diverged",
        "FitResult",
        "Run",
        "augment_batch",
        "error_kind",
        "evaluate",
        "fit",
        "fit_stages",
        "make_optimizer",
        "normalise",
        "resolve_device",
        "setup_run",
        "train_epoch",
        "train_step",
    ),
    "prepare": ("Prepared", "prepare_data", "presize_side", "resize_batch"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "LR",
    "PlannedStep",
    "RECIPES",
    "ConfigError",
    "Event",
    "EventLog",
    "Stage",
    "StageRow",
    "TrainConfig",
    "annealing_cos",
    "format_lr",
    "one_cycle",
    "parse_lr",
    "planned_schedule",
    "read_events",
    "recipe",
    "set_schedule",
    "stage_rows",
    "stages_from_rows",
    "stages_from_text",
    "stages_to_text",
    "Printer",
    "build_parser",
    "config_from_args",
    "main",
    "DeviceUnavailable",
    "Diverged",
    "FitResult",
    "Run",
    "augment_batch",
    "error_kind",
    "evaluate",
    "fit",
    "fit_stages",
    "make_optimizer",
    "normalise",
    "resolve_device",
    "setup_run",
    "train_epoch",
    "train_step",
    "Prepared",
    "prepare_data",
    "presize_side",
    "resize_batch",
]


def __getattr__(name: str) -> Any:
    # The loop needs torch (over a second to import): load it when one of its names is used.
    if name in _WHERE:
        return getattr(importlib.import_module(f"explorer.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'explorer.train' has no attribute {name!r}")
