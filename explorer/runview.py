"""What the Training page shows of a run, computed from its `explorer.jobs.JobStatus` and its
files: why it failed, the tail of its log, the progress bars, the shapes line and fastai's epoch
table (re-exported by explorer.jobs).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.train.events import ErrorEvent, format_time

if TYPE_CHECKING:
    from explorer.jobs import JobStatus


def log_tail(path: Path, n: int = 20) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    # A progress bar redraws with '\r': keep only what a terminal would show last on each line.
    lines = [ln.rsplit("\r", 1)[-1] for ln in text.split("\n")]
    return [ln for ln in lines if ln.strip()][-n:]


_HINTS = {
    "weights": " Untick 'pretrained' to train from scratch.",
    "dataset": " Download the dataset first or pick another one.",
}


_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def _torchrun_root_cause(tail: list[str]) -> str | None:
    """torchrun's report of the process that failed first, as a sentence (None: no report)."""
    m = _ROOT_CAUSE.search("\n".join(tail))
    if m is None:
        return None
    rank, code = int(m.group(1)), int(m.group(2))
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return (
        f"Training process {rank} of this run {how}, so torchrun ended the whole run; the job's "
        "log above says why."
    )


def failure_message(error: ErrorEvent | None, tail: list[str], config: dict[str, Any]) -> str:
    """Why a run failed, in a sentence a person can act on."""
    root = _torchrun_root_cause(tail)
    if root is not None and (error is None or error["kind"] == "rank"):
        return root
    oom = any("out of memory" in ln.lower() for ln in tail)
    if oom or (error is not None and error["kind"] == "oom"):
        bs = int(config.get("batch_size", 64))
        return (
            f"Ran out of memory at batch size {bs}; try a smaller batch size such as "
            f"{max(1, bs // 2)}."
        )
    if error is not None:
        return f"{error['message']}{_HINTS.get(error['kind'], '')}"
    last = tail[-1] if tail else "no output"
    return f"The training process ended without finishing (last output: {last})."


@dataclass
class Bar:
    """One progress bar: how full (0..1) and what it says."""

    fraction: float
    text: str


def progress_bars(job: JobStatus) -> list[Bar]:
    """Stage, epoch and (once training) batch progress of a run, as the page draws them."""
    planned = job.config.get("stages", [])
    n_stages = len(planned) or 1
    total_epochs = sum(s.get("epochs", 0) for s in planned) or 1
    stage = job.stages[-1] if job.stages else None
    si = stage["stage"] if stage else 0
    text = f"stage {min(si + 1, n_stages)}/{n_stages}"
    if stage:
        text += f": {stage['size']} px, {'frozen' if stage['frozen'] else 'unfrozen'}"
    done_stages = si + (1 if job.state == "done" else 0)
    bars = [
        Bar(min(1.0, done_stages / n_stages), text),
        Bar(min(1.0, len(job.epochs) / total_epochs), f"epochs {len(job.epochs)}/{total_epochs}"),
    ]
    if job.batches:
        last = job.batches[-1]
        bars.append(
            Bar(
                (last["batch"] + 1) / last["batches"],
                f"batch {last['batch'] + 1}/{last['batches']} of epoch {last['epoch'] + 1}",
            )
        )
    return bars


def shapes_line(job: JobStatus) -> str | None:
    """The tensor shapes the run works with (cache, batch, logits), once its data is ready."""
    s = job.start
    if s is None:
        return None
    bs = job.config.get("batch_size")
    size = job.stages[-1]["size"] if job.stages else job.config["stages"][0]["size"]
    line = (
        f"Shapes: cache {tuple(s['cache_shape'])} uint8 on {s['device']} · batch "
        f"({bs}, 3, {size}, {size}) float ({s['amp']}) · logits ({bs}, {len(s['classes'])}) · "
        f"{s['n_train']} train / {s['n_valid']} valid images"
    )
    if s["skipped"]:
        line += f" · {s['skipped']} unreadable images skipped"
    return line


def epoch_table(job: JobStatus) -> list[dict[str, Any]]:
    """The table fastai prints after each epoch, one row per epoch (time as mm:ss)."""
    return [
        {
            "epoch": e["epoch"],
            "train_loss": e["train_loss"],
            "valid_loss": e["valid_loss"],
            "error_rate": e["error_rate"],
            "time": format_time(e["time"]),
            "images/s": round(e["images_per_s"]) if math.isfinite(e["images_per_s"]) else None,
        }
        for e in job.epochs
    ]
