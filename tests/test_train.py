"""Tests for explorer.train: the one-cycle schedule, per-group LRs, a tiny real run, stop, the
CLI."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from explorer import models
from explorer import train as tr
from explorer.train import loop


def cos_closed_form(lo: float, hi: float, k: int, n: int) -> float:
    """Half-cosine from lo (k=0) to hi (k=n): lo + (hi - lo) * (1 - cos(pi k / n)) / 2."""
    return lo + (hi - lo) * (1 - math.cos(math.pi * k / n)) / 2


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize("total,pct", [(100, 0.3), (37, 0.8), (10, 0.25), (7, 0.0)])
def test_one_cycle_matches_closed_form(total: int, pct: float) -> None:
    lr_max, div, moms = 0.01, 25.0, (0.95, 0.85)
    final = lr_max / (div * 1e4)
    warm = int(total * pct)
    for k in range(total):
        lr, mom = tr.one_cycle(k, total, lr_max, pct_start=pct)
        if warm > 0 and k <= warm:
            want_lr = cos_closed_form(lr_max / div, lr_max, k, warm)
            want_mom = cos_closed_form(moms[0], moms[1], k, warm)
        else:
            want_lr = cos_closed_form(lr_max, final, k - warm, total - warm)
            want_mom = cos_closed_form(moms[1], moms[0], k - warm, total - warm)
        assert lr == pytest.approx(want_lr, rel=1e-12, abs=1e-18)
        assert mom == pytest.approx(want_mom, rel=1e-12)


def test_one_cycle_landmarks() -> None:
    # 100 steps, 30 warm-up: start at lr/25, peak exactly at step 30, half-way points are means.
    lr, mom = tr.one_cycle(0, 100, 1e-2, pct_start=0.3)
    assert (lr, mom) == (pytest.approx(4e-4), pytest.approx(0.95))
    lr, mom = tr.one_cycle(15, 100, 1e-2, pct_start=0.3)
    assert lr == pytest.approx((4e-4 + 1e-2) / 2) and mom == pytest.approx(0.90)
    lr, mom = tr.one_cycle(30, 100, 1e-2, pct_start=0.3)
    assert lr == pytest.approx(1e-2) and mom == pytest.approx(0.85)
    lr, mom = tr.one_cycle(65, 100, 1e-2, pct_start=0.3)
    assert lr == pytest.approx((1e-2 + 1e-2 / 25e4) / 2) and mom == pytest.approx(0.90)
    # fastai's stepper stops one step short of the final value on the last batch.
    lr, _ = tr.one_cycle(99, 100, 1e-2, pct_start=0.3)
    assert 1e-2 / 25e4 < lr < 1e-5
    lrs = [tr.one_cycle(k, 100, 1e-2, pct_start=0.3)[0] for k in range(100)]
    assert all(a < b for a, b in zip(lrs[:30], lrs[1:31], strict=True))
    assert all(a > b for a, b in zip(lrs[30:-1], lrs[31:], strict=True))


def test_one_cycle_rejects_steps_outside_the_cycle() -> None:
    with pytest.raises(ValueError):
        tr.one_cycle(10, 10, 1e-3)
    with pytest.raises(ValueError):
        tr.one_cycle(0, 0, 1e-3)


def test_planned_schedule_restarts_each_stage() -> None:
    cfg = tr.recipe("lesson")
    rows = tr.planned_schedule(cfg, [4, 4, 4])
    assert len(rows) == (3 + 2 + 2) * 4
    starts = [r for r in rows if r["step"] in (0, 12, 20)]
    # Each stage starts at its head LR / 25: slice(1e-2) -> 1e-2, then 1e-3, then 1e-4.
    assert [r["lr"] for r in starts] == pytest.approx([1e-2 / 25, 1e-3 / 25, 1e-4 / 25])
    assert [r["stage"] for r in starts] == [0, 1, 2]


# --------------------------------------------------------------------------- per-group LRs


def test_optimizer_groups_follow_fastai_slices() -> None:
    model = models.create_cnn("resnet18", 3, seed=0)
    cfg = tr.recipe("lesson")
    opt = tr.make_optimizer(model, cfg.stages[0], cfg)  # slice(1e-2): body 1e-3, head 1e-2
    assert [g["lr_max"] for g in opt.param_groups] == pytest.approx([1e-3, 1e-3, 1e-2])
    opt = tr.make_optimizer(model, cfg.stages[1], cfg)  # slice(1e-6, 1e-3): geometric
    assert [g["lr_max"] for g in opt.param_groups] == pytest.approx(
        [1e-6, math.sqrt(1e-6 * 1e-3), 1e-3]
    )
    lr, mom = tr.set_schedule(opt, 0, 10, cfg.stages[1], cfg)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(
        [1e-6 / 25, math.sqrt(1e-9) / 25, 1e-3 / 25]
    )
    assert lr == pytest.approx(1e-3 / 25) and mom == pytest.approx(0.95)
    assert all(g["betas"] == (0.95, 0.99) for g in opt.param_groups)
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == len(list(model.parameters()))


def test_first_adam_step_moves_each_group_by_its_own_lr() -> None:
    # Adam's first step is lr * m/sqrt(v) = lr * sign(grad): the move of every parameter with a
    # gradient is its group's learning rate, so the per-group LRs are checked on real updates.
    torch.manual_seed(0)
    model = models.create_cnn("resnet18", 4, seed=0)
    stage = tr.Stage(epochs=1, size=32, lr=(1e-4, 1e-2), frozen=False)
    cfg = tr.TrainConfig(wd=0.0)
    opt = tr.make_optimizer(model, stage, cfg)
    tr.set_schedule(opt, 0, 10, stage, cfg)
    before = [[p.detach().clone() for p in g["params"]] for g in opt.param_groups]
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 4, (8,))
    F.cross_entropy(model(x), y).backward()
    opt.step()
    for g, old in zip(opt.param_groups, before, strict=True):
        moves = torch.cat(
            [
                (p.detach() - o).abs().flatten()[p.grad.abs().flatten() > 1e-6]
                for p, o in zip(g["params"], old, strict=True)
                if p.grad is not None
            ]
        )
        assert moves.median().item() == pytest.approx(g["lr"], rel=1e-2)


def test_frozen_stage_leaves_body_convolutions_untouched() -> None:
    model = models.create_cnn("resnet18", 3, seed=0)
    models.freeze(model)
    cfg = tr.TrainConfig()
    opt = tr.make_optimizer(model, tr.Stage(1, 32, 1e-2, frozen=True), cfg)
    tr.set_schedule(opt, 0, 5, cfg.stages[0], cfg)
    conv_before = model[0][0].weight.detach().clone()
    head_before = model[1][-1].weight.detach().clone() if hasattr(model[1][-1], "weight") else None
    F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
    assert torch.equal(model[0][0].weight, conv_before)
    if head_before is not None:
        assert not torch.equal(model[1][-1].weight, head_before)


# --------------------------------------------------------------------------- small helpers


def test_parse_and_format_lr() -> None:
    assert tr.parse_lr("1e-2") == 1e-2
    assert tr.parse_lr(" 1e-6 : 1e-3 ") == (1e-6, 1e-3)
    assert tr.parse_lr("1e-6..1e-4") == (1e-6, 1e-4)
    assert tr.format_lr((1e-6, 1e-3)) == "1e-06:1e-03" and tr.format_lr(3.5e-3) == "3.5e-03"
    for lr in (3e-3, (1e-6, 1e-3), 0.1234567):
        assert tr.parse_lr(tr.format_lr(lr)) == lr
    for bad in ("fast", "-1", "1e-3:1e-6", "1:2:3", "nan"):
        with pytest.raises(ValueError):
            tr.parse_lr(bad)


def test_stage_table_round_trip_and_errors() -> None:
    stages = tr.recipe("lesson").stages
    rows = tr.stage_rows(stages)
    assert rows[1] == {
        "epochs": 2,
        "size": 224,
        "lr": "1e-06:1e-03",
        "frozen": False,
        "pct_start": 0.8,
    }
    assert tr.stages_from_rows(rows) == stages
    new_row = {"epochs": 1.0, "size": 64.0, "lr": "3e-3", "frozen": None, "pct_start": 0.3}
    assert tr.stages_from_rows([new_row]) == [tr.Stage(1, 64, 3e-3, False, 0.3)]
    with pytest.raises(ValueError, match="Stage 2: epochs"):
        tr.stages_from_rows([rows[0], {**rows[1], "epochs": float("nan")}])
    with pytest.raises(ValueError, match="Stage 1: the learning rate is empty"):
        tr.stages_from_rows([{**rows[0], "lr": None}])
    with pytest.raises(ValueError, match="Stage 1: pct_start"):
        tr.stages_from_rows([{**rows[0], "pct_start": 1.5}])
    with pytest.raises(ValueError, match="at least one stage"):
        tr.stages_from_rows([])


def test_config_round_trips_through_json() -> None:
    cfg = tr.recipe("lesson", batch_size=32, padding_mode="zeros")
    back = tr.TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert back.stages[1].lr == (1e-6, 1e-3) and back.stages[0].lr == 1e-2
    with pytest.raises(ValueError):
        tr.recipe("lesson", learning_rate=1)
    with pytest.raises(ValueError):
        tr.recipe("fastest")


def test_a_persons_config_mistakes_are_config_errors_with_a_sentence() -> None:
    # These were plain ValueErrors (or TypeErrors), which the page now treats as bugs.
    from explorer.errors import UserError

    for bad in ("fast", "-1", "1e-3:1e-6"):
        with pytest.raises(tr.ConfigError, match="Learning"):
            tr.parse_lr(bad)
    with pytest.raises(tr.ConfigError, match="Stage 1: size"):
        tr.stages_from_rows([{"epochs": 1, "size": 8, "lr": "1e-3", "frozen": False}])
    mistakes = {
        "batch size must be at least 1": dict(batch_size=0),
        "Unknown padding mode 'mirror'": dict(padding_mode="mirror"),
        "Unknown data 'imagenet'": dict(data="imagenet"),
        "Unknown augment 'Lesson'": dict(augment="Lesson"),
        "Stage 1: epochs": dict(stages=[tr.Stage(0, 32, 1e-3, False)]),
        "Stage 1: Learning rate": dict(stages=[tr.Stage(1, 32, -1.0, False)]),
        "at least one stage": dict(stages=[]),
        "Unknown device 'tpu'": dict(device="tpu"),
    }
    for words, fields in mistakes.items():
        with pytest.raises(tr.ConfigError, match=re.escape(words)) as err:
            tr.TrainConfig(**fields)
        assert isinstance(err.value, UserError) and str(err.value).endswith(".")
    with pytest.raises(models.CheckpointError, match="not allowed"):
        tr.recipe("tiny", name="../../etc/x")
    with pytest.raises(tr.ConfigError, match="Unknown config field"):
        tr.TrainConfig.from_dict({**tr.recipe("tiny").to_dict(), "lr": 1})
    with pytest.raises(tr.ConfigError, match="stages cannot be read"):
        tr.TrainConfig.from_dict({"stages": [{"epochs": 1}]})
    with pytest.raises(tr.ConfigError, match="wrong type"):  # a config.json typed by hand
        tr.TrainConfig.from_dict({"batch_size": "64"})
    with pytest.raises(tr.ConfigError, match="Unknown device 'cuda:x'"):
        tr.TrainConfig(device="cuda:x")
    assert tr.TrainConfig(device="cuda:1").device == "cuda:1"


def test_stages_text_round_trip_and_refusals() -> None:
    stages = tr.recipe("lesson").stages
    text = tr.stages_to_text(stages)
    assert text == "3,224,1e-02,1,0.8;2,224,1e-06:1e-03,0,0.8;2,352,1e-06:1e-04,0,0.3"
    assert tr.stages_from_text(text) == stages
    for bad, words in (
        ("3,224,1e-02,1", "needs five fields"),
        ("3,224,1e-02,yes,0.8", "frozen must be 0 or 1"),
        ("3.5,224,1e-02,1,0.8", "epochs must be a whole number"),
        ("3,9999,1e-02,1,0.8", "size must be between"),
        ("3,224,fast,1,0.8", "Learning rate 'fast'"),
        ("", "needs five fields"),
    ):
        with pytest.raises(tr.ConfigError, match=words):
            tr.stages_from_text(bad)


def test_error_kind_follows_the_error_hierarchy() -> None:
    from explorer import data
    from explorer.errors import UserError

    assert tr.error_kind(data.DatasetUnavailable("no pets")) == "dataset"
    assert tr.error_kind(models.WeightsUnavailable("offline")) == "weights"
    assert tr.error_kind(tr.ConfigError("bad lr")) == "input"
    assert tr.error_kind(data.FolderError("empty")) == "input"
    assert tr.error_kind(UserError("anything a person did")) == "input"
    assert tr.error_kind(torch.OutOfMemoryError("CUDA out of memory")) == "oom"
    assert tr.error_kind(RuntimeError("CUDA error: out of memory")) == "oom"
    # A plain ValueError is a bug now, whatever its class name says.
    assert tr.error_kind(ValueError("DatasetUnavailable")) == "internal"
    assert tr.error_kind(KeyError("x")) == "internal"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_cuda_without_a_gpu_is_a_user_error() -> None:
    with pytest.raises(tr.DeviceUnavailable, match="--device cpu"):
        tr.resolve_device("cuda")


def test_event_log_round_trip_skips_a_half_written_line(tmp_path) -> None:
    seen = []
    log = tr.EventLog(tmp_path / "events.jsonl", [seen.append])
    log.emit({"event": "status", "message": "decoding"})
    log.emit({"event": "error", "kind": "input", "message": "bad"})
    log.close()
    with open(tmp_path / "events.jsonl", "a") as fh:
        fh.write('{"event": "batch", "loss"')  # the writer was interrupted mid-line
    events = tr.read_events(tmp_path / "events.jsonl")
    assert [e["event"] for e in events] == ["status", "error"] and events == seen
    assert all(isinstance(e["t"], float) for e in events)
    assert tr.read_events(tmp_path / "missing.jsonl") == []


def test_resize_batch_is_a_centre_resize() -> None:
    x = torch.randint(0, 256, (2, 3, 10, 14), dtype=torch.uint8)
    same = tr.resize_batch(x, 10)
    assert torch.equal(same, x[..., :, 2:12])  # the centre 10x10 square
    flat = torch.full((1, 3, 40, 40), 77, dtype=torch.uint8)
    assert torch.equal(tr.resize_batch(flat, 16), torch.full((1, 3, 16, 16), 77, dtype=torch.uint8))
    # Antialiased bilinear is PIL's BILINEAR resize (a triangle filter widened by the scale).
    x = torch.randint(0, 256, (1, 3, 24, 24), dtype=torch.uint8)
    pil = Image.fromarray(x[0].permute(1, 2, 0).numpy()).resize((10, 10), Image.BILINEAR)
    want = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None]
    assert (tr.resize_batch(x, 10).int() - want.int()).abs().max() <= 1


# --------------------------------------------------------------------------- real runs


@pytest.fixture
def one_thread():
    # Small convolutions on a shared 2-core machine: one thread is faster (and deterministic).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def colour_folder(root, n_per_class: int = 40, side: int = 40) -> str:
    """Three classes of noisy pictures told apart by their dominant colour, named like the Pets."""
    rng = np.random.default_rng(0)
    names = ["red", "green", "blue"]
    for k, name in enumerate(names):
        for i in range(n_per_class):
            arr = rng.integers(0, 110, (side, side, 3))
            arr[..., k] += 140
            Image.fromarray(arr.astype(np.uint8)).save(root / f"{name}_{i}.png")
    return str(root)


def read_events(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_tiny_folder_run_learns_and_logs_every_batch(tmp_path, one_thread) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cfg = tr.TrainConfig(
        data=f"folder:{colour_folder(folder)}",
        label_regex=r"([a-z]+)_\d+\.png$",
        arch="resnet18",
        name="tiny-colours",
        stages=[
            tr.Stage(epochs=2, size=32, lr=(2e-3, 2e-3), frozen=False, pct_start=0.3),
            tr.Stage(epochs=1, size=24, lr=(1e-5, 1e-3), frozen=False, pct_start=0.5),
        ],
        batch_size=16,
        pretrained=False,
        bn_final=False,
        workers=1,
    )
    run_dir, weights = tmp_path / "run", tmp_path / "weights"
    res = tr.fit(cfg, run_dir, weights_folder=weights)
    assert not res.stopped and len(res.history) == 3
    # 120 pictures, 96 to train: 6 batches of 16 per epoch; 24 to validate, chance is 2/3 wrong.
    events = read_events(run_dir)
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done" and kinds.count("checkpoint") == 2 and kinds.count("epoch") == 3
    start = next(e for e in events if e["event"] == "start")
    assert (start["n_train"], start["n_valid"], start["classes"]) == (
        96,
        24,
        ["blue", "green", "red"],
    )
    assert start["cache_shape"] == [96, 3, 37, 37]  # presized once to 32 * 1.15 px
    batches = [e for e in events if e["event"] == "batch"]
    assert [b["step"] for b in batches] == list(range(18))
    # Each batch's LR is the closed-form one-cycle value of its stage (head group).
    for b in batches:
        stage, k = (0, b["step"]) if b["stage"] == 0 else (1, b["step"] - 12)
        total, hi, pct = (12, 2e-3, 0.3) if stage == 0 else (6, 1e-3, 0.5)
        assert b["lr"] == pytest.approx(tr.one_cycle(k, total, hi, pct)[0])
    assert res.error_rate <= 0.1
    assert res.history[-1]["train_loss"] < batches[0]["loss"] / 2
    model, meta = models.load("tiny-colours", folder=weights)
    assert meta["size"] == 24 and meta["complete"] is True and meta["history"] == res.history


def test_stop_request_finishes_the_batch_and_saves(tmp_path, one_thread) -> None:
    calls = []

    def should_stop() -> bool:  # asked once after the data is ready, then after every batch
        calls.append(1)
        return len(calls) >= 3

    cfg = tr.recipe("tiny", name="stopped-run")
    res = tr.fit(cfg, tmp_path / "run", should_stop=should_stop, weights_folder=tmp_path / "w")
    assert res.stopped and res.history == []
    events = read_events(tmp_path / "run")
    assert [e["event"] for e in events][-2:] == ["checkpoint", "stopped"]
    assert sum(e["event"] == "batch" for e in events) == 2  # the second batch was finished
    _, meta = models.load("stopped-run", folder=tmp_path / "w")
    assert meta["complete"] is False and meta["stages_done"] == 0


def test_a_diverged_loss_stops_the_run_with_a_sentence_and_saves_nothing(
    tmp_path, one_thread, monkeypatch
) -> None:
    real_step = tr.train_step
    steps = []

    def step(*args) -> torch.Tensor:  # the third batch blows up, as a far too high lr would
        loss = real_step(*args)
        steps.append(1)
        return loss * float("nan") if len(steps) == 3 else loss

    monkeypatch.setattr(loop, "train_step", step)  # the loop calls its module's train_step
    with pytest.raises(tr.Diverged, match=r"became nan at epoch 1, batch 3 .*10× lower"):
        tr.fit(tr.recipe("tiny", name="blown"), tmp_path / "run", weights_folder=tmp_path / "w")
    events = read_events(tmp_path / "run")
    assert [e["event"] for e in events if e["event"] == "batch"] == ["batch"] * 3  # plotted
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "input"
    assert "diverged" in events[-1]["message"]
    assert not (tmp_path / "w").exists() or not list((tmp_path / "w").glob("*.safetensors"))
    assert len(steps) == 3  # stopped at once (on a CPU every batch's loss is read)


def test_quick_recipe_trains_shapes_unaugmented_and_checks_augment(tmp_path) -> None:
    cfg = tr.recipe("quick")
    assert (cfg.data, cfg.augment, cfg.pretrained) == ("shapes", "none", False)
    # An unknown augmentation name is refused before any data is prepared, not read as "none".
    with pytest.raises(ValueError, match="augment"):
        tr.fit(tr.recipe("tiny", augment="Lesson"), tmp_path / "run", weights_folder=tmp_path)
    assert not list(tmp_path.glob("*.safetensors"))


# --------------------------------------------------------------------------- CLI


def test_cli_missing_pets_is_one_sentence_and_exit_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    code = tr.main(["--recipe", "tiny", "--data", "pets", "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Oxford-IIIT Pet" in err and "Traceback" not in err
    last = read_events(tmp_path / "run")[-1]
    assert last["event"] == "error" and last["kind"] == "dataset"


def test_cli_offline_weights_suggest_no_pretrained(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))

    def offline(arch: str, timeout: float = 5.0):
        raise models.WeightsUnavailable(f"The ImageNet weights for {arch} are not cached.")

    monkeypatch.setattr(models, "_imagenet_state_dict", offline)  # as if there were no network
    argv = ["--recipe", "tiny", "--arch", "resnet34", "--run-dir", str(tmp_path / "run")]
    cfg = tr.config_from_args(tr.build_parser().parse_args(argv))
    assert cfg.pretrained is False and cfg.arch == "resnet34"  # tiny trains from scratch...
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps({**cfg.to_dict(), "pretrained": True}))  # ...unless asked
    code = tr.main([*argv, "--config", str(cfg_file)])
    err = capsys.readouterr().err
    assert code == 2 and "--no-pretrained" in err and "Traceback" not in err
    assert (
        tr.config_from_args(tr.build_parser().parse_args([*argv, "--no-pretrained"])).pretrained
        is False
    )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_uses_bf16_and_keeps_data_on_the_gpu(tmp_path) -> None:
    cfg = tr.recipe("tiny", device="cuda", name="cuda-tiny")
    seen: list[dict] = []
    res = tr.fit(cfg, tmp_path / "run", listeners=[seen.append], weights_folder=tmp_path / "w")
    start = next(e for e in seen if e["event"] == "start")
    assert start["device"].startswith("cuda") and start["amp"] == "bf16"
    batches = [e for e in seen if e["event"] == "batch"]
    assert [b["step"] for b in batches] == list(range(192 // 32))  # bursts still log every batch
    assert all(math.isfinite(b["loss"]) for b in batches)
    assert res.history[0]["images_per_s"] > 0
    _, meta = models.load("cuda-tiny", folder=tmp_path / "w")
    assert meta["complete"] is True


# --------------------------------------------------------------------------- the page's figures


def fake_batches(n: int, per_epoch: int) -> list[dict]:
    return [
        {
            "event": "batch",
            "stage": 0,
            "epoch": k // per_epoch,
            "batch": k % per_epoch,
            "batches": per_epoch,
            "step": k,
            "loss": 2.0 / (k + 1),
            "smooth_loss": 1.5 / (k + 1),
            "lr": 1e-3 * (k + 1),
            "mom": 0.9,
        }
        for k in range(n)
    ]


def test_curves_figure_plots_the_events_it_is_given() -> None:
    from explorer.plots import train as plots

    batches = fake_batches(8, per_epoch=4)
    epochs = [
        {
            "event": "epoch",
            "epoch": e,
            "stage": 0,
            "train_loss": 1.0,
            "valid_loss": 0.5 + e,
            "error_rate": 0.4 - 0.1 * e,
            "time": 3.0,
            "images_per_s": 10.0,
        }
        for e in range(2)
    ]
    fig = plots.curves_figure(batches, epochs)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["batch loss"].y) == [b["loss"] for b in batches]
    assert list(by_name["train (smoothed)"].y) == [b["smooth_loss"] for b in batches]
    assert list(by_name["valid"].x) == [3, 7]  # each epoch's last batch
    assert list(by_name["valid"].y) == [0.5, 1.5]
    assert list(by_name["error rate"].y) == pytest.approx([0.4, 0.3])
    empty = plots.curves_figure(batches[:2], [])
    assert "measured on the validation set" in empty.layout.annotations[-1].text


def test_schedule_figure_shows_the_plan_and_what_was_used() -> None:
    from explorer.plots import train as plots

    cfg = tr.recipe("tiny")
    plan = tr.planned_schedule(cfg, [10])
    fig = plots.schedule_figure(plan, fake_batches(3, per_epoch=10))
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["lr (plan)"].y) == [tr.one_cycle(k, 10, 3e-3, 0.3)[0] for k in range(10)]
    assert list(by_name["lr"].y) == pytest.approx([1e-3, 2e-3, 3e-3])
    long = plots.thin(list(range(10_000)), max_points=3000)
    assert long[:3] == [0, 3, 6] and len(long) == 3334
