"""Tests for explorer.models: structure vs torchvision, freezing, LR groups, checkpoints,
summary."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
import torchvision
from torch import nn

from explorer import checkpoints, models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def r18():
    return models.create_cnn("resnet18", 5, seed=0)


def meta_for(n: int = 5, **kw):
    return {
        "arch": "resnet18",
        "classes": [f"c{i}" for i in range(n)],
        "size": 64,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "bn_final": False,
        "history": [{"epoch": 0, "train_loss": 1.5}],
        "config": {"lr": 0.01},
        **kw,
    }


def test_body_is_torchvision_resnet_without_pool_and_fc(r18):
    body = r18[0]
    names = [n for n, _ in r18.named_modules()]
    assert [f"0.{i}" for i in range(8)] == [n for n in names if n.count(".") == 1 and n[0] == "0"]
    assert "1" in names and "0.7" in names
    # The body's weights are the torchvision modules' weights: same forward as torchvision up to
    # layer4, computed independently from the torchvision model's own attributes.
    torch.manual_seed(1)
    net = torchvision.models.resnet18(weights=None).eval()
    body_tv = models.create_cnn("resnet18", 5)[0]
    order = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    renamed = {}
    for k, v in net.state_dict().items():
        top, _, rest = k.partition(".")
        if top != "fc":
            renamed[f"{order.index(top)}.{rest}"] = v
    body_tv.load_state_dict(renamed)  # strict: every body tensor has a torchvision counterpart
    body_tv.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        t = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        ref = net.layer4(net.layer3(net.layer2(net.layer1(t))))
        torch.testing.assert_close(body_tv(x), ref)
    assert ref.shape == (2, 512, 2, 2)
    assert isinstance(body, nn.Sequential) and len(body) == 8


def test_head_layers_like_fastai(r18):
    # Structure only, so the big models are built on the meta device (no memory, no init cost).
    with torch.device("meta"):
        m = models.create_cnn("resnet34", 37, bn_final=True)
        m50 = models.create_cnn("resnet50", 2)
    kinds = [type(x).__name__ for x in m[1]]
    assert kinds == [
        "AdaptiveConcatPool2d",
        "Flatten",
        "BatchNorm1d",
        "Dropout",
        "Linear",
        "ReLU",
        "BatchNorm1d",
        "Dropout",
        "Linear",
        "BatchNorm1d",
    ]
    assert m[1][2].num_features == 1024 and m[1][4].in_features == 1024
    assert (m[1][3].p, m[1][7].p) == (0.25, 0.5)
    assert m[1][8].out_features == 37 and m[1][9].num_features == 37
    assert m50[1][4].in_features == 4096 and len(m50[1]) == 9
    head = r18[1]
    assert torch.count_nonzero(head[4].bias) == 0 and torch.count_nonzero(head[8].bias) == 0
    # kaiming normal (fan_in, gain sqrt(2)): std = sqrt(2 / 1024), over 512k samples
    assert abs(head[4].weight.std().item() - (2 / 1024) ** 0.5) < 0.001
    r18.eval()
    with torch.no_grad():
        assert r18(torch.randn(3, 3, 32, 32)).shape == (3, 5)
    r18.train()


def test_concat_pool_is_max_then_avg():
    x = torch.arange(8.0).reshape(1, 2, 2, 2)
    out = models.AdaptiveConcatPool2d()(x).flatten().tolist()
    assert out == [3.0, 7.0, 1.5, 5.5]


def test_seed_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = models.create_cnn("resnet18", 3, seed=7)
    after = torch.rand(1)
    b = models.create_cnn("resnet18", 3, seed=7)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_unknown_arch_and_bad_classes():
    with pytest.raises(ValueError, match="resnet18"):
        models.create_cnn("vgg16", 3)
    with pytest.raises(ValueError, match="at least one class"):
        models.create_cnn("resnet18", 0)


def test_person_caused_model_errors_are_user_errors():
    # An arch typed on the CLI and a checkpoint name typed on the page used to be plain ValueErrors.
    from explorer.errors import UserError

    with pytest.raises(models.UnknownArch, match="choose one of resnet18") as err:
        models.create_cnn("vgg16", 3)
    assert isinstance(err.value, UserError)
    for bad in ("../up", ".hidden", "a b", "x" * 101, ""):
        with pytest.raises(models.CheckpointError, match="is not allowed"):
            models.check_name(bad)
    assert models.check_name("shapes-tiny.v2") == "shapes-tiny.v2"


def test_imagenet_file_table_matches_torchvision():
    # Written out so pages need not import torchvision; torchvision's own meta is the oracle.
    for arch in models.ARCHS:
        weights = torchvision.models.get_model_weights(arch).DEFAULT
        assert weights.url == f"https://{models.IMAGENET_HOST}/models/{models.IMAGENET_FILES[arch]}"
        assert models.IMAGENET_DOWNLOAD_MB[arch] == round(weights.meta["_file_size"])
    assert models.IMAGENET_DOWNLOAD_MB["resnet34"] == 83


def test_offline_weights_fail_within_the_reach_timeout_naming_size_and_network(
    tmp_path, monkeypatch
):
    # A resolver that never answers (the ~3 s the issue measured, or worse): the check gives up
    # after its timeout instead of waiting for it, and says what the download needs.
    import socket
    import threading

    from explorer import net

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    never = threading.Event()

    def hang(*_args, **_kwargs):
        never.wait()
        raise OSError("the resolver gave up at last")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        assert net.reachable("example.org", timeout=0.2) == "no answer within 0.2 s"
        with pytest.raises(models.WeightsUnavailable, match=r"about 83 MB\) needs the network"):
            models.create_cnn("resnet34", 37, pretrained=True)
    finally:
        never.set()  # let the abandoned lookups end


def test_pretrained_classifier_rearrangement_matches_torchvision():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
        seq = models.from_torchvision(net)
        out = seq(x)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    assert [type(m).__name__ for m in seq[1]] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    model, cats = models.pretrained_classifier("resnet18", pretrained=False)
    assert len(cats) == 1000 and cats[0] == "tench" and cats[281] == "tabby"
    assert not model.training and len(model[0]) == 8


def test_weights_offline_raise_weights_unavailable(tmp_path, monkeypatch):
    # An empty hub cache so no cached file interferes; this machine cannot reach the host.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    assert torch.hub.get_dir() == str(tmp_path / "hub")
    assert not models.imagenet_weights_cached("resnet34")
    with pytest.raises(models.WeightsUnavailable, match="from scratch"):
        models.pretrained_classifier("resnet34")
    with pytest.raises(models.WeightsUnavailable, match="from scratch"):
        models.create_cnn("resnet18", 3, pretrained=True)


def test_cached_weights_work_offline(tmp_path, monkeypatch):
    # A file in the hub cache is used without any network access (torch saves, hub loads it).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    torch.manual_seed(3)
    net = torchvision.models.resnet18(weights=None)
    cache = models._cache_file("resnet18")
    cache.parent.mkdir(parents=True)
    torch.save(net.state_dict(), cache)
    assert models.imagenet_weights_cached("resnet18")
    model, _ = models.pretrained_classifier("resnet18")
    torch.testing.assert_close(model[1][2].weight, net.fc.weight)
    cnn = models.create_cnn("resnet18", 4, pretrained=True)
    torch.testing.assert_close(cnn[0][0].weight, net.conv1.weight)
    # A damaged cache file gets a sentence that says which file to delete.
    cache.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(models.WeightsUnavailable, match="delete that file"):
        models.pretrained_classifier("resnet18")


def test_freeze_leaves_exactly_head_and_batchnorm_trainable(r18):
    models.freeze(r18)
    expected = set()
    for name, m in r18.named_modules():
        own = [f"{name}.{n}" for n, _ in m.named_parameters(recurse=False)]
        if name.startswith("1") or isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            expected.update(own)
    trainable = {n for n, p in r18.named_parameters() if p.requires_grad}
    assert trainable == expected
    assert "0.0.weight" not in trainable and "0.4.0.bn1.weight" in trainable
    assert "0.4.0.conv1.weight" not in trainable and "1.8.weight" in trainable
    models.unfreeze(r18)
    assert all(p.requires_grad for p in r18.parameters())


def test_layer_groups_partition_parameters(r18):
    groups = models.layer_groups(r18)
    assert len(groups) == 3
    ids = [{id(p) for p in g} for g in groups]
    assert sum(len(g) for g in ids) == len({id(p) for p in r18.parameters()})
    assert id(r18[0][0].weight) in ids[0] and id(r18[0][5][0].conv1.weight) in ids[0]
    assert id(r18[0][6][0].conv1.weight) in ids[1] and id(r18[0][7][1].bn2.bias) in ids[1]
    assert id(r18[1][8].weight) in ids[2]


def test_lr_for_groups_like_fastai_slices():
    # slice(1e-6, 1e-3) over 3 groups: 1e-6, sqrt(1e-6 * 1e-3), 1e-3
    lo, mid, hi = models.lr_for_groups((1e-6, 1e-3))
    assert (lo, hi) == pytest.approx((1e-6, 1e-3), rel=1e-12)
    assert mid == pytest.approx(10**-4.5, rel=1e-12)
    assert models.lr_for_groups((1e-4, 1e-2), n_groups=5) == pytest.approx(
        [1e-4, 10**-3.5, 1e-3, 10**-2.5, 1e-2], rel=1e-12
    )
    assert models.lr_for_groups(1e-2) == pytest.approx([1e-3, 1e-3, 1e-2], rel=1e-12)
    for bad in (0.0, -1e-3, float("nan"), (1e-3,), (1e-3, 1e-2, 1e-1), (0, 1e-3)):
        with pytest.raises(ValueError):
            models.lr_for_groups(bad)


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _trained_like(seed: int, n: int = 5, bn_final: bool = False) -> nn.Sequential:
    m = models.create_cnn("resnet18", n, bn_final=bn_final, seed=seed)
    # Move BatchNorm statistics away from their defaults so the round trip has to carry them.
    m.train()
    with torch.no_grad():
        m(torch.randn(4, 3, 32, 32))
    return m.eval()


@pytest.fixture(scope="module")
def trained():
    return _trained_like(0)


def test_checkpoint_round_trip_same_outputs(home):
    m = _trained_like(0, bn_final=True)
    path = models.save(m, "pets-1", meta_for(bn_final=True))
    assert path == home / "weights" / "pets-1.safetensors"
    assert (home / "weights" / "pets-1.json").is_file()
    loaded, meta = models.load("pets-1")
    assert not loaded.training
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), m(x))
    assert_same_weights(loaded, m)
    assert meta["classes"] == [f"c{i}" for i in range(5)]
    assert meta["n_classes"] == 5 and meta["bn_final"] is True
    assert meta["history"] == [{"epoch": 0, "train_loss": 1.5}]
    assert all(p.requires_grad for p in loaded.parameters())
    assert not any(p.name.endswith(".tmp") for p in (home / "weights").iterdir())


def test_pickle_renamed_safetensors_is_refused(home):
    folder = home / "weights"
    folder.mkdir()
    (folder / "evil.safetensors").write_bytes(pickle.dumps({"0.0.weight": [1, 2, 3]}))
    (folder / "evil.json").write_text('{"arch": "resnet18", "n_classes": 5, "classes": ["a"]}')
    with pytest.raises(models.CheckpointError, match="not a readable safetensors"):
        models.load("evil")
    with open(folder / "torch.safetensors", "wb") as fh:
        torch.save({"x": torch.zeros(2)}, fh)
    with pytest.raises(models.CheckpointError, match="safetensors"):
        models.load("torch")


def test_shape_mismatch_is_refused(home, trained):
    models.save(trained, "five", meta_for(5))
    # Swap the weights for a 7-class model's, keeping the 5-class meta in the header.
    import safetensors.torch

    seven = models.create_cnn("resnet18", 7)
    sd = {k: v.contiguous() for k, v in seven.state_dict().items()}
    header = {"explorer_meta": (home / "weights" / "five.json").read_text()}
    safetensors.torch.save_file(sd, str(home / "weights" / "five.safetensors"), metadata=header)
    with pytest.raises(models.CheckpointError, match=r"1\.8\.weight is \(7, 512\)"):
        models.load("five")
    # Meta whose class list disagrees with its output count.
    bad_meta = {**meta_for(4), "n_classes": 7}
    safetensors.torch.save_file(
        sd, str(home / "weights" / "five.safetensors"), {"explorer_meta": json.dumps(bad_meta)}
    )
    with pytest.raises(models.CheckpointError, match="names 4 classes but has 7 outputs"):
        models.load("five")
    # A missing tensor is named too.
    del sd["1.8.bias"]
    safetensors.torch.save_file(sd, str(home / "weights" / "five.safetensors"), metadata=header)
    with pytest.raises(models.CheckpointError, match="1 tensors missing"):
        models.load("five")


def test_missing_and_bad_names(home, trained):
    with pytest.raises(models.CheckpointError, match="No checkpoint"):
        models.load("nothing")
    m = trained
    for bad in ("../x", "a/b", ".hidden", "", "..", "a b", "x" * 101):
        with pytest.raises(ValueError):
            models.save(m, bad, meta_for())
        with pytest.raises(models.CheckpointError):
            models.load(bad)
    with pytest.raises(ValueError, match="arch"):
        models.save(m, "ok", {"classes": ["a"]})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        models.save(m, "ok", meta_for(config={"root": home}))
    assert not (home / "weights").exists() or not list((home / "weights").iterdir())


def test_crash_during_replace_keeps_previous_checkpoint(home, monkeypatch, trained, r18):
    old, new = trained, r18  # same seed, but old's BatchNorm statistics have moved
    assert not torch.equal(old[0][1].running_mean, new[0][1].running_mean)
    models.save(old, "run", meta_for(history=[]))

    def boom(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(checkpoints.os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        models.save(new, "run", meta_for(history=[{"epoch": 1}]))
    monkeypatch.undo()
    loaded, meta = models.load("run", folder=home / "weights")
    assert_same_weights(loaded, old)
    assert meta["history"] == []


def test_process_killed_while_saving_keeps_previous_checkpoint(home, trained):
    old = trained
    models.save(old, "run", meta_for(history=[]))
    # A child process writes its temp file, then is SIGKILLed before it can replace anything.
    script = textwrap.dedent(
        """
        import os, signal, sys
        from explorer import checkpoints, models
        real_replace = os.replace
        def die(src, dst):
            sys.stdout.write("temp written\\n"); sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        checkpoints.os.replace = die
        import torch
        # Any module will do: the save is killed before it replaces anything (and a small one
        # keeps this child from importing torchvision).
        m = torch.nn.Linear(4, 4)
        meta = {"arch": "resnet18", "classes": ["a", "b", "c", "d", "e"]}
        assert "torchvision" not in sys.modules
        models.save(m, "run", meta)
        """
    )
    env = {**os.environ, "EXPLORER_HOME": str(home), "PYTHONPATH": ROOT}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "temp written" in proc.stdout
    folder = home / "weights"
    leftovers = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the killed save should have left its temp file behind"
    loaded, meta = models.load("run")
    assert_same_weights(loaded, old)
    # The writer is dead, so the next listing cleans its temp files up.
    names = [c["name"] for c in models.list_checkpoints()]
    assert names == ["run"]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_temp_file_of_a_live_writer_is_kept(home):
    folder = home / "weights"
    folder.mkdir()
    live = folder / f".x.safetensors.{os.getppid()}.abcd.tmp"
    live.write_bytes(b"partial")
    models.list_checkpoints()
    assert live.exists()


def test_list_checkpoints_newest_first_with_broken_one(home, trained):
    models.save(trained, "older", meta_for())
    models.save(trained, "newer", meta_for(size=128))
    folder = home / "weights"
    (folder / "broken.safetensors").write_bytes(b"\x00garbage")
    (folder / "orphan.json").write_text("{}")
    (folder / "my model.safetensors").write_bytes(b"")
    rows = models.list_checkpoints()
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"older", "newer", "broken", "orphan", "my model"}
    assert "not an allowed checkpoint name" in by_name["my model"]["error"]
    good = [r["name"] for r in rows if "error" not in r]
    assert good == ["newer", "older"]
    assert by_name["newer"]["size"] == 128 and by_name["older"]["size"] == 64
    assert by_name["older"]["n_classes"] == 5 and by_name["older"]["arch"] == "resnet18"
    assert "safetensors" in by_name["broken"]["error"]
    assert "missing" in by_name["orphan"]["error"]
    assert models.list_checkpoints(home / "nowhere") == []


def test_summary_shapes_match_a_hand_forward(r18):
    r18.train()
    models.freeze(r18)
    before = {k: v.clone() for k, v in r18.state_dict().items()}
    rows = models.summary(r18, 64)
    # Mode restored, no hook left, no BatchNorm statistic moved.
    assert r18.training and all(m.training for m in r18.modules())
    assert not any(m._forward_hooks for m in r18.modules())
    for k, v in r18.state_dict().items():
        assert torch.equal(v, before[k]), k
    by_name = {}
    for r in rows:
        by_name.setdefault(r["name"], r)
    # Hand forward through the same modules.
    x = torch.zeros(1, 3, 64, 64)
    body = r18[0].eval()
    with torch.no_grad():
        stem = body[0](x)
        assert by_name["0.0"]["output_shape"] == list(stem.shape) == [1, 64, 32, 32]
        pooled = body[3](body[2](body[1](stem)))
        assert by_name["0.3"]["output_shape"] == list(pooled.shape) == [1, 64, 16, 16]
        l2 = body[5](body[4](pooled))
        assert by_name["0.5.1.bn2"]["output_shape"] == list(l2.shape) == [1, 128, 8, 8]
        l4 = body[7](body[6](l2))
        assert by_name["0.7.1.conv2"]["output_shape"] == list(l4.shape) == [1, 512, 2, 2]
    r18.train()
    assert by_name["1.0.mp"]["output_shape"] == [1, 512, 1, 1]
    assert by_name["1.1"]["output_shape"] == [1, 1024]
    assert by_name["1.8"]["output_shape"] == [1, 5]
    assert by_name["0.0"] == {
        "layer": "Conv2d",
        "name": "0.0",
        "output_shape": [1, 64, 32, 32],
        "params": 3 * 64 * 7 * 7,
        "trainable": False,
    }
    assert by_name["0.1"]["trainable"] is True and by_name["0.1"]["params"] == 128
    assert by_name["0.2"]["trainable"] is False and by_name["0.2"]["params"] == 0
    # Every parameter appears once among the leaf rows (ReLUs called twice hold none).
    unique = {r["name"]: r["params"] for r in rows}
    assert sum(unique.values()) == sum(p.numel() for p in r18.parameters())
    models.unfreeze(r18)


def hook_rows(model: nn.Module, size: int) -> list[dict]:
    """The oracle: what forward hooks on every leaf module record, call by call."""
    rows, handles = [], []
    for name, m in model.named_modules():
        if any(True for _ in m.children()):
            continue

        def hook(mod, _inp, out, name=name):
            params = list(mod.parameters(recurse=False))
            rows.append(
                {
                    "layer": type(mod).__name__,
                    "name": name,
                    "output_shape": list(out.shape),
                    "params": sum(p.numel() for p in params),
                    "trainable": any(p.requires_grad for p in params),
                }
            )

        handles.append(m.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return rows


def test_summary_rows_are_every_call_in_order_as_hooks_see_them():
    # resnet50's Bottleneck calls its one ReLU three times with three shapes: a row per call.
    model = models.create_cnn("resnet50", 7, bn_final=True, seed=0)
    models.freeze(model)
    rows = models.summary(model, 64)
    assert rows == hook_rows(model, 64)
    relu = [r["output_shape"] for r in rows if r["name"] == "0.4.0.relu"]
    assert relu == [[1, 64, 16, 16], [1, 64, 16, 16], [1, 256, 16, 16]]


def test_summary_waits_for_the_models_lock():
    import threading

    from explorer import heatmap

    model = models.create_cnn("resnet18", 2, seed=0)
    done = threading.Event()
    with heatmap.model_lock(model):  # another session is using the model
        worker = threading.Thread(target=lambda: (models.summary(model, 32), done.set()))
        worker.start()
        assert not done.wait(1.0)
    worker.join(60)
    assert done.is_set()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_load_and_summary_on_cuda(home, trained):
    models.save(trained.cuda().to(memory_format=torch.channels_last), "gpu", meta_for())
    trained.cpu()
    loaded, _ = models.load("gpu", device="cuda")
    assert all(p.device.type == "cuda" for p in loaded.parameters())
    assert_same_weights(loaded.cpu(), trained)
    rows = models.summary(loaded.cuda(), 64, device="cuda")
    assert rows[0]["output_shape"] == [1, 64, 32, 32] and rows[-1]["output_shape"] == [1, 5]


def test_summary_table_totals():
    rows = [
        {
            "layer": "Conv2d",
            "name": "0.0",
            "output_shape": [1, 8, 4, 4],
            "params": 216,
            "trainable": False,
        },
        {
            "layer": "ReLU",
            "name": "0.1",
            "output_shape": [1, 8, 4, 4],
            "params": 0,
            "trainable": False,
        },
        {
            "layer": "BatchNorm2d",
            "name": "0.2",
            "output_shape": [1, 8, 4, 4],
            "params": 16,
            "trainable": True,
        },
        {
            "layer": "ReLU",
            "name": "0.1",
            "output_shape": [1, 8, 4, 4],
            "params": 0,
            "trainable": False,
        },
        {
            "layer": "Linear",
            "name": "1",
            "output_shape": [1, 1000],
            "params": 129000,
            "trainable": True,
        },
    ]
    text = models.summary_table(rows).splitlines()
    assert text[2].split() == ["Conv2d", "[1,", "8,", "4,", "4]", "216", "False"]
    assert text[6].split() == ["Linear", "[1,", "1000]", "129,000", "True"]
    assert text[-3:] == [
        "Total params: 129,232",
        "Total trainable params: 129,016",
        "Total non-trainable params: 216",
    ]
