"""`python -m explorer.train`: the same run as the Training page, from a terminal.

Prints a progress bar (on a TTY) and fastai's epoch table; SIGTERM or Ctrl-C finishes the batch,
saves a checkpoint and exits 0. A mistake a person can fix is one sentence and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

import torch

from explorer.padding import PADDING_MODES
from explorer.train.config import RECIPES, TrainConfig, recipe
from explorer.train.events import READY_FILE, STOP_FILE, Event, format_time
from explorer.train.loop import error_kind, fit


class Printer:
    """Terminal output for the CLI: a progress bar (on a TTY) and the fastai-style epoch table."""

    COLS = ("epoch", "train_loss", "valid_loss", "error_rate", "time")

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout  # looked up now, not at import: tests swap sys.stdout
        self.tty = self.out.isatty()
        self.header_done = False

    def __call__(self, ev: Event) -> None:
        if ev["event"] == "status":
            self._line(ev["message"])
        elif ev["event"] == "start":
            self._line(
                f"{ev['n_train']} train / {ev['n_valid']} valid images, "
                f"{len(ev['classes'])} classes, cache {tuple(ev['cache_shape'])} uint8 on "
                f"{ev['device']} ({ev['amp']})"
                + (f", {ev['skipped']} unreadable skipped" if ev["skipped"] else "")
            )
        elif ev["event"] == "stage":
            frozen = "frozen" if ev["frozen"] else "unfrozen"
            lrs = ", ".join(f"{v:.0e}" for v in ev["lrs"])
            self._line(
                f"stage {ev['stage'] + 1}/{ev['n_stages']}: {ev['epochs']} epochs at "
                f"{ev['size']} px, {frozen}, lr per group [{lrs}]"
            )
        elif ev["event"] == "batch" and self.tty:
            done = ev["batch"] + 1
            bar = "#" * (30 * done // ev["batches"])
            self.out.write(
                f"\r[{bar:<30}] {done}/{ev['batches']} loss {ev['smooth_loss']:.4f} "
                f"lr {ev['lr']:.2e}"
            )
            self.out.flush()
        elif ev["event"] == "epoch":
            if not self.header_done:
                self._line("".join(f"{c:<12}" for c in self.COLS))
                self.header_done = True
            self._line(
                f"{ev['epoch']:<12}{ev['train_loss']:<12.6f}{ev['valid_loss']:<12.6f}"
                f"{ev['error_rate']:<12.6f}{format_time(ev['time'])}"
                f"   ({ev['images_per_s']:.0f} images/s)"
            )
        elif ev["event"] == "checkpoint":
            self._line(f"saved checkpoint {ev['name']} -> {ev['path']}")
        elif ev["event"] in ("done", "stopped"):
            self._line(f"{ev['event']}: checkpoint {ev['checkpoint']}")

    def _line(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(text + "\n")
        self.out.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m explorer.train",
        description="Train the lesson's CNN (fast.ai Lesson 6). Runs unchanged under `torchrun "
        "--standalone --nproc-per-node N -m explorer.train ...` (DistributedDataParallel: NCCL "
        "on CUDA, gloo on CPU; process 0 prepares the data, logs and checkpoints).",
    )
    p.add_argument("--recipe", default="lesson", choices=sorted(RECIPES), help="base recipe")
    p.add_argument(
        "--config", type=Path, help="a config.json (TrainConfig fields); flags override it"
    )
    p.add_argument("--data", help="pets | shapes | folder:PATH")
    p.add_argument("--arch", help="resnet18 | resnet34 | resnet50 ...")
    p.add_argument("--name", help="checkpoint name (weights/NAME.safetensors)")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument(
        "--batch-size",
        type=int,
        help="the global batch: under torchrun each of the N processes trains on batch/N of "
        "it; learning rates are per this global batch, so they stay as they are for any N",
    )
    p.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="under torchrun: SyncBatchNorm, statistics over the global batch",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="capture the step with torch.compile(mode='reduce-overhead') per image size "
        "(default: on for CUDA, off on a CPU; falls back with a sentence when it fails)",
    )
    p.add_argument(
        "--snapshots", type=int, help="keep the last N per-epoch checkpoints as NAME-epochK"
    )
    p.add_argument("--padding-mode", choices=list(PADDING_MODES))
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
    """The config a CLI invocation describes: --config or --recipe, then the explicit flags.

    Raises:
        explorer.train.ConfigError: an unusable field; OSError or ValueError for an unreadable
        --config file.
    """
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
        "sync_bn": args.sync_bn,
        "compile": args.compile,
        "snapshots": args.snapshots,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in over.items() if v is not None})
    if args.no_pretrained:
        cfg.pretrained = False
    return cfg


def _hint(kind: str, msg: str, cfg: TrainConfig) -> str:
    if kind == "weights":
        return msg + " Run again with --no-pretrained to train from scratch."
    if kind == "dataset" and cfg.data == "pets":
        return msg + " Run again with --download to fetch it (about 800 MB)."
    if kind == "oom":
        return (
            f"Ran out of memory with batch size {cfg.batch_size}: try --batch-size "
            f"{max(1, cfg.batch_size // 2)}."
        )
    return msg


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None) -> int:
    """CLI entry point; returns the exit code (0 also after a requested stop).

    `stop` may already be set (a signal caught while the modules were importing).
    """
    try:
        return _run(argv, stop)
    finally:
        _hand_over()


def _run(argv: Sequence[str] | None, stop: threading.Event | None) -> int:
    from explorer import paths

    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except (ValueError, OSError) as exc:  # a ConfigError, or an unreadable / non-JSON --config
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2
    stop = stop or threading.Event()
    run_dir = args.run_dir or paths.runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.name}"
    run_dir.mkdir(parents=True, exist_ok=True)

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        print(f"\n{name}: finishing the batch and saving a checkpoint", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    # explorer.jobs signals a job only once this file exists, and writes its stop file before
    # looking: written first and read second here, one of the two always sees the other's.
    if os.environ.get("EXPLORER_JOB") and os.environ.get("RANK", "0") == "0":
        (run_dir / READY_FILE).write_text(str(os.getpid()))
    if (run_dir / STOP_FILE).exists():
        stop.set()  # asked to stop before the handler was there to catch it
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        cfg_path.write_text(json.dumps(cfg.to_dict(), indent=2))
    if cfg.cpu_threads > 0:
        torch.set_num_threads(cfg.cpu_threads)  # the CLI owns its process, so this is its choice
    try:
        if args.download and cfg.data == "pets":
            from explorer import data

            data.download_pets(
                progress=lambda what, frac: print(f"{what} ({frac:.0%})", flush=True)
            )
        fit(cfg, run_dir, should_stop=stop.is_set, listeners=[Printer()])
    except Exception as exc:  # noqa: BLE001 - turned into one sentence + an exit code
        kind = error_kind(exc)
        if kind == "internal":
            import traceback

            traceback.print_exc()  # an unexpected failure: the log keeps the details
        msg = _hint(kind, str(exc) or type(exc).__name__, cfg)
        print(f"error: {msg}", file=sys.stderr, flush=True)
        return {"oom": 3, "internal": 1}.get(kind, 2)
    return 0


def _hand_over() -> None:
    """A job started by explorer.jobs frees the server's lock as it ends and starts the next queued
    job, so the queue moves on even when no page is open (rank 0 only under torchrun)."""
    run_id = os.environ.get("EXPLORER_JOB")
    if run_id and os.environ.get("RANK", "0") == "0":
        from explorer import jobs

        jobs.handoff(run_id)
