"""The captured GPU step on the CPU (--compile / --no-compile): the flag reaches torch.compile once
per stage with reduce-overhead and static shapes, is off by default on a CPU, and a capture that
fails falls back with one sentence to the same eager steps; --snapshots keeps the last N epochs."""

from __future__ import annotations

import pytest
import torch

from explorer import checkpoints, models
from explorer import train as tr
from explorer.train import capture
from explorer.train.events import read_events


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def two_stages(**over) -> tr.TrainConfig:
    stages = [
        tr.Stage(epochs=1, size=32, lr=(1e-3, 1e-3), frozen=False),
        tr.Stage(epochs=1, size=24, lr=(1e-4, 1e-4), frozen=True),
    ]
    return tr.recipe("tiny", stages=stages, n_shapes=120, name="cap", **over)


def fit(cfg: tr.TrainConfig, tmp_path, tag: str) -> tuple[dict, list[dict]]:
    torch.manual_seed(0)  # dropout draws from the global generator
    run = tmp_path / tag
    tr.fit(cfg, run, weights_folder=tmp_path / f"w-{tag}")
    model, _ = models.load("cap", folder=tmp_path / f"w-{tag}")
    return model.state_dict(), read_events(run / "events.jsonl")


def test_compile_is_on_for_cuda_and_off_on_a_cpu_by_default() -> None:
    cfg = tr.recipe("tiny")
    assert cfg.compile is None
    assert capture.use_compile(cfg, torch.device("cuda")) is True
    assert capture.use_compile(cfg, torch.device("cpu")) is False
    assert capture.use_compile(tr.recipe("tiny", compile=True), torch.device("cpu")) is True
    assert capture.use_compile(tr.recipe("tiny", compile=False), torch.device("cuda")) is False
    args = tr.build_parser().parse_args(["--no-compile"])
    assert tr.config_from_args(args).compile is False
    assert tr.config_from_args(tr.build_parser().parse_args(["--compile"])).compile is True
    assert tr.config_from_args(tr.build_parser().parse_args([])).compile is None


def test_the_flag_captures_each_stage_once_with_static_shapes(
    tmp_path, monkeypatch, one_thread
) -> None:
    calls: list[dict] = []
    real_train_step = tr.train_step

    def fake_compile(module, **kwargs):
        calls.append(kwargs)
        return module  # the captured step computes what the module computes

    steps: list[torch.nn.Module] = []

    def spy_step(model, opt, xb, yb):
        steps.append(model)
        return real_train_step(model, opt, xb, yb)

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr("explorer.train.loop.train_step", spy_step)
    compiled, ev = fit(two_stages(compile=True), tmp_path, "on")
    assert calls == [{"mode": "reduce-overhead", "dynamic": False}] * 2  # one per stage and size
    assert len(steps) == 2 * 3  # 96 training shapes: 3 batches of 32 per epoch
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("compiled with the flag off"))
    eager, _ = fit(two_stages(compile=False), tmp_path, "off")
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], rtol=0, atol=0)
    assert not [e for e in ev if e["event"] == "status" and "compile" in e["message"]]


def test_a_capture_that_fails_falls_back_with_one_sentence(
    tmp_path, monkeypatch, one_thread
) -> None:
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("inductor: no C++ compiler found\nlong details")

    monkeypatch.setattr(torch, "compile", lambda module, **kw: Broken())
    fell_back, ev = fit(two_stages(compile=True), tmp_path, "broken")
    notes = [e["message"] for e in ev if e["event"] == "status" and "compile" in e["message"]]
    assert notes == [
        "torch.compile could not capture the training step (inductor: no C++ compiler found); "
        "training goes on without it."
    ]  # said once: the second stage does not try again
    assert [e["event"] for e in ev][-1] == "done"
    monkeypatch.undo()
    eager, _ = fit(two_stages(compile=False), tmp_path, "plain")
    for k in eager:  # the failed batch was retried eagerly: nothing lost, nothing done twice
        torch.testing.assert_close(fell_back[k], eager[k], rtol=0, atol=0)


def test_snapshots_keep_the_last_n_epochs(tmp_path, one_thread) -> None:
    stage = tr.Stage(epochs=4, size=32, lr=(1e-3, 1e-3), frozen=False)
    cfg = tr.recipe("tiny", stages=[stage], n_shapes=120, name="snap", snapshots=2)
    weights = tmp_path / "w"
    res = tr.fit(cfg, tmp_path / "run", weights_folder=weights)
    names = [c["name"] for c in checkpoints.list_checkpoints(weights)]
    assert sorted(names) == ["snap", "snap-epoch3", "snap-epoch4"]
    for k in (3, 4):
        model, meta = models.load(f"snap-epoch{k}", folder=weights)
        assert meta["history"] == res.history[:k] and meta["complete"] is False
    last, meta = models.load("snap", folder=weights)
    snap4, _ = models.load("snap-epoch4", folder=weights)
    for key, value in last.state_dict().items():  # the last epoch's snapshot is the final model
        assert torch.equal(value, snap4.state_dict()[key]), key
    assert meta["complete"] is True
    with pytest.raises(tr.ConfigError, match="snapshots"):
        tr.recipe("tiny", snapshots=-1)
