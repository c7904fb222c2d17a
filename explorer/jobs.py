"""The server's training jobs, run one after another as child processes (`python -m
explorer.train`, or under torchrun with N processes).

A lock file in runs/ names the running job; jobs submitted meanwhile wait in runs/queue/ (one file
each, named so they sort in submission order). Whichever process first notices that no job runs
(a page polling, or the trainer handing over as it exits) starts the next one: taking the lock
with O_EXCL decides the race. Everything a page shows is read back from the run's folder
(config.json, events.jsonl, log), so a refresh or another browser tab reattaches to it.

Each browser session is an owner (a random token; runs keep only its hash). When the server sets
EXPLORER_ADMIN_TOKEN, only a job's owner or the holder of that token may stop or cancel it;
without it, anyone may (a single-user laptop).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer import paths, procs, roots
from explorer.errors import UserError
from explorer.owners import ADMIN_ENV, admin_configured, is_admin, owner_id
from explorer.procs import gpu_count
from explorer.runview import Bar, epoch_table, failure_message, log_tail, progress_bars, shapes_line

# Reading runs needs no torch (explorer.train loads its loop lazily): a status check stays cheap.
from explorer.train.events import (
    FINAL_EVENTS,
    READY_FILE,
    STOP_FILE,
    BatchEvent,
    CheckpointEvent,
    EndEvent,
    EpochEvent,
    ErrorEvent,
    Event,
    StageEvent,
    StartEvent,
    read_events,
)

if TYPE_CHECKING:
    from explorer.train import TrainConfig

__all__ = [  # what a page shows of a run, and who may control it
    "ADMIN_ENV",
    "Bar",
    "admin_configured",
    "epoch_table",
    "gpu_count",
    "is_admin",
    "owner_id",
    "progress_bars",
    "shapes_line",
]
_failure_message = failure_message  # the name the tests have used

LOCK_NAME = "job.lock"
QUEUE_DIR = "queue"
LOG_TAIL_LINES = 20
MAX_PROCS = 64  # processes per job (torchrun's --nproc-per-node); one per GPU


class JobBusy(UserError, RuntimeError):
    """A training job is already running; the message names it."""


class NoSuchRun(UserError):
    """A run id that has no folder under runs/."""


class NotYourJob(UserError, PermissionError):
    """Stopping or cancelling another session's job while an admin token protects jobs."""


class NotQueued(UserError):
    """Cancelling a job that is no longer waiting (it has started, ended or was cancelled)."""


@dataclass
class JobStatus:
    """A run as read from disk.

    `state` is "queued" (waiting for the running job), "cancelled", "starting" (process up, data
    not ready), "running", "done", "stopped" or "failed".
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
    owner: str | None = None  # hash of the submitting session's token (None: started by hand)
    position: int | None = None  # 1-based place in the queue while queued
    procs: int = 1  # training processes (torchrun's --nproc-per-node)

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
    """The running job's run id, or None (a lock left by a dead process is cleaned up).

    When no job runs and jobs are queued, the first of them is started here: whoever asks first
    after a job ends starts the next.
    """
    lock = _clean_stale_lock()
    if lock is None and _queue_entries():
        advance()
        lock = _clean_stale_lock()
    return lock.get("run_id") if lock else None


# --------------------------------------------------------------------------- owners


def may_control(run_id: str, owner: str | None = None, admin: str | None = None) -> bool:
    """Whether a session (its token `owner`, and an `admin` token if typed) may stop or cancel
    `run_id`: always without an admin token configured, else only its owner or an admin."""
    if not admin_configured() or is_admin(admin):
        return True
    rec = _read_json(paths.runs_dir() / run_id / "owner.json") or {}
    mine = owner_id(owner)
    return mine is not None and rec.get("owner") == mine


def _check_control(run_id: str, owner: str | None, admin: str | None, what: str) -> None:
    if not may_control(run_id, owner, admin):
        raise NotYourJob(
            f"Job {run_id} was started by another session: only that session, or someone with "
            f"the admin token, can {what} it."
        )


# --------------------------------------------------------------------------- start / stop


def _new_run_id(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{uuid.uuid4().hex[:4]}"


def _check_procs(procs: int) -> int:
    if not 1 <= int(procs) <= MAX_PROCS:
        raise UserError(f"A job runs 1 to {MAX_PROCS} training processes, not {procs}.")
    return int(procs)


def _make_run(
    config: TrainConfig, owner: str | None, nprocs: int, run_id: str | None = None
) -> str:
    """A new run's folder with its config and owner; returns its id."""
    if config.data.startswith("folder:"):  # the server reads only below its data roots
        roots.check_folder(config.data.removeprefix("folder:"))
    root = paths.runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    run_id = run_id or _new_run_id(config.name)
    run_dir = root / run_id
    run_dir.mkdir()
    record = {"owner": owner_id(owner), "procs": nprocs}
    (run_dir / "owner.json").write_text(json.dumps(record))
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    return run_id


def train_argv(cfg_path: Path, run_dir: Path, procs: int = 1) -> list[str]:
    """The trainer's command line: plain Python for one process, torchrun for several."""
    tail = ["-m", "explorer.train", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    if procs == 1:
        return [sys.executable, *tail]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return [*launcher, "--nproc-per-node", str(procs), *tail]


def _launch(run_id: str) -> None:
    """Start the trainer of a run whose folder exists; the caller holds the lock for it."""
    run_dir = paths.runs_dir() / run_id
    nprocs = int((_read_json(run_dir / "owner.json") or {}).get("procs", 1))
    argv = train_argv(run_dir / "config.json", run_dir, nprocs)
    # EXPLORER_JOB tells the trainer it is a queued job: as it exits it hands the lock over.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "EXPLORER_JOB": run_id}
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
    job = {
        "run_id": run_id,
        "pid": proc.pid,
        "ticks": procs.start_ticks(proc.pid),
        "argv": argv,
        "started": time.time(),
    }
    (run_dir / "job.json").write_text(json.dumps(job))
    _write_lock(job, exclusive=False)
    # The Popen object is dropped on purpose: status is read from disk by whichever session asks,
    # and procs.pid_alive reaps the child when it ends. Marking it as handled stops Popen's
    # finaliser from queueing the pid for its own reaping (which would hide the exit from
    # pid_alive).
    proc.returncode = 0


def start(config: TrainConfig, owner: str | None = None, nprocs: int = 1) -> str:
    """Launch `python -m explorer.train` for `config` now, or refuse when a job runs.

    The page queues instead (`submit`); this is the immediate form (tests, scripts).

    Args:
        config: the run to train.
        owner: the starting session's token (None: nobody owns it).
        nprocs: training processes (more than 1 runs torchrun).

    Returns:
        The new run's id (its folder name under runs/).

    Raises:
        JobBusy: another job is running (from this or any other session).
    """
    nprocs = _check_procs(nprocs)
    paths.runs_dir().mkdir(parents=True, exist_ok=True)
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
        _make_run(config, owner, nprocs, run_id)
        _launch(run_id)
    except BaseException:
        _lock_path().unlink(missing_ok=True)
        raise
    return run_id


def stop(owner: str | None = None, admin: str | None = None) -> str | None:
    """Ask the running job to stop: a stop file, and SIGTERM to its process group.

    The trainer finishes the current batch, saves a checkpoint, writes a "stopped" event and exits
    (handing the lock to the next queued job). A trainer still starting up, before its handler is
    installed, would die of the signal without handing over; it is sent only once the trainer has
    written READY_FILE, and the trainer reads STOP_FILE after writing it, so whichever comes
    first, the request is seen.

    Returns:
        The stopped job's run id, or None when no job was running.

    Raises:
        NotYourJob: an admin token is configured and this session neither owns the job nor gave it.
    """
    lock = _clean_stale_lock()
    if not lock or not lock.get("pid"):
        return None
    _check_control(lock["run_id"], owner, admin, "stop")
    run_dir = paths.runs_dir() / lock["run_id"]
    try:
        (run_dir / STOP_FILE).write_text(str(time.time()))
        if (run_dir / READY_FILE).exists():
            os.killpg(lock["pid"], signal.SIGTERM)
    except (ProcessLookupError, FileNotFoundError):
        return None
    return lock["run_id"]


# --------------------------------------------------------------------------- the queue


def _queue_dir() -> Path:
    return paths.runs_dir() / QUEUE_DIR


def _queue_entries() -> list[Path]:
    """The queue's files, first in line first (their names start with the submission time)."""
    folder = _queue_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".json")


def _entry_run_id(entry: Path) -> str:
    return entry.stem.split("-", 1)[1]


def queued() -> list[str]:
    """Run ids of the queued jobs, first in line first."""
    return [_entry_run_id(p) for p in _queue_entries()]


def submit(config: TrainConfig, owner: str | None = None, nprocs: int = 1) -> tuple[str, int]:
    """Queue a job for `config`; it starts at once when no job runs.

    Args:
        config: the run to train.
        owner: the submitting session's token (kept as a hash).
        nprocs: training processes (more than 1 runs torchrun).

    Returns:
        (run id, place in the queue: 0 when it is running already, 1 when it is next, ...).
    """
    nprocs = _check_procs(nprocs)
    run_id = _make_run(config, owner, nprocs)
    folder = _queue_dir()
    folder.mkdir(exist_ok=True)
    entry = folder / f"{time.time_ns():020d}-{run_id}.json"
    tmp = entry.with_suffix(".tmp")
    tmp.write_text(json.dumps({"run_id": run_id, "submitted": time.time()}))
    os.replace(tmp, entry)  # appears whole: a reader never sees half an entry
    current()  # starts it if nothing runs
    line = queued()
    return run_id, line.index(run_id) + 1 if run_id in line else 0


def advance() -> str | None:
    """Start the first queued job if no job runs; returns its run id (None: nothing started).

    Safe to call from any number of processes at once: the O_EXCL lock picks one starter, and
    removing the queue entry is the claim (a cancel that removed it first wins).
    """
    for _ in range(8):
        if _clean_stale_lock() is not None:
            return None
        entries = _queue_entries()
        if not entries:
            return None
        run_id = _entry_run_id(entries[0])
        try:
            _write_lock({"run_id": run_id, "owner_pid": os.getpid()}, exclusive=True)
        except FileExistsError:
            return None  # another process is starting a job
        try:
            entries[0].unlink()
        except FileNotFoundError:  # cancelled, or started by another process meanwhile
            _lock_path().unlink(missing_ok=True)
            continue
        try:
            _launch(run_id)
        except BaseException:
            _lock_path().unlink(missing_ok=True)
            raise
        return run_id
    return None


def cancel(run_id: str, owner: str | None = None, admin: str | None = None) -> None:
    """Take a queued job out of the queue.

    Raises:
        NotYourJob: an admin token is configured and this session neither owns the job nor gave it.
        NotQueued: the job is no longer waiting (it started, ended or was cancelled).
    """
    _check_control(run_id, owner, admin, "cancel")
    for entry in _queue_entries():
        if _entry_run_id(entry) == run_id:
            try:
                entry.unlink()
            except FileNotFoundError:
                break  # started meanwhile
            (paths.runs_dir() / run_id / "cancelled").write_text(str(time.time()))
            return
    raise NotQueued(
        f"Job {run_id} is no longer waiting in the queue (it has started or ended); stop it "
        "instead if it is running."
    )


def handoff(run_id: str) -> str | None:
    """Called by a queued job's trainer as it exits: free the lock it holds and start the next.

    Returns:
        The run id of the job started next, or None.
    """
    lock = _read_json(_lock_path())
    if lock is not None and lock.get("run_id") == run_id:
        aside = _lock_path().with_name(f"{LOCK_NAME}.{uuid.uuid4().hex}.done")
        try:
            os.rename(_lock_path(), aside)
        except FileNotFoundError:
            return None
        if _read_json(aside) != lock:  # a fresh lock arrived in between: put it back
            try:
                os.link(aside, _lock_path())
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)
    return advance()


# --------------------------------------------------------------------------- reading runs


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
            # The newest run that started (a queued or cancelled one has nothing to show yet).
            runs = [r for r in _run_ids() if (paths.runs_dir() / r / "job.json").exists()]
            runs = runs or _run_ids()
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
    owner = _read_json(run_dir / "owner.json") or {}
    st.owner, st.procs = owner.get("owner"), int(owner.get("procs", 1))
    if not job:
        if (run_dir / "cancelled").exists():
            st.state = "cancelled"
            return st
        line = queued()
        if run_id in line:
            st.state, st.position = "queued", line.index(run_id) + 1
            return st
    final = _sort_events(st, read_events(run_dir / "events.jsonl"))
    st.log_tail = log_tail(run_dir / "log")
    alive = procs.pid_alive(job.get("pid"), job.get("ticks")) if job else False
    if final is not None and final["event"] != "error":
        st.state = final["event"]
    elif final is not None or not alive:
        if final is None and not job:
            st.state = "running" if st.start else "starting"  # launched by hand, not by start()
            return st
        if final is None and (run_dir / STOP_FILE).exists():
            st.state = "stopped"  # stopped before the trainer could catch the signal (start-up)
            return st
        st.state = "failed"
        error = final if final is not None and final["event"] == "error" else None
        st.message = failure_message(error, st.log_tail, config)
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
