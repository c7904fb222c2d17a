"""AppTest of the Heatmap page: every picker works, shapes follow the lesson, errors are sentences."""

from __future__ import annotations

import json

import pytest

from explorer import models, paths


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_tab(at, label: str) -> None:
    """Select a tab as a click would (the page draws only the open tab)."""
    at.session_state["heatmap_tab"] = label
    at.run()
    no_exception(at)


def shapes(at) -> str:
    return next(c.value for c in at.code if "acts.shape" in c.value)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared, busy CPU two threads stall waiting for each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_random(monkeypatch):
    """The page's untrained resnet34 swapped for a resnet18: same layer names and 512 channels at
    the body, about half the work (only the first test runs the real resnet34)."""
    real = models.create_cnn

    def create_cnn(arch: str, n_classes: int, **kw):
        return real("resnet18", n_classes, **kw)

    monkeypatch.setattr(models, "create_cnn", create_cnn)


@pytest.fixture
def checkpoint(monkeypatch, tmp_path):
    """A small real checkpoint (resnet18, 3 classes, trained at 64 px) in EXPLORER_HOME/weights."""
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    model = models.create_cnn("resnet18", 3, seed=0)
    meta = {
        "arch": "resnet18",
        "classes": ["circle", "square", "star"],
        "size": 64,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "bn_final": False,
        "history": [],
        "config": {},
    }
    models.save(model, "tiny", meta)
    return "ckpt:tiny"


def test_random_model_offline_shows_the_lessons_shapes(app_test, monkeypatch):
    at = app_test("heatmap")
    no_exception(at)
    assert at.selectbox(key="heatmap_model").value == "random"
    assert any("untrained filters" in w.value for w in at.warning)
    # The untrained model's near-100 % top class is explained with this image's own logits.
    import torch

    from explorer import heatmap as hm
    from explorer.images import IMAGENET_MEAN, IMAGENET_STD, sample_images

    x, _ = hm.prepare(sample_images()["chelsea"], 352, IMAGENET_MEAN, IMAGENET_STD)
    with torch.no_grad():
        logits = models.create_cnn("resnet34", 37, seed=0).eval()(x)[0]
    note = next(c.value for c in at.caption if "Random weights know nothing" in c.value)
    assert f"**{float(logits.softmax(-1).max()):.1%}**" in note
    assert f"**{float(logits.min()):.0f} … {float(logits.max()):.0f}**" in note
    assert "1/37 = 2.7%" in note
    # Only the open tab is drawn: the channel slider appears once its tab is opened.
    assert not [s for s in at.slider if s.key == "heatmap_channel"]
    text = shapes(at)
    assert "torch.Size([1, 3, 352, 352])" in text
    assert "torch.Size([512, 11, 11])" in text  # acts.shape at 352 px
    assert "torch.Size([11, 11])" in text  # avg_acts.shape
    assert "torch.Size([512])" in text  # grad_chan.shape
    assert "torch.Size([1, 37])" in text
    assert at.get("download_button")  # the overlay PNG
    open_tab(at, "Channels")
    at.slider(key="heatmap_channel").set_value(511).run()
    no_exception(at)
    assert "**Channel 511**" in "".join(m.value for m in at.markdown)

    def offline(arch: str = "resnet34", pretrained: bool = True):
        raise models.WeightsUnavailable("The ImageNet weights for resnet34 are not cached.")

    # Never download in tests: the page's call goes to this stand-in.
    monkeypatch.setattr(models, "pretrained_classifier", offline)
    at.selectbox(key="heatmap_model").set_value("imagenet").run()
    no_exception(at)
    assert [e.value for e in at.error] == [
        "Loading the model failed: The ImageNet weights for resnet34 are not cached."
    ]


def test_layer_size_variant_class_and_cell(app_test, small_random):
    at = app_test("heatmap")
    open_tab(at, "Channels")
    at.slider(key="heatmap_channel").set_value(300).run()
    at.selectbox(key="heatmap_size").set_value(224).run()
    no_exception(at)
    assert "torch.Size([512, 7, 7])" in shapes(at)

    at.selectbox(key="heatmap_layer").set_value("0.5").run()  # layer2: stride 8, 224 / 8 = 28
    no_exception(at)
    assert "torch.Size([128, 28, 28])" in shapes(at)
    assert at.slider(key="heatmap_channel").value == 127  # clamped to the new channel count

    at.selectbox(key="heatmap_map").set_value("library")
    at.radio(key="heatmap_rank").set_value("contribution")
    at.slider(key="heatmap_topk").set_value(64)
    at.selectbox(key="heatmap_cmap").set_value("viridis")
    at.radio(key="heatmap_interp").set_value("nearest")
    at.run()
    no_exception(at)

    at.selectbox(key="heatmap_class").set_value(30).run()
    no_exception(at)
    assert "class *class 30*" in "".join(m.value for m in at.markdown)

    open_tab(at, "What a cell sees")
    at.number_input(key="heatmap_row").set_value(0)
    at.number_input(key="heatmap_col").set_value(27)
    at.run()
    no_exception(at)
    text = "".join(m.value for m in at.markdown)
    assert "**Cell (0, 27)** of the 28×28 map" in text
    assert "x 216–224, y 0–8" in text  # 224 px over 28 cells: 8 px each


def test_checkpoints_good_bad_and_switching(app_test, small_random, checkpoint):
    folder = paths.weights_dir()
    (folder / "bad.safetensors").write_bytes(b"\x80\x04 definitely not safetensors" * 10)
    (folder / "bad.json").write_text(json.dumps({"arch": "resnet18", "classes": ["a", "b"]}))
    at = app_test("heatmap")
    no_exception(at)
    assert at.selectbox(key="heatmap_model").value == checkpoint  # good, so the default
    assert at.selectbox(key="heatmap_size").value == 64  # the size it was trained at
    assert "torch.Size([1, 3])" in shapes(at)
    assert "torch.Size([512, 2, 2])" in shapes(at)  # 64 px / 32
    assert any("only 2×2" in w.value for w in at.warning)  # too coarse: says what to change
    assert not any("Random weights know nothing" in c.value for c in at.caption)
    at.selectbox(key="heatmap_class").set_value(2).run()
    no_exception(at)
    at.selectbox(key="heatmap_model").set_value("random").run()
    no_exception(at)
    assert "torch.Size([1, 37])" in shapes(at)
    at.selectbox(key="heatmap_class").set_value(36).run()
    at.selectbox(key="heatmap_model").set_value(checkpoint).run()  # class 36 does not exist here
    no_exception(at)
    assert at.selectbox(key="heatmap_class").value == -1  # back to the predicted class

    at.selectbox(key="heatmap_model").set_value("ckpt:bad").run()
    no_exception(at)
    errors = [e.value for e in at.error]
    assert any(e.startswith("Loading the model failed") and "safetensors" in e for e in errors)
