"""Interpretation after a run (explorer.interpret): hand-computed confusion, most-confused pairs and
top losses; the validation set equals what training prepared; the run folder caches the result."""

from __future__ import annotations

import json
import math

import pytest
import torch

from explorer import interpret, models, paths
from explorer.train.config import Stage, TrainConfig
from explorer.train.prepare import prepare_data, resize_batch


def test_confusion_and_most_confused_by_hand():
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    preds = torch.tensor([0, 1, 1, 2, 0, 0, 0])
    m = interpret.confusion_matrix(labels, preds, 3)
    assert m.tolist() == [[1, 1, 0], [1, 1, 0], [2, 0, 1]]
    pairs = interpret.most_confused(m, ["cat", "dog", "owl"])
    assert pairs == [("owl", "cat", 2), ("cat", "dog", 1), ("dog", "cat", 1)]
    assert interpret.most_confused(m, ["cat", "dog", "owl"], min_val=2) == [("owl", "cat", 2)]


def test_top_losses_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [0.0, 0.5]])
    labels = torch.tensor([0, 0, 1, 1])
    top = interpret.top_losses(logits, labels, k=3)

    def ce(row, y):
        return -row[y] + math.log(sum(math.exp(v) for v in row))

    rows = logits.tolist()
    losses = [ce(rows[i], int(labels[i])) for i in range(4)]
    order = sorted(range(4), key=lambda i: -losses[i])[:3]
    assert [t.index for t in top] == order == [1, 2, 3]
    assert [t.loss for t in top] == pytest.approx([losses[i] for i in order])
    assert [t.pred for t in top] == [1, 0, 1]  # a tie predicts the first class
    assert top[0].prob == pytest.approx(math.exp(-losses[1]))
    assert top[1].label == 1


def tiny_config(**kw) -> TrainConfig:
    base = dict(
        data="shapes",
        arch="resnet18",
        name="tiny-run",
        stages=[Stage(epochs=1, size=32, lr=1e-3, frozen=False)],
        batch_size=8,
        pretrained=False,
        n_shapes=60,
        valid_pct=0.25,
        seed=4,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_validation_set_is_the_one_training_prepared():
    cfg = tiny_config()
    prepared = prepare_data(cfg, torch.device("cpu"), lambda m: None)
    vs = interpret.validation_set(cfg.to_dict())
    assert vs.labels == prepared.valid_y.tolist() and len(vs) == 15
    assert vs.classes == prepared.classes and vs.size == 32
    assert torch.equal(vs.images, prepared.valid_x)
    x = interpret.batch_at(vs, [0, 3], [0.5] * 3, [0.25] * 3)
    raw = resize_batch(prepared.valid_x[[0, 3]], 32).float() / 255
    torch.testing.assert_close(x, (raw - 0.5) / 0.25)
    assert vs.box(0) is not None and vs.image(0).size == (vs.side, vs.side)


def save_run(cfg: TrainConfig, run_id: str = "run-1") -> None:
    model = models.create_cnn(cfg.arch, 5, bn_final=cfg.bn_final, seed=0).eval()
    meta = {
        "arch": cfg.arch,
        "classes": ["circle", "square", "triangle", "cross", "star"],
        "size": cfg.stages[-1].size,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "bn_final": cfg.bn_final,
        "history": [],
        "config": cfg.to_dict(),
    }
    models.save(model, cfg.name, meta)
    run_dir = paths.runs_dir() / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict()))


def test_interpret_run_computes_once_and_caches(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    cfg = tiny_config()
    save_run(cfg)
    run_dir = paths.runs_dir() / "run-1"
    it = interpret.interpret_run(run_dir, layer="0.6", k=4)
    # The oracle: the checkpoint run by hand on the batch the run validated on.
    model, _ = models.load("tiny-run")
    vs = interpret.validation_set(cfg.to_dict())
    x = interpret.batch_at(vs, range(len(vs)), [0.5] * 3, [0.25] * 3)
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(it.logits, logits, atol=1e-4, rtol=1e-4)
    assert it.labels.tolist() == vs.labels
    assert int(it.confusion.sum()) == len(vs)
    assert it.accuracy == pytest.approx(float((logits.argmax(-1) == it.labels).float().mean()))
    losses = torch.nn.functional.cross_entropy(logits, it.labels, reduction="none")
    assert [t.loss for t in it.top] == pytest.approx(
        losses.sort(descending=True).values[:4].tolist(), rel=1e-4
    )
    assert it.maps.shape == (4, 2, 2)  # layer3 (stride 16) of a 32 px image
    assert (run_dir / "interpret.safetensors").is_file() and (run_dir / "interpret.json").is_file()

    def boom(*a, **k):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(interpret, "predict", boom)
    again = interpret.interpret_run(run_dir, layer="0.6", k=4)
    torch.testing.assert_close(again.logits, it.logits)
    assert [t.index for t in again.top] == [t.index for t in it.top]
    torch.testing.assert_close(again.maps, it.maps)


def test_a_run_whose_checkpoint_is_gone_or_overwritten_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    cfg = tiny_config()
    save_run(cfg)
    other = tiny_config(seed=9)  # a later run with the same name
    save_run(other, "run-2")
    with pytest.raises(interpret.InterpretError, match="overwritten"):
        interpret.interpret_run(paths.runs_dir() / "run-1")
    for f in paths.weights_dir().glob("tiny-run.*"):
        f.unlink()
    with pytest.raises(interpret.InterpretError, match="not in weights"):
        interpret.interpret_run(paths.runs_dir() / "run-2")
    with pytest.raises(interpret.InterpretError, match="config.json"):
        interpret.interpret_run(tmp_path / "nowhere")
