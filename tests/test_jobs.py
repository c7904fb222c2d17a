"""Tests for explorer.jobs with real child processes: start, refuse a second start, reattach,
stop."""

from __future__ import annotations

import json
import os
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
    yield tmp_path
    if jobs.current():  # never leave a training process behind
        jobs.stop()
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
