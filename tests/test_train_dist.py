"""torchrun tests on the CPU (gloo, 2 processes, `torchrun` as a subprocess, tiny shapes data,
resnet18 at 32 px, one epoch of 6 steps): two processes with SyncBatchNorm end with the weights one
process reaches over the same global batches; one checkpoint, one event log, no batch logged twice;
a killed process ends the job with one sentence and frees the server for the next."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from explorer import jobs, models
from explorer import train as tr
from explorer.train.events import read_events

pytestmark = pytest.mark.slow  # torchrun subprocesses: ~40 s together on 2 cores

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


STAGE = tr.Stage(epochs=1, size=32, lr=(1e-4, 1e-4), frozen=False)


def tiny(**over) -> tr.TrainConfig:
    # ps=0: dropout draws from each process's own RNG, the only part of a step that cannot match.
    # A small learning rate: from scratch at 3e-3, Adam turns float noise (even a different
    # thread count) into visibly different weights within 3 steps; at 1e-4 two thread counts
    # differ by 5e-6, two processes with SyncBatchNorm by 3e-5, and without it by 0.3.
    over = {"stages": [STAGE], **over}
    return tr.recipe("tiny", name="dist", ps=0.0, sync_bn=True, cpu_threads=1, **over)


def train(home: Path, nprocs: int) -> Path:
    home.mkdir()
    cfg = home / "config.json"
    cfg.write_text(json.dumps(tiny().to_dict()))
    run = home / "run"
    launcher = [sys.executable] if nprocs == 1 else [*TORCHRUN, "--nproc-per-node", str(nprocs)]
    subprocess.run(
        [*launcher, "-m", "explorer.train", "--config", str(cfg), "--run-dir", str(run)],
        cwd=ROOT,
        env={**os.environ, "EXPLORER_HOME": str(home), "OMP_NUM_THREADS": "1"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    return run


def test_two_processes_with_sync_bn_end_with_the_weights_of_one(tmp_path) -> None:
    one_run, two_run = train(tmp_path / "one", 1), train(tmp_path / "two", 2)
    one, meta1 = models.load("dist", folder=tmp_path / "one" / "weights")
    two, meta2 = models.load("dist", folder=tmp_path / "two" / "weights")
    assert (meta1["world_size"], meta2["world_size"]) == (1, 2)
    assert meta2["config"]["sync_bn"] is True and meta2["complete"] is True
    sd1, sd2 = one.state_dict(), two.state_dict()
    assert sd1.keys() == sd2.keys()  # SyncBatchNorm saved as plain BatchNorm: loads anywhere
    for k in sd1:
        if sd1[k].is_floating_point():
            # Same batches, same augmentation, gradients and BN statistics over the global batch:
            # only float summation order differs (two partial sums instead of one).
            torch.testing.assert_close(sd2[k], sd1[k], rtol=1e-3, atol=1e-4)
        else:
            assert torch.equal(sd1[k], sd2[k]), k  # num_batches_tracked
    ev1, ev2 = read_events(one_run / "events.jsonl"), read_events(two_run / "events.jsonl")
    b1 = [e for e in ev1 if e["event"] == "batch"]
    b2 = [e for e in ev2 if e["event"] == "batch"]
    assert [e["step"] for e in b2] == list(range(6)) == [e["step"] for e in b1]  # none twice
    # The logged loss is the global batch's: the mean of the two processes' halves.
    assert [e["loss"] for e in b2] == pytest.approx([e["loss"] for e in b1], rel=1e-4)
    ep1, ep2 = [e for e in ev1 if e["event"] == "epoch"], [e for e in ev2 if e["event"] == "epoch"]
    assert ep2[0]["valid_loss"] == pytest.approx(ep1[0]["valid_loss"], rel=1e-3)
    assert ep2[0]["error_rate"] == pytest.approx(ep1[0]["error_rate"], abs=1 / 48 + 1e-9)
    assert [e["event"] for e in ev2].count("done") == 1
    assert sorted(p.name for p in two_run.iterdir()) == ["config.json", "events.jsonl"]
    weights = sorted(p.name for p in (tmp_path / "two" / "weights").iterdir())
    assert weights == ["dist.json", "dist.safetensors"]  # one checkpoint, written by process 0


def test_a_global_batch_that_does_not_split_is_one_sentence(tmp_path) -> None:
    home = tmp_path / "odd"
    home.mkdir()
    cfg = home / "config.json"
    cfg.write_text(json.dumps(tiny(batch_size=31).to_dict()))
    out = subprocess.run(
        [*TORCHRUN, "--nproc-per-node", "2", "-m", "explorer.train", "--config", str(cfg)],
        cwd=ROOT,
        env={**os.environ, "EXPLORER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    assert (
        "error: The batch size 31 is the global one and must split evenly over the 2 training "
        "processes; use a multiple of 2." in out.stdout + out.stderr
    )


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(e.split(b"=", 1)[1]) for e in env if e.startswith(b"RANK=")]
    return ranks[0] if ranks else None


def test_a_killed_process_ends_the_job_with_one_sentence(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    slow = [tr.Stage(epochs=50, size=32, lr=(1e-3, 1e-3), frozen=False)]
    run_id = jobs.start(tiny(stages=slow), nprocs=2)
    try:
        job = jobs.status(run_id)
        assert job.procs == 2
        end = time.monotonic() + 180
        while time.monotonic() < end and len(jobs.status(run_id).batches) < 2:
            time.sleep(0.5)
        assert len(jobs.status(run_id).batches) >= 2, jobs.status(run_id).log_tail
        workers = {rank_of(p): p for p in children(job.pid)}
        assert set(workers) == {0, 1}, workers
        os.kill(workers[1], signal.SIGKILL)
        end = time.monotonic() + 120
        while time.monotonic() < end and jobs.status(run_id).running:
            time.sleep(0.5)
        assert jobs.status(run_id).state == "failed", jobs.status(run_id).log_tail
        end = time.monotonic() + 60
        while time.monotonic() < end and (jobs.current() or children(job.pid)):
            time.sleep(0.5)
        done = jobs.status(run_id)  # with torchrun's report of which process failed first
        assert done.state == "failed", done.log_tail
        assert done.message == (
            "Training process 1 of this run was killed by signal 9, so torchrun ended the whole "
            "run; the job's log above says why."
        )
        end = time.monotonic() + 60
        while time.monotonic() < end and (jobs.current() or children(job.pid)):
            time.sleep(0.5)
        assert jobs.current() is None and not children(job.pid)  # nothing left running
        assert not (tmp_path / "runs" / jobs.LOCK_NAME).exists()
    finally:
        if jobs.current():
            jobs.stop()
