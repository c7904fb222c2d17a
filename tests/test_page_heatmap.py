"""AppTest of the Heatmap page: every picker works, shapes follow the lesson, errors are sentences,
settings come from a link and bad links fall back with one sentence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer import heatmap as hm
from explorer import models, paths
from explorer.images import IMAGENET_MEAN, IMAGENET_STD, sample_images

ROOT = Path(__file__).resolve().parents[1]
IMAGENET_MB = models.IMAGENET_DOWNLOAD_MB["resnet34"]


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_tab(at, label: str) -> None:
    """Open a view as a click on the view picker would (the page draws only the open view)."""
    at.session_state["heatmap_tab"] = label
    at.run()
    no_exception(at)


def component(at, name: str) -> dict | None:
    """The data a browser component of the page was sent, or None when it is not drawn."""
    for el in at.get("bidi_component"):
        if el.proto.component_name == f"cnn_explorer.heatmap_{name}":
            return json.loads(el.proto.json)
    return None


def pick_channel(at, channel: int) -> None:
    """Commit a channel as the browser's channel browser does (its state lands in this key)."""
    at.session_state["heatmap_channel"] = channel
    at.run()
    no_exception(at)


def download_label(at) -> str:
    return at.get("download_button")[0].proto.label


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
    x, _ = hm.prepare(sample_images()["chelsea"], 352, IMAGENET_MEAN, IMAGENET_STD)
    net = models.create_cnn("resnet34", 37, seed=0).eval()
    with torch.no_grad():
        logits = net(x)[0]
        acts = net[0](x)[0]  # the body's output, by a plain forward
    note = next(c.value for c in at.caption if "Random weights know nothing" in c.value)
    assert f"**{float(logits.softmax(-1).max()):.1%}**" in note
    assert f"**{float(logits.min()):.0f} … {float(logits.max()):.0f}**" in note
    assert "1/37 = 2.7%" in note
    # Only the open view is drawn: the channel browser appears once its view is opened.
    assert component(at, "channels") is None
    text = shapes(at)
    assert "torch.Size([1, 3, 352, 352])" in text
    assert "torch.Size([512, 11, 11])" in text  # acts.shape at 352 px
    assert "torch.Size([11, 11])" in text  # avg_acts.shape
    assert "torch.Size([512])" in text  # grad_chan.shape
    assert "torch.Size([1, 37])" in text
    assert at.get("download_button")  # the overlay PNG
    open_tab(at, "Channels")
    pick_channel(at, 511)
    data = component(at, "channels")
    # The browser shows channel 511 with the numbers of a plain forward's acts[511].
    assert data["channel"] == 511 and data["n"] == 512
    assert data["mean"][511] == pytest.approx(float(acts[511].mean()), rel=1e-4, abs=1e-5)
    assert data["max"][511] == pytest.approx(float(acts[511].max()), rel=1e-4, abs=1e-5)

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
    pick_channel(at, 300)
    at.selectbox(key="heatmap_size").set_value(224).run()
    no_exception(at)
    assert "torch.Size([512, 7, 7])" in shapes(at)

    at.selectbox(key="heatmap_layer").set_value("0.5").run()  # layer2: stride 8, 224 / 8 = 28
    no_exception(at)
    assert "torch.Size([128, 28, 28])" in shapes(at)
    assert component(at, "channels")["channel"] == 127  # clamped to the new channel count
    assert at.session_state["heatmap_channel"] == 127

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


def test_download_follows_the_open_view(app_test, small_random):
    """The download once saved the mean map while Grad-CAM was shown: it follows the view now."""
    at = app_test("heatmap")
    assert at.session_state["heatmap_tab"] == "Mean activation"
    assert (
        download_label(at) == "Download the mean activation (the lesson's first map) overlay (PNG)"
    )
    open_tab(at, "Grad-CAM")
    assert at.selectbox(key="heatmap_map").value == "lesson"
    assert download_label(at) == "Download the grad-cam, lesson variant overlay (PNG)"
    captions = [c for el in at.main if type(el).__name__ == "Image" for c in el.captions]
    assert [c.split(":")[0] for c in captions if "the one downloaded" in c] == ["lesson"]
    at.selectbox(key="heatmap_map").set_value("library").run()
    assert at.session_state["heatmap_tab"] == "Grad-CAM"  # still the Grad-CAM view
    assert download_label(at) == "Download the grad-cam, library variant overlay (PNG)"
    at.selectbox(key="heatmap_map").set_value("mean").run()
    no_exception(at)
    assert at.session_state["heatmap_tab"] == "Mean activation"  # the view follows the map
    open_tab(at, "Mean activation")
    assert at.selectbox(key="heatmap_map").value == "mean"


def test_cell_view_sends_every_cells_region(app_test, small_random):
    at = app_test("heatmap")
    at.selectbox(key="heatmap_size").set_value(224).run()
    at.selectbox(key="heatmap_layer").set_value("0.6").run()  # layer3: 14x14 cells at 224 px
    open_tab(at, "What a cell sees")
    data = component(at, "cells")
    assert (data["h"], data["w"], data["W"], data["H"]) == (14, 14, 224, 224)
    assert data["committed"] == [7, 7]  # the centre until one is picked
    net = models.create_cnn("resnet18", 37, seed=0).eval()
    boxes = torch.tensor(data["boxes"]).view(14, 14, 8)
    for r, c in [(0, 0), (3, 11), (13, 13)]:
        region = hm.cell_region(net, "0.6", (224, 224), (14, 14), r, c)
        expected = torch.tensor([*region.cell_box, *region.field_box])
        torch.testing.assert_close(boxes[r, c], expected, atol=0.01, rtol=0)
    assert data["field"] == list(hm.cell_region(net, "0.6", (224, 224), (14, 14), 0, 0).field_size)
    assert data["image"].startswith("data:image/webp;base64,")


def test_imagenet_choice_says_it_downloads_before_it_is_picked(app_test, monkeypatch):
    monkeypatch.setattr(models, "imagenet_weights_cached", lambda arch="resnet34": False)
    at = app_test("heatmap")
    box = at.selectbox(key="heatmap_model")
    label = box.format_func("imagenet")
    assert "needs the network" in label and f"~{IMAGENET_MB} MB" in label
    assert "~83 MB" in label  # torchvision's resnet34 file is 83.3 MB
    assert any("downloads about 83 MB" in c.value for c in at.caption)
    monkeypatch.setattr(models, "imagenet_weights_cached", lambda arch="resnet34": True)
    at.run()
    assert "needs the network" not in at.selectbox(key="heatmap_model").format_func("imagenet")


ONE_PAGE = f"""
import ui.state
ui.state.remember("heatmap")
exec(compile(open({str(ROOT / "app_pages" / "heatmap.py")!r}).read(), "heatmap.py", "exec"))
"""


def one_page(params: dict[str, str]) -> AppTest:
    """The Heatmap page opened from a link with `params` (as app.py would, without the sidebar)."""
    at = AppTest.from_string(ONE_PAGE, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    no_exception(at)
    return at


def test_a_link_opens_the_same_view(app_test, small_random):
    link = {
        "layer": "0.5",
        "size": "224",
        "class": "30",
        "view": "Channels",
        "channel": "77",
        "cmap": "viridis",
        "alpha": "0.35",
        "map": "library",
    }
    at = one_page(link)
    assert at.selectbox(key="heatmap_layer").value == "0.5"
    assert at.selectbox(key="heatmap_size").value == 224
    assert at.selectbox(key="heatmap_class").value == 30
    assert at.selectbox(key="heatmap_cmap").value == "viridis"
    assert at.slider(key="heatmap_alpha").value == 0.35
    assert "torch.Size([128, 28, 28])" in shapes(at)
    assert "class *class 30*" in "".join(m.value for m in at.markdown)
    data = component(at, "channels")
    assert data["channel"] == 77 and data["alpha"] == 0.35
    assert data["lut"] == hm.lut_bytes("viridis")
    assert not [w.value for w in at.warning if "could not be used" in w.value]
    # The page writes the same settings back to the URL, so copying it gives the same link.
    url = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert {k: url.get(k) for k in link} == link


def test_a_bad_link_opens_with_defaults_and_one_sentence(app_test, small_random):
    at = one_page({"layer": "9.9", "size": "-3", "class": "banana", "view": "Nope", "row": "1e9"})
    warnings = [w.value for w in at.warning if "could not be used" in w.value]
    assert len(warnings) == 1
    for name in ("layer=9.9", "size=-3", "class=banana", "view=Nope", "row=1e9"):
        assert name in warnings[0]
    assert at.selectbox(key="heatmap_layer").value == "0"
    assert at.selectbox(key="heatmap_size").value == 352
    assert at.selectbox(key="heatmap_class").value == -1
    assert at.session_state["heatmap_tab"] == "Mean activation"
    assert "torch.Size([512, 11, 11])" in shapes(at)


def test_a_kept_checkpoint_that_was_deleted_falls_back_to_the_default(
    app_test, small_random, checkpoint
):
    at = app_test("heatmap")
    assert at.selectbox(key="heatmap_model").value == checkpoint
    for f in paths.weights_dir().glob("tiny.*"):
        f.unlink()
    at.run()
    no_exception(at)
    assert at.selectbox(key="heatmap_model").value == "random"
    assert "torch.Size([1, 37])" in shapes(at)


# --- the CAM family, faithfulness, the offline path, across training, after a run --------------


SHAPES = ["circle", "square", "triangle", "cross", "star"]


def save_shapes_ckpt(name: str, size: int, seed: int = 0, config: dict | None = None) -> str:
    model = models.create_cnn("resnet18", 5, seed=seed)
    meta = {
        "arch": "resnet18",
        "classes": SHAPES,
        "size": size,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "bn_final": False,
        "history": [],
        "config": config or {},
    }
    models.save(model, name, meta)
    return "ckpt:" + name


@pytest.fixture
def shapes_ckpt(monkeypatch, tmp_path):
    """An untrained resnet18 saved as a 5-class shapes checkpoint at 64 px."""
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    return save_shapes_ckpt("shapes64", 64)


def image_captions(at) -> list[str]:
    return [c for el in at.main if type(el).__name__ == "Image" for c in el.captions]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def oracle_input(size: int = 64):
    x, _ = hm.prepare(sample_images()["chelsea"], size, [0.5] * 3, [0.25] * 3)
    model, _ = models.load("shapes64")
    return model, x


def test_the_default_model_is_the_newest_with_cells_to_tell_apart(app_test, monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    demo = save_shapes_ckpt("demo96", 96)
    time.sleep(0.05)  # saved later: the newest of all
    save_shapes_ckpt("smoke32", 32)
    at = app_test("heatmap")
    assert at.selectbox(key="heatmap_model").value == demo  # not the 1×1-map smoke run
    assert at.selectbox(key="heatmap_size").value == 96


def test_method_switching_shows_each_map_with_its_faithfulness(app_test, shapes_ckpt):
    at = app_test("heatmap")
    assert at.selectbox(key="heatmap_model").value == shapes_ckpt
    at.selectbox(key="heatmap_layer").set_value("0.6").run()  # layer3: 4x4 at 64 px
    open_tab(at, "Grad-CAM")
    # The measure is asked for (22 more passes per map): off, no metric is computed or shown.
    assert not any(m.label == "Deletion area" for m in at.metric)
    at.toggle(key="heatmap_faith").set_value(True).run()
    assert at.query_params["faith"] in ("1", ["1"])
    assert at.selectbox(key="heatmap_map").value == "lesson"  # the lesson's variant by default
    model, x = oracle_input()
    k = int(model(x)[0].argmax())
    words = {"hirescam": "hirescam", "scorecam": "score-cam", "gradcam++": "grad-cam++"}
    for method in words:
        at.selectbox(key="heatmap_map").set_value(method).run()
        no_exception(at)
        m = hm.cam_map(model, x, "0.6", k, method, dtype=hm.fast_dtype("cpu"))
        assert (
            f"{method}: range {float(m.min()):.3g} … {float(m.max()):.3g}" in image_captions(at)[0]
        )
        f = hm.faithfulness(model, x, m, k, steps=10)
        assert metric(at, "Deletion area") == f"{f.deletion.auc:.3f}"
        assert metric(at, "Insertion area") == f"{f.insertion.auc:.3f}"
        assert metric(at, "Average Drop") == f"{100 * f.drop:.1f} %"
        assert at.query_params["map"] in (method, [method])
        assert download_label(at).lower() == f"download the {words[method]} overlay (png)"
    assert "slow" in at.selectbox(key="heatmap_map").format_func("scorecam")
    # The faithfulness panel stands beside the mean map too, for the predicted class.
    at.selectbox(key="heatmap_map").set_value("mean").run()
    f = hm.faithfulness(model, x, hm.activations(model, x, "0.6").mean(0), k, steps=10)
    assert metric(at, "Deletion area") == f"{f.deletion.auc:.3f}"


def test_the_method_table_plays_the_pointing_game_on_shapes(app_test, shapes_ckpt):
    at = app_test("heatmap")
    at.selectbox(key="heatmap_layer").set_value("0.6").run()
    at.toggle(key="heatmap_compare").set_value(True).run()
    no_exception(at)
    table = next(d.value for d in at.dataframe if "pointing game" in d.value.columns)
    methods = ["lesson", "gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam"]
    assert table["method"].tolist() == methods  # Score-CAM only when asked
    assert set(SHAPES) <= set(table.columns)  # the pointing game per class, all five
    model, _ = oracle_input()
    x, labels, boxes, _ = hm.shapes_batch(64, [0.5] * 3, [0.25] * 3)
    for method, played in zip(methods, table["pointing game"], strict=True):
        hits = 0
        for i in range(5):
            if method == "lesson":
                m = hm.grad_cam(model, x[i : i + 1], "0.6", labels[i], "lesson")
            else:
                m = hm.cam_map(model, x[i : i + 1], "0.6", labels[i], method)
            hits += hm.pointing_hit(m, boxes[i].tolist(), (64, 64))
        assert played == f"{hits}/5"
    best = next(s.value for s in at.success if "Most faithful" in s.value)
    assert any(f"**{m}**" in best for m in methods)
    at.checkbox(key="heatmap_compare_slow").set_value(True).run()
    table = next(d.value for d in at.dataframe if "pointing game" in d.value.columns)
    assert "scorecam" in table["method"].tolist()


def test_shapes_source_says_true_label_and_warns_off_size(app_test, shapes_ckpt):
    at = app_test("heatmap")
    at.radio(key="sidebar_source").set_value("Shapes").run()
    at.selectbox(key="sidebar_shape").set_value("cross").run()
    no_exception(at)
    import ui

    sd = ui._sidebar_shapes()
    i = int((sd.labels == SHAPES.index("cross")).nonzero()[0])
    from explorer.images import to_image

    x, _ = hm.prepare(to_image(sd.images[i].float() / 255), 64, [0.5] * 3, [0.25] * 3)
    model, _ = models.load("shapes64")
    with torch.no_grad():
        p = model(x)[0].softmax(-1)
    pred = SHAPES[int(p.argmax())]
    verdict = "right" if pred == "cross" else "wrong"
    text = "".join(m.value for m in at.markdown)
    assert (
        f"True label **cross** · predicted **{pred}** ({float(p.max()):.1%}): **{verdict}**" in text
    )
    assert not any("trained at 64 px" in w.value for w in at.warning)
    at.selectbox(key="heatmap_size").set_value(224).run()
    assert any("trained at 64 px" in w.value and "degrade" in w.value for w in at.warning)


def test_across_training_row_shows_each_checkpoint_at_its_size(app_test, shapes_ckpt):
    save_shapes_ckpt("shapes96", 96, seed=1)
    at = app_test("heatmap")
    at.multiselect(key="heatmap_ckpts").set_value(["ckpt:shapes64", "ckpt:shapes96"]).run()
    no_exception(at)
    row = [c for c in image_captions(at) if " px · " in c]
    assert len(row) == 2
    for name, size, caption in zip(("shapes64", "shapes96"), (64, 96), row, strict=True):
        model, _ = models.load(name)
        x, _ = hm.prepare(sample_images()["chelsea"], size, [0.5] * 3, [0.25] * 3)
        with torch.no_grad():
            p = model(x)[0].softmax(-1)
        assert caption.startswith(f"{name} · {size} px · mean · predicts")
        assert caption.endswith(f"{SHAPES[int(p.argmax())]} ({float(p.max()):.0%})")
    assert at.query_params["ckpts"] in (
        "ckpt:shapes64,ckpt:shapes96",
        ["ckpt:shapes64,ckpt:shapes96"],
    )


def test_after_a_run_top_losses_and_validation_images(app_test, monkeypatch, tmp_path):
    from explorer import interpret
    from tests.test_interpret import save_run, tiny_config

    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    cfg = tiny_config()
    save_run(cfg)
    at = app_test("heatmap")
    at.selectbox(key="heatmap_run").set_value("run-1").run()
    at.toggle(key="heatmap_interpret").set_value(True).run()
    no_exception(at)
    it = interpret.interpret_run(paths.runs_dir() / "run-1", layer="0")
    text = "".join(m.value for m in at.markdown)
    assert f"accuracy **{it.accuracy:.1%}**" in text and "**15** validation images" in text
    captions = [c for c in image_captions(at) if c.count(" / ") == 3]
    assert len(captions) == 9
    t = it.top[0]
    assert captions[0] == (
        f"{it.classes[t.pred]} / {it.classes[t.label]} / {t.loss:.2f} / {t.prob:.2f}"
    )
    confused = next(d.value for d in at.dataframe if "actual" in d.value.columns)
    assert confused.values.tolist()[:3] == [
        list(r) for r in interpret.most_confused(it.confusion, it.classes)[:3]
    ]
    # The sidebar offers the run's validation images with their true label.
    at.radio(key="sidebar_source").set_value("Validation").run()
    at.number_input(key="sidebar_valid_index").set_value(2).run()
    no_exception(at)
    vs = interpret.validation_set(cfg.to_dict())
    assert f"True label **{vs.classes[vs.labels[2]]}**" in "".join(m.value for m in at.markdown)


def test_a_runs_epoch_snapshots_open_as_the_training_row(app_test, shapes_ckpt):
    for k in (1, 2, 3, 4, 5):
        save_shapes_ckpt(f"shapes64-epoch{k}", 64, seed=k)
    save_shapes_ckpt("shapes64", 64)  # the newest, so the page's default
    at = app_test("heatmap")
    assert at.selectbox(key="heatmap_model").value == "ckpt:shapes64"
    row = [c.split(" · ")[0] for c in image_captions(at) if " px · " in c]
    assert row == ["shapes64-epoch1", "shapes64-epoch3", "shapes64-epoch5", "shapes64"]
    assert hm_runs_snapshots("ckpt:x", ["ckpt:x-epoch2", "ckpt:x-epoch10", "ckpt:y-epoch1"]) == [
        "ckpt:x-epoch2",
        "ckpt:x-epoch10",
        "ckpt:x",
    ]
    at.multiselect(key="heatmap_ckpts").set_value([]).run()  # a person's empty row stays empty
    assert not [c for c in image_captions(at) if " px · " in c]


def hm_runs_snapshots(choice, names):
    from ui.heatmap_runs import snapshots_of

    return snapshots_of(choice, names)
