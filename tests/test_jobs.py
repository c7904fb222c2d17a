"""Tests for explorer.jobs with real child processes: start, refuse a second start, reattach,
stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer import jobs, models
from explorer import train as tr

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    monkeypatch.setenv("EXPLORER_DATA_ROOTS", str(tmp_path))  # the folder jobs below read here
    yield tmp_path
    admin = os.environ.get(jobs.ADMIN_ENV)
    for run_id in jobs.queued():
        jobs.cancel(run_id, admin=admin)
    if jobs.current():  # never leave a training process behind
        jobs.stop(admin=admin)
        wait_for(lambda: jobs.current() is None, 60)


def wait_for(cond, timeout: float, every: float = 0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def slow_tiny(**over) -> tr.TrainConfig:
    # Enough batches that the job is still training when the test stops it.
    stage = tr.Stage(epochs=50, size=32, lr=(1e-3, 1e-3), frozen=False)
    return tr.recipe("tiny", stages=[stage], cpu_threads=1, name="job-test", **over)


def read_in_fresh_process(run_id: str, home: Path) -> dict:
    code = (
        "import json, sys; from explorer import jobs; s = jobs.status(sys.argv[1]); "
        "print(json.dumps({'state': s.state, 'batches': len(s.batches), 'classes': "
        "(s.start or {}).get('classes'), 'torch': 'torch' in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, run_id],
        cwd=ROOT,
        env={**os.environ, "EXPLORER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_lifecycle_start_refuse_reattach_stop(home: Path) -> None:
    run_id = jobs.start(slow_tiny())
    assert jobs.current() == run_id
    with pytest.raises(jobs.JobBusy, match=run_id):
        jobs.start(slow_tiny())
    st = wait_for(lambda: (s := jobs.status()) and len(s.batches) >= 2 and s, 120)
    assert st.run_id == run_id and st.state == "running"
    assert st.start["classes"] == ["circle", "square", "triangle", "cross", "star"]
    assert st.start["cache_shape"] == [192, 3, 37, 37]  # 240 shapes, 20 % held out, 32 * 1.15 px
    assert [b["step"] for b in st.batches] == list(range(len(st.batches)))

    fresh = read_in_fresh_process(run_id, home)
    assert fresh["state"] == "running" and fresh["batches"] >= 2
    assert fresh["classes"] == st.start["classes"]
    assert fresh["torch"] is False  # reading a run is cheap: no torch import

    assert jobs.stop() == run_id
    done = wait_for(lambda: (s := jobs.status(run_id)) and not s.running and s, 120)
    assert done.state == "stopped", done.log_tail
    assert done.checkpoint == "job-test"
    assert len(done.epochs) < 50
    model, meta = models.load("job-test", folder=home / "weights")
    assert meta["classes"] == st.start["classes"] and meta["complete"] is False
    wait_for(lambda: jobs.current() is None, 30)  # the lock goes with the process
    assert not (home / "runs" / jobs.LOCK_NAME).exists()
    rows = jobs.list_runs()
    assert [r["run_id"] for r in rows] == [run_id] and rows[0]["state"] == "stopped"


def test_failed_job_reports_its_error_and_releases_the_lock(home: Path) -> None:
    missing = home / "no-such-folder"
    run_id = jobs.start(slow_tiny(data=f"folder:{missing}"))
    st = wait_for(lambda: (s := jobs.status(run_id)) and not s.running and s, 120)
    assert st.state == "failed"
    assert "no-such-folder" in st.message
    assert not any("Traceback" in ln for ln in st.log_tail)  # a person's error, not a crash
    wait_for(lambda: jobs.current() is None, 30)  # the lock goes once the process has exited


def test_stale_lock_of_a_dead_process_is_cleaned(home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs = home / "runs"
    runs.mkdir()
    (runs / jobs.LOCK_NAME).write_text(json.dumps({"run_id": "old-run", "pid": dead.pid}))
    assert jobs.current() is None
    assert not (runs / jobs.LOCK_NAME).exists()


def test_live_lock_names_the_running_job(home: Path) -> None:
    runs = home / "runs"
    runs.mkdir()
    # This test process stands in for a running trainer.
    (runs / jobs.LOCK_NAME).write_text(json.dumps({"run_id": "busy-run", "pid": os.getpid()}))
    with pytest.raises(jobs.JobBusy, match="busy-run"):
        jobs.start(slow_tiny())
    (runs / jobs.LOCK_NAME).unlink()


def test_failure_messages() -> None:
    cfg = {"batch_size": 64}
    oom = jobs._failure_message({"kind": "oom", "message": "CUDA out of memory."}, [], cfg)
    assert "batch size 64" in oom and "32" in oom
    from_log = jobs._failure_message(None, ["torch.OutOfMemoryError: CUDA out of memory"], cfg)
    assert "smaller batch size" in from_log
    weights = jobs._failure_message({"kind": "weights", "message": "No weights."}, [], cfg)
    assert weights.startswith("No weights.") and "scratch" in weights
    crash = jobs._failure_message(None, ["Segmentation fault"], cfg)
    assert "Segmentation fault" in crash


def test_status_of_runs_that_died(home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for run_id, stop_file in (("died", False), ("stopped-early", True)):
        run = home / "runs" / run_id
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(slow_tiny().to_dict()))
        (run / "job.json").write_text(json.dumps({"run_id": run_id, "pid": dead.pid}))
        (run / "log").write_text("loading\rloading 50%\rKilled\n")
        if stop_file:
            (run / "stop_requested").write_text("0")
    died = jobs.status("died")
    assert died.state == "failed" and "Killed" in died.message
    assert died.log_tail == ["Killed"]  # what a terminal shows after the carriage returns
    assert jobs.status("stopped-early").state == "stopped"
    with pytest.raises(jobs.NoSuchRun):
        jobs.status("never-ran")


def test_what_the_page_shows_of_a_run_is_read_from_its_events() -> None:
    cfg = slow_tiny().to_dict()  # one stage of 50 epochs
    st = jobs.JobStatus(run_id="r", state="running", config=cfg)
    bars = jobs.progress_bars(st)
    assert [(b.fraction, b.text) for b in bars] == [(0.0, "stage 1/1"), (0.0, "epochs 0/50")]
    assert jobs.shapes_line(st) is None and jobs.epoch_table(st) == []
    st.start = {
        "event": "start",
        "device": "cpu",
        "amp": "fp32",
        "classes": list("abcde"),
        "n_train": 192,
        "n_valid": 48,
        "skipped": 2,
        "cache_shape": [192, 3, 37, 37],
        "batches_per_epoch": [6],
        "total_epochs": 50,
        "n_params": 1,
        "config": cfg,
    }
    st.stages = [
        {
            "event": "stage",
            "stage": 0,
            "n_stages": 1,
            "epochs": 50,
            "size": 32,
            "frozen": False,
            "lrs": [1e-3] * 3,
            "batches": 6,
            "trainable": 1,
            "batch_shape": [32, 3, 32, 32],
        }
    ]
    st.batches = [
        {
            "event": "batch",
            "stage": 0,
            "epoch": 1,
            "batch": 2,
            "batches": 6,
            "step": 8,
            "loss": 1.0,
            "smooth_loss": 1.0,
            "lr": 1e-3,
            "mom": 0.9,
        }
    ]
    st.epochs = [
        {
            "event": "epoch",
            "epoch": 0,
            "stage": 0,
            "train_loss": 1.25,
            "valid_loss": 1.5,
            "error_rate": 0.5,
            "time": 75.4,
            "images_per_s": 123.6,
        }
    ]
    bars = jobs.progress_bars(st)
    assert [b.text for b in bars] == [
        "stage 1/1: 32 px, unfrozen",
        "epochs 1/50",
        "batch 3/6 of epoch 2",
    ]
    assert [b.fraction for b in bars] == pytest.approx([0.0, 1 / 50, 3 / 6])
    assert jobs.shapes_line(st) == (
        "Shapes: cache (192, 3, 37, 37) uint8 on cpu · batch (32, 3, 32, 32) float (fp32) · "
        "logits (32, 5) · 192 train / 48 valid images · 2 unreadable images skipped"
    )
    assert jobs.epoch_table(st) == [
        {
            "epoch": 0,
            "train_loss": 1.25,
            "valid_loss": 1.5,
            "error_rate": 0.5,
            "time": "01:15",
            "images/s": 124,
        }
    ]
    st.state = "done"
    assert jobs.progress_bars(st)[0].fraction == 1.0


# --- the queue and its owners (issue 14) ------------------------------------------------------


def quick_job(name: str) -> tr.TrainConfig:
    return tr.recipe("tiny", cpu_threads=1, name=name)


def test_jobs_queue_run_one_after_another_and_only_owners_stop_or_cancel(
    home: Path, monkeypatch
) -> None:
    monkeypatch.setenv("EXPLORER_ADMIN_TOKEN", "teacher")
    first, pos = jobs.submit(slow_tiny(), owner="alice")
    assert pos == 0 and jobs.current() == first
    second, pos2 = jobs.submit(quick_job("queued-2"), owner="bob")
    third, pos3 = jobs.submit(quick_job("queued-3"), owner="bob")
    assert (pos2, pos3) == (1, 2) and jobs.queued() == [second, third]
    assert jobs.status(second).state == "queued" and jobs.status(third).position == 2
    assert jobs.status(second).owner == jobs.owner_id("bob") != jobs.owner_id("alice")
    assert "bob" not in (home / "runs" / second / "owner.json").read_text()  # only a hash

    with pytest.raises(jobs.NotYourJob, match=f"Job {first} was started by another session"):
        jobs.stop(owner="bob")
    with pytest.raises(jobs.NotYourJob):
        jobs.cancel(third, owner="alice", admin="not-the-token")
    assert not jobs.may_control(first, "bob") and jobs.may_control(first, "bob", "teacher")
    jobs.cancel(third, owner="alice", admin="teacher")  # the admin may cancel anyone's job
    assert jobs.queued() == [second] and jobs.status(third).state == "cancelled"
    with pytest.raises(jobs.NotQueued, match=third):
        jobs.cancel(third, owner="bob")
    assert jobs.current() == first  # still the first: queued jobs wait their turn

    assert jobs.stop(owner="alice") == first
    # The first trainer hands over as it exits: the second starts without anyone asking.
    wait_for(lambda: (home / "runs" / second / "job.json").exists(), 120)
    assert jobs.status(first).state == "stopped"
    with pytest.raises(jobs.NotQueued):
        jobs.cancel(second, owner="bob")  # it has started: stop it instead
    done = wait_for(lambda: (s := jobs.status(second)) and not s.running and s, 120)
    assert done.state == "done", done.log_tail
    wait_for(lambda: jobs.current() is None, 30)
    states = {r["run_id"]: r["state"] for r in jobs.list_runs()}
    assert states == {first: "stopped", second: "done", third: "cancelled"}


def test_stop_signals_only_a_trainer_that_can_catch_the_signal(home: Path, monkeypatch) -> None:
    # A trainer still starting up has no SIGTERM handler: the signal would kill it before it
    # could hand the lock to the next queued job (CI once saw the queue stall that way). Until it
    # writes its ready file, a stop only leaves the stop file, which the trainer reads next.
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(jobs.os, "killpg", lambda pid, sig: sent.append((pid, sig)))
    run = home / "runs" / "starting"
    run.mkdir(parents=True)
    # This test process stands in for the trainer (a live pid).
    (home / "runs" / jobs.LOCK_NAME).write_text(
        json.dumps({"run_id": "starting", "pid": os.getpid()})
    )
    assert jobs.stop() == "starting"
    assert sent == [] and (run / tr.events.STOP_FILE).exists()
    (run / tr.events.READY_FILE).write_text(str(os.getpid()))
    assert jobs.stop() == "starting"
    assert sent == [(os.getpid(), signal.SIGTERM)]
    (home / "runs" / jobs.LOCK_NAME).unlink()  # nothing for the fixture to stop


def test_a_stop_before_the_trainer_is_ready_still_ends_it_as_stopped(home: Path) -> None:
    for _ in range(3):  # stopped at once: at start-up, before the handler exists
        run_id = jobs.start(slow_tiny())
        assert jobs.stop() == run_id
        wait_for(lambda: jobs.current() is None, 120)
        st = jobs.status(run_id)
        assert st.state == "stopped", st.log_tail
        assert (home / "runs" / run_id / tr.events.READY_FILE).exists()


def test_without_an_admin_token_anyone_may_stop_or_cancel(home: Path, monkeypatch) -> None:
    monkeypatch.delenv("EXPLORER_ADMIN_TOKEN", raising=False)
    runs = home / "runs"
    runs.mkdir()
    # This test process stands in for a running trainer, so the job below stays queued.
    (runs / jobs.LOCK_NAME).write_text(json.dumps({"run_id": "busy-run", "pid": os.getpid()}))
    run_id, pos = jobs.submit(quick_job("laptop"), owner="alice")
    assert pos == 1 and jobs.may_control(run_id, None) and jobs.may_control(run_id, "bob")
    jobs.cancel(run_id, owner="bob")
    assert jobs.queued() == []
    (runs / jobs.LOCK_NAME).unlink()
    assert jobs.current() is None  # a cancelled job never starts


ADVANCE = """
import sys, time
from explorer import jobs
go = float(sys.argv[1])
while time.time() < go:
    pass
print("started", jobs.advance())
"""


def test_many_processes_advancing_at_once_start_exactly_one_job(home: Path) -> None:
    runs = home / "runs"
    runs.mkdir()
    (runs / jobs.LOCK_NAME).write_text(json.dumps({"run_id": "busy-run", "pid": os.getpid()}))
    # Both fail at once (a missing folder), so nothing keeps running after the test.
    missing = f"folder:{home / 'missing'}"
    a, _ = jobs.submit(tr.recipe("tiny", cpu_threads=1, name="race-a", data=missing))
    b, _ = jobs.submit(tr.recipe("tiny", cpu_threads=1, name="race-b", data=missing))
    assert jobs.queued() == [a, b]
    (runs / jobs.LOCK_NAME).unlink()  # the running job ends: six pages notice at the same time
    go = time.time() + 3.0
    env = {**os.environ, "EXPLORER_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ADVANCE, str(go)], cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=60)[0].decode().split()[-1] for p in procs]
    assert sorted(outs) == sorted(
        ["None"] * 5 + [a]
    )  # one starter, and it started the first in line
    assert (runs / a / "job.json").exists() and not (runs / b / "job.json").exists()
    assert jobs.status(b).state == "queued"
    # a fails at once; its hand-over (or the next look) starts b, which fails the same way.
    wait_for(lambda: jobs.status(b).state == "failed", 120)
    assert jobs.status(a).state == "failed" and jobs.queued() == []
    wait_for(lambda: jobs.current() is None, 30)
