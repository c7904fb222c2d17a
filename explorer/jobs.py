"""The one training job of the whole server, run as a child process (`python -m explorer.train`).

A lock file in runs/ names the running job; everything a page shows is read back from the run's
folder (config.json, events.jsonl, log), so a refresh or another browser tab reattaches to it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer import paths, procs
from explorer.errors import UserError

# Reading runs needs no torch (explorer.train loads its loop lazily): a status check stays cheap.
from explorer.train.events import (
    FINAL_EVENTS,
    BatchEvent,
    CheckpointEvent,
    EndEvent,
    EpochEvent,
    ErrorEvent,
    Event,
    StageEvent,
    StartEvent,
    format_time,
    read_events,
)

if TYPE_CHECKING:
    from explorer.train import TrainConfig

LOCK_NAME = "job.lock"
LOG_TAIL_LINES = 20


class JobBusy(UserError, RuntimeError):
    """A training job is already running; the message names it."""


class NoSuchRun(UserError):
    """A run id that has no folder under runs/."""


@dataclass
class JobStatus:
    """A run as read from disk.

    `state` is "starting" (process up, data not ready), "running", "done", "stopped" or "failed".
    """

    run_id: str
    state: str
    config: dict[str, Any]
    start: StartEvent | None = None  # the trainer's "start" event (device, classes, sizes)
    stages: list[StageEvent] = field(default_factory=list)
    batches: list[BatchEvent] = field(default_factory=list)
    epochs: list[EpochEvent] = field(default_factory=list)  # the epoch table
    checkpoints: list[CheckpointEvent] = field(default_factory=list)
    status_message: str | None = None  # the latest "status" event (e.g. decoding images)
    message: str | None = None  # why it failed, in a sentence, with a hint when there is one
    log_tail: list[str] = field(default_factory=list)  # last lines of the child's output
    pid: int | None = None
    started: float | None = None  # Unix time the job was launched

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running")

    @property
    def checkpoint(self) -> str | None:
        """Name of the last checkpoint written (None before the first stage ends)."""
        return self.checkpoints[-1]["name"] if self.checkpoints else None


# --------------------------------------------------------------------------- the lock


def _lock_path() -> Path:
    return paths.runs_dir() / LOCK_NAME


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _lock_alive(lock: dict[str, Any]) -> bool:
    if lock.get("pid"):
        return procs.pid_alive(lock["pid"], lock.get("ticks"))
    # Between taking the lock and launching the child only the starting process is recorded.
    return procs.pid_alive(lock.get("owner_pid"))


def _clean_stale_lock() -> dict[str, Any] | None:
    """The live lock's content, after removing a lock whose process is gone."""
    path = _lock_path()
    lock = _read_json(path)
    if lock is None:
        if path.exists() and time.time() - path.stat().st_mtime > 10:
            path.unlink(missing_ok=True)  # unreadable and old: a crash mid-write
            return None
        return {"run_id": "(starting)"} if path.exists() else None
    if _lock_alive(lock):
        return lock
    # Move it aside atomically, then check we moved the stale lock and not a fresh one.
    aside = path.with_name(f"{LOCK_NAME}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return None
    if _read_json(aside) != lock:
        try:
            os.link(aside, path)  # someone's fresh lock: put it back (fails if yet another exists)
        except FileExistsError:
            pass
    aside.unlink(missing_ok=True)
    return _read_json(path)


def _write_lock(content: dict[str, Any], exclusive: bool) -> None:
    path = _lock_path()
    data = json.dumps(content).encode()
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return
    tmp = path.with_name(f"{LOCK_NAME}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def current() -> str | None:
    """The running job's run id, or None (a lock left by a dead process is cleaned up)."""
    lock = _clean_stale_lock()
    return lock.get("run_id") if lock else None


# --------------------------------------------------------------------------- start / stop


def _new_run_id(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{uuid.uuid4().hex[:4]}"


def start(config: TrainConfig) -> str:
    """Launch `python -m explorer.train` for `config` as the server's one training job.

    Args:
        config: the run to train.

    Returns:
        The new run's id (its folder name under runs/).

    Raises:
        JobBusy: another job is running (from this or any other session).
    """
    root = paths.runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    run_id = _new_run_id(config.name)
    for _ in range(2):
        busy = _clean_stale_lock()
        if busy:
            raise JobBusy(
                f"Training job {busy.get('run_id')} is already running; stop it or wait for it "
                "to finish."
            )
        try:
            _write_lock({"run_id": run_id, "owner_pid": os.getpid()}, exclusive=True)
            break
        except FileExistsError:
            continue  # lost a race with another Start: report whoever won
    else:
        busy = _read_json(_lock_path()) or {}
        raise JobBusy(f"Training job {busy.get('run_id', '?')} is already running.")
    try:
        run_dir = root / run_id
        run_dir.mkdir()
        cfg_path = run_dir / "config.json"
        cfg_path.write_text(json.dumps(config.to_dict(), indent=2))
        argv = [
            sys.executable,
            "-m",
            "explorer.train",
            "--config",
            str(cfg_path),
            "--run-dir",
            str(run_dir),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(run_dir / "log", "wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=paths.REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # own process group: Stop signals it, not the server
            )
        ticks = procs.start_ticks(proc.pid)
        job = {
            "run_id": run_id,
            "pid": proc.pid,
            "ticks": ticks,
            "argv": argv,
            "started": time.time(),
        }
        (run_dir / "job.json").write_text(json.dumps(job))
        _write_lock(job, exclusive=False)
    except BaseException:
        _lock_path().unlink(missing_ok=True)
        raise
    # The Popen object is dropped on purpose: status is read from disk by whichever session asks,
    # and procs.pid_alive reaps the child when it ends. Marking it as handled stops Popen's
    # finaliser from queueing the pid for its own reaping (which would hide the exit from
    # pid_alive).
    proc.returncode = 0
    return run_id


def stop() -> str | None:
    """Ask the running job to stop: SIGTERM to its process group.

    The trainer finishes the current batch, saves a checkpoint, writes a "stopped" event and exits.

    Returns:
        The stopped job's run id, or None when no job was running.
    """
    lock = _clean_stale_lock()
    if not lock or not lock.get("pid"):
        return None
    run_dir = paths.runs_dir() / lock["run_id"]
    try:
        (run_dir / "stop_requested").write_text(str(time.time()))
        os.killpg(lock["pid"], signal.SIGTERM)
    except (ProcessLookupError, FileNotFoundError):
        return None
    return lock["run_id"]


# --------------------------------------------------------------------------- reading runs


def _log_tail(path: Path, n: int = LOG_TAIL_LINES) -> list[str]:
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


def _failure_message(error: ErrorEvent | None, tail: list[str], config: dict[str, Any]) -> str:
    """Why a run failed, in a sentence a person can act on."""
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


def status(run_id: str | None = None) -> JobStatus | None:
    """Read a run back from disk: the running job when `run_id` is None, else the newest run.

    Returns:
        None when there are no runs at all.

    Raises:
        NoSuchRun: `run_id` has no folder.
    """
    if run_id is None:
        run_id = current()
        if run_id is None:
            runs = _run_ids()
            if not runs:
                return None
            run_id = runs[0]
    run_dir = paths.runs_dir() / run_id
    if not run_dir.is_dir():
        raise NoSuchRun(f"There is no training run called {run_id!r}.")
    config = _read_json(run_dir / "config.json") or {}
    job = _read_json(run_dir / "job.json") or {}
    st = JobStatus(run_id=run_id, state="starting", config=config, pid=job.get("pid"))
    st.started = job.get("started")
    final = _sort_events(st, read_events(run_dir / "events.jsonl"))
    st.log_tail = _log_tail(run_dir / "log")
    alive = procs.pid_alive(job.get("pid"), job.get("ticks")) if job else False
    if final is not None and final["event"] != "error":
        st.state = final["event"]
    elif final is not None or not alive:
        if final is None and not job:
            st.state = "running" if st.start else "starting"  # launched by hand, not by start()
            return st
        if final is None and (run_dir / "stop_requested").exists():
            st.state = "stopped"  # stopped before the trainer could catch the signal (start-up)
            return st
        st.state = "failed"
        error = final if final is not None and final["event"] == "error" else None
        st.message = _failure_message(error, st.log_tail, config)
    else:
        st.state = "running" if st.start else "starting"
    return st


def _sort_events(st: JobStatus, events: list[Event]) -> EndEvent | ErrorEvent | None:
    """File each event in its list of `st`; returns the final event, if the run has one."""
    final: EndEvent | ErrorEvent | None = None
    for ev in events:
        if ev["event"] == "batch":
            st.batches.append(ev)
        elif ev["event"] == "epoch":
            st.epochs.append(ev)
        elif ev["event"] == "stage":
            st.stages.append(ev)
        elif ev["event"] == "checkpoint":
            st.checkpoints.append(ev)
        elif ev["event"] == "start":
            st.start = ev
        elif ev["event"] == "status":
            st.status_message = ev["message"]
        elif ev["event"] in FINAL_EVENTS:
            final = ev
    return final


def _run_ids() -> list[str]:
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and (p / "config.json").exists()]
    runs.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    return [p.name for p in runs]


def list_runs(limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs first, one summary row each.

    Returns:
        Rows {"run_id", "state", "name", "data", "arch", "epochs", "error_rate", "checkpoint"}.
    """
    rows = []
    for run_id in _run_ids()[:limit]:
        st = status(run_id)
        if st is None:
            continue
        planned = sum(s.get("epochs", 0) for s in st.config.get("stages", []))
        rows.append(
            {
                "run_id": run_id,
                "state": st.state,
                "name": st.config.get("name"),
                "data": st.config.get("data"),
                "arch": st.config.get("arch"),
                "epochs": f"{len(st.epochs)}/{planned}",
                "error_rate": st.epochs[-1]["error_rate"] if st.epochs else None,
                "checkpoint": st.checkpoint,
            }
        )
    return rows


# --------------------------------------------------------------------------- what a page shows


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
