"""AppTest of the Home page with a checkpoint on disk: it is listed with what it is and how good."""

from __future__ import annotations

from explorer import models


def test_home_lists_a_checkpoint_with_its_arch_classes_size_and_error(
    app_test, monkeypatch, tmp_path
):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    meta = {
        "arch": "resnet18",
        "classes": ["circle", "square", "star"],
        "size": 64,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "bn_final": False,
        "history": [{"epoch": 0, "error_rate": 0.25}, {"epoch": 1, "error_rate": 0.0625}],
        "config": {},
    }
    models.save(models.create_cnn("resnet18", 3, seed=0), "shapes-small", meta)
    at = app_test()
    assert not at.exception
    table = at.table[0].value
    states = dict(zip(table.iloc[:, 0], table.iloc[:, 1], strict=True))
    assert states["Checkpoints in weights/"] == (
        "shapes-small (resnet18, 3 classes, 64 px, error rate 6.2%)"
    )
