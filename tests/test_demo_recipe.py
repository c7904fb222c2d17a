"""The offline demo model's recipe (issue 13): trained from scratch on shapes, ending at a size
where the Heatmap page's maps have cells to point with, and checkpointed at that size (the page
opens a checkpoint at the size in its meta)."""

from __future__ import annotations

import dataclasses

import torch

from explorer import heatmap as hm
from explorer import models
from explorer import train as tr


def test_demo_recipe_ends_where_the_maps_have_cells():
    cfg = tr.recipe("demo")
    sizes = [s.size for s in cfg.stages]
    assert cfg.data == "shapes" and cfg.arch == "resnet18" and not cfg.pretrained
    assert sizes == sorted(sizes) and sizes[-1] >= 96  # progressive resizing up to >= 96 px
    assert all(not s.frozen for s in cfg.stages)  # from scratch there is nothing to keep frozen
    model = models.create_cnn(cfg.arch, 5, seed=0).eval()
    x = torch.zeros(1, 3, sizes[-1], sizes[-1])
    # The body divides by 32: at 96 px its map is 3x3 and layer3's 6x6 (a 1x1 map at 32 px).
    assert hm.activations(model, x, "0").shape[-2:] == (sizes[-1] // 32,) * 2
    assert hm.activations(model, x, "0.6").shape[-2:] == (sizes[-1] // 16,) * 2


def test_demo_recipe_scaled_down_checkpoints_at_its_last_size(tmp_path):
    full = tr.recipe("demo")
    stages = [dataclasses.replace(s, epochs=1) for s in full.stages]
    cfg = tr.recipe("demo", name="demo-small", stages=stages, n_shapes=150, cpu_threads=1)
    res = tr.fit(cfg, tmp_path / "run", weights_folder=tmp_path / "w")
    assert not res.stopped and len(res.history) == len(stages)
    assert [r["stage"] for r in res.history] == list(range(len(stages)))
    model, meta = models.load("demo-small", folder=tmp_path / "w")
    assert meta["size"] == full.stages[-1].size and meta["complete"] is True
    listed = models.list_checkpoints(tmp_path / "w")
    assert [c["name"] for c in listed] == ["demo-small"] and listed[0]["size"] == meta["size"]
    with torch.no_grad():
        out = model(torch.zeros(1, 3, meta["size"], meta["size"]))
    assert out.shape == (1, 5) and torch.isfinite(out).all()
