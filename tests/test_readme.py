"""The README's "use explorer from your own code" examples run as written (README.md stays true)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image

from explorer import images, models

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_notebook_example_runs_on_a_shapes_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    images.sample_images()["chelsea"].save(tmp_path / "cat.jpg")
    meta = {
        "arch": "resnet18",
        "classes": ["circle", "square", "triangle", "cross", "star"],
        "size": 64,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "bn_final": False,
        "history": [],
        "config": {},
    }
    models.save(models.create_cnn("resnet18", 5, seed=0), "shapes-quick", meta)
    (block,) = [b for b in _blocks() if "models.load" in b]
    env: dict = {}
    exec(compile(block, "README.md", "exec"), env)  # noqa: S102 - our own README
    grey = images.to_tensor(Image.open(tmp_path / "cat.jpg").convert("RGB")).mean(0)
    assert env["edges"].shape == grey.shape  # padding 1 keeps the size
    assert abs(env["step"].value - float(env["step"].products.sum())) < 1e-4
    assert env["x"].shape == (1, 3, 64, 64)
    assert env["acts"].shape == (512, 2, 2) and env["cam"].shape == (2, 2)
    assert bool((env["cam"] >= 0).all())


def test_the_training_loop_example_runs_with_a_stand_in_loader():
    (block,) = [b for b in _blocks() if "Augment(" in b]
    block = block.replace('"cuda"', '"cpu"')
    loader = [(torch.randint(0, 256, (2, 3, 40, 50), dtype=torch.uint8), torch.tensor([0, 1]))]
    seen = []

    def model(x):
        seen.append(x.shape)
        return torch.zeros(x.shape[0], 2, requires_grad=True)

    env = {"loader": loader, "model": model, "loss_fn": torch.nn.functional.cross_entropy}
    exec(compile(block, "README.md", "exec"), env)  # noqa: S102 - our own README
    assert seen == [(2, 3, 224, 224)]
    assert "transform" in env["code"] and isinstance(env["notes"], list)
