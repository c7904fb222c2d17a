"""Tests for explorer.heatmap against independent oracles: plain forwards, autograd, hand sums."""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.models import resnet18

from explorer import heatmap as hm
from explorer import images
from explorer.errors import UserError


def tiny_resnet(n_classes: int = 5, seed: int = 0) -> nn.Sequential:
    """nn.Sequential(body, head) shaped like create_cnn's model, from an untrained resnet18."""
    torch.manual_seed(seed)
    r = resnet18(weights=None)
    body = nn.Sequential(*list(r.children())[:-2])
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, n_classes))
    model = nn.Sequential(body, head)
    # Non-trivial BN statistics, so eval mode differs visibly from train mode.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is as fast, and it does not stall when other processes hold the
    CPU (two threads wait for each other at every op on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> nn.Sequential:
    return tiny_resnet().eval()


def autograd_oracle(model: nn.Module, x: torch.Tensor, layer: str, class_idx: int | None):
    """The usual full way: retain_grad on the layer's output, full backward from the logit."""
    store: dict[str, torch.Tensor] = {}

    def keep(mod, inp, out):
        out.retain_grad()
        store["a"] = out

    handle = dict(model.named_modules())[layer].register_forward_hook(keep)
    try:
        out = model(x)
        k = int(out[0].argmax()) if class_idx is None else class_idx
        out[0, k].backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    a, g = store["a"][0].detach(), store["a"].grad[0]
    w = g.mean(dim=(1, 2))
    lesson = (a * w[:, None, None]).mean(0)
    library = torch.relu((a * w[:, None, None]).sum(0))
    return a, g, lesson, library, k


def hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def snapshot(model: nn.Module):
    return (
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        {k: v.clone() for k, v in model.state_dict().items()},
    )


def assert_unchanged(model: nn.Module, before) -> None:
    training, flags, state = before
    assert [m.training for m in model.modules()] == training
    assert [p.requires_grad for p in model.parameters()] == flags
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in model.parameters())
    assert hook_count(model) == 0
    assert torch.is_grad_enabled()


# ---------------------------------------------------------------------------------------------
# activations and Grad-CAM against autograd
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["0", "0.4", "0.5", "0.6.1", "0.4.0.conv1"])
def test_activations_equal_plain_forward(model, layer):
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    got = hm.activations(model, x, layer)
    with torch.no_grad():
        if layer == "0.4.0.conv1":
            expected = model[0][4][0].conv1(model[0][:4](x))[0]
        elif layer == "0.6.1":
            expected = model[0][6](model[0][:6](x))[0]
        else:
            n = 8 if layer == "0" else int(layer.split(".")[1]) + 1
            expected = model[0][:n](x)[0]
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("layer", "size", "class_idx"),
    [("0", 48, None), ("0", 64, 3), ("0.5", 48, 1), ("0.6", 56, None), ("0.7.1", 40, 4)],
)
def test_grad_cam_variants_equal_autograd(model, layer, size, class_idx):
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(size))
    a, g, lesson, library, k = autograd_oracle(model, x, layer, class_idx)
    c = hm.capture(model, x, layer, class_idx)
    assert c.class_idx == k
    torch.testing.assert_close(c.acts, a)
    torch.testing.assert_close(c.grads, g)
    torch.testing.assert_close(hm.grad_cam(model, x, layer, class_idx, "lesson"), lesson)
    torch.testing.assert_close(hm.grad_cam(model, x, layer, class_idx, "library"), library)
    assert lesson.shape == a.shape[1:]
    torch.testing.assert_close(hm.channel_weights(c.grads), g.mean(dim=(1, 2)))
    # the per-channel contributions add up to the lesson map (its mean, channel by channel)
    contrib = hm.contributions(c.acts, hm.channel_weights(c.grads))
    torch.testing.assert_close(contrib.mean(), lesson.mean())
    torch.testing.assert_close(hm.heat(c.acts, None, "mean"), a.mean(0))
    torch.testing.assert_close(hm.heat(c.acts, c.grads, "library"), library)


def test_in_place_relu_after_the_layer_does_not_rewrite_it(model):
    # bn1 ("0.1") is followed by ReLU(inplace=True): the stored output must keep its negatives,
    # and its gradient must be the one autograd gives for the BN output.
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model[0][:2](x)[0]
    assert (expected < 0).any()
    c = hm.capture(model, x, "0.1", 0)
    torch.testing.assert_close(c.acts, expected)
    bn = model[0][:2](x)
    (g,) = torch.autograd.grad(model[1](model[0][2:](bn.clone()))[0, 0], bn)
    torch.testing.assert_close(c.grads, g[0])


def test_plain_forward_inside_the_block_uses_the_tensor_hook(model):
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    a, g, *_ = autograd_oracle(model, x, "0.5", 1)
    with hm.hooked(model, "0.5", grad=True) as hook:
        model(x.clone().requires_grad_(True))[0, 1].backward()  # the usual, costly way
    torch.testing.assert_close(hook.acts[0], a)
    torch.testing.assert_close(hook.grads[0], g)
    assert all(p.grad is None for p in model.parameters())
    assert hook_count(model) == 0


def test_backward_stops_at_the_layer_and_skips_parameter_grads(model):
    x = torch.randn(1, 3, 64, 64)

    def graph_nodes(t: torch.Tensor) -> list[str]:
        seen, todo, names = set(), [t.grad_fn], []
        while todo:
            fn = todo.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            names.append(type(fn).__name__)
            todo.extend(f for f, _ in fn.next_functions)
        return names

    with hm.hooked(model, "0.6", grad=True) as hook:
        logits = hook.forward(x)
        nodes = graph_nodes(logits)
        assert hook.acts is not None and hook.acts.is_leaf
    # layer4 has 5 convolutions (2 blocks x 2 + the shortcut); nothing below 0.6 is recorded and
    # the only leaf autograd accumulates into is the hooked activation (no parameter leaves).
    assert sum("Convolution" in n for n in nodes) == 5
    assert nodes.count("AccumulateGrad") == 1


def test_invalid_arguments_say_what_is_wrong(model):
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match="no layer named"):
        hm.activations(model, x, "9.9")
    with pytest.raises(ValueError, match="variant"):
        hm.grad_cam(model, x, "0", None, "fancy")
    with pytest.raises(ValueError, match="out of range"):
        hm.grad_cam(model, x, "0", 99)
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        hm.activations(model, x[0], "0")
    with pytest.raises(ValueError, match="runs 2 times"):
        hm.capture(model, x, "0.4.0.relu")  # BasicBlock calls its ReLU twice
    assert hook_count(model) == 0


def test_person_caused_errors_are_user_errors_and_bugs_are_not(model):
    """What a person can pick (a layer, a class, a cell, a size) raises a UserError subclass the
    page shows as a sentence; a caller's programming mistake stays a plain ValueError."""
    x = torch.randn(1, 3, 32, 32)
    person = [
        (hm.LayerError, lambda: hm.activations(model, x, "9.9")),
        (hm.LayerError, lambda: hm.capture(model, x, "0.4.0.relu")),
        (hm.LayerError, lambda: hm.receptive_field(model, "1")),
        (hm.ClassIndexError, lambda: hm.capture(model, x, "0", 99)),
        (hm.CellError, lambda: hm.cell_region(model, "0", (32, 32), (1, 1), 1, 0)),
        (hm.SizeError, lambda: hm.prepare(Image.new("RGB", (9, 9)), 4, (0, 0, 0), (1, 1, 1))),
    ]
    for kind, call in person:
        with pytest.raises(kind) as info:
            call()
        assert isinstance(info.value, UserError) and str(info.value).endswith(".")
    bugs = [
        lambda: hm.grad_cam(model, x, "0", None, "fancy"),
        lambda: hm.activations(model, x[0], "0"),
        lambda: hm.rank_channels(torch.zeros(2, 1, 1), None, "weight"),
        lambda: hm.colormap(torch.zeros(1), "rainbow-unicorn"),
        lambda: hm.overlay(Image.new("RGB", (2, 2)), torch.zeros(2, 2), interpolation="cubic"),
        lambda: images.encode(Image.new("RGB", (2, 2)), "TIFF"),
    ]
    for call in bugs:
        with pytest.raises(ValueError) as info:
            call()
        assert not isinstance(info.value, UserError), info.value
    assert hook_count(model) == 0


# ---------------------------------------------------------------------------------------------
# hooks and state are always restored
# ---------------------------------------------------------------------------------------------


class Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


def test_state_restored_after_success_and_after_exceptions():
    model = tiny_resnet(seed=3)
    model.train()
    model[1].eval()  # mixed flags, as after a partial .eval()
    for p in model[0].parameters():  # a frozen body, as in transfer learning
        p.requires_grad_(False)
    before = snapshot(model)
    x = torch.randn(1, 3, 48, 48)

    hm.grad_cam(model, x, "0.5", 1)
    hm.activations(model, x, "0")
    assert_unchanged(model, before)

    # An exception in the forward below the hooked layer (wrong number of channels) ...
    with pytest.raises(RuntimeError):
        with hm.hooked(model, "0.5", grad=True) as hook:
            hook.forward(torch.randn(1, 4, 48, 48))
    assert_unchanged(model, before)

    # ... and above it, after the grad mode was switched on inside the hook.
    model[1].insert(0, Boom())
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        hm.capture(model, x, "0.5")
    assert_unchanged(model, before)
    # activations() stops at the layer: the broken head never runs.
    assert hm.activations(model, x, "0").shape == (512, 2, 2)
    assert_unchanged(model, before)

    # An exception in the caller's own code inside the block.
    with pytest.raises(KeyError):
        with hm.hooked(model, "0", grad=True):
            raise KeyError("mine")
    assert_unchanged(model, before)


def test_two_threads_on_one_model_get_their_own_results():
    model = tiny_resnet(seed=5).eval()
    gen = torch.Generator().manual_seed(7)
    xs = [torch.randn(1, 3, 64, 64, generator=gen) for _ in range(2)]
    expected = [autograd_oracle(model, x, "0.5", None)[2] for x in xs]
    results: dict[int, list[torch.Tensor]] = {0: [], 1: []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                results[i].append(hm.grad_cam(model, xs[i], "0.5"))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not torch.allclose(expected[0], expected[1])
    for i in range(2):
        assert len(results[i]) == 3
        for got in results[i]:
            torch.testing.assert_close(got, expected[i])
    assert hook_count(model) == 0


def test_model_lock_is_per_model():
    a, b = nn.Linear(1, 1), nn.Linear(1, 1)
    assert hm.model_lock(a) is hm.model_lock(a)
    assert hm.model_lock(a) is not hm.model_lock(b)


# ---------------------------------------------------------------------------------------------
# channel rankings and predictions, by hand
# ---------------------------------------------------------------------------------------------


def test_rank_channels_by_hand():
    acts = torch.tensor([1.0, 4.0, 2.0, 3.0])[:, None, None].expand(4, 2, 2)
    weights = torch.tensor([0.5, -1.0, 2.0, 0.1])
    # means 1, 4, 2, 3; contributions 0.5, -4, 4, 0.3
    assert hm.rank_channels(acts).tolist() == [1, 3, 2, 0]
    assert hm.rank_channels(acts, weights, "weight").tolist() == [2, 0, 3, 1]
    assert hm.rank_channels(acts, weights, "contribution", k=2).tolist() == [2, 0]
    with pytest.raises(ValueError, match="needs the channel weights"):
        hm.rank_channels(acts, None, "weight")


def test_top_predictions_match_softmax():
    logits = torch.tensor([0.0, 2.0, 1.0, -1.0])
    top = hm.top_predictions(logits, ["a", "b", "c", "d"], k=3)
    e = torch.exp(logits)
    p = e / e.sum()
    assert [t[:2] for t in top] == [(1, "b"), (2, "c"), (0, "a")]
    assert [t[2] for t in top] == pytest.approx([p[1].item(), p[2].item(), p[0].item()])


# ---------------------------------------------------------------------------------------------
# receptive fields: gradient support as the oracle
# ---------------------------------------------------------------------------------------------


def support_box(model: nn.Module, x: torch.Tensor, row: int, col: int):
    """Bounding box (x0, y0, x1, y1) of the input pixels whose gradient reaches one output cell."""
    x = x.clone().requires_grad_(True)
    model(x)[0, :, row, col].sum().backward()
    nz = x.grad[0].abs().sum(0).nonzero()
    return (
        nz[:, 1].min().item(),
        nz[:, 0].min().item(),
        nz[:, 1].max().item() + 1,
        nz[:, 0].max().item() + 1,
    )


def test_receptive_field_equals_gradient_support():
    # Positive weights and average pooling: every pixel in the field gets a non-zero gradient.
    net = nn.Sequential(
        nn.Sequential(
            nn.Conv2d(3, 2, 5, stride=2, padding=2, bias=False),
            nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True),
            nn.Conv2d(2, 2, 3, stride=1, padding=2, dilation=2, bias=False),
            nn.Conv2d(2, 2, (3, 1), stride=(2, 1), padding=(1, 0), bias=False),
        )
    )
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.1)
    x = torch.rand(1, 3, 40, 40) + 0.1
    with torch.no_grad():
        h, w = net(x).shape[2:]
    for row, col in [(0, 0), (1, 2), (h - 1, w - 1), (h // 2, w // 2)]:
        region = hm.cell_region(net, "0", (40, 40), (h, w), row, col)
        assert region.field_box == pytest.approx(support_box(net, x, row, col))
    assert region.stride == (8, 4)


def test_resnet_fields_and_strides(model):
    # ResNet-18's last stage sees 435 px with a 32 px stride (the published figure).
    assert hm.receptive_field(model, "0") == hm.receptive_field(model, "0.7")
    fy, fx = hm.receptive_field(model, "0")
    assert (fy.size, fy.jump, fx.size, fx.jump) == (435, 32, 435, 32)
    assert [hm.receptive_field(model, f"0.{i}")[0].jump for i in (4, 5, 6)] == [4, 8, 16]
    x = torch.randn(1, 3, 96, 96)
    model.zero_grad(set_to_none=True)
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        box = support_box(model[0][:5], x, 2, 3)  # layer1 output, 24x24 cells
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    region = hm.cell_region(model, "0.4", (96, 96), (24, 24), 2, 3)
    x0, y0, x1, y1 = region.field_box
    assert x0 <= box[0] and y0 <= box[1] and x1 >= box[2] and y1 >= box[3]
    # 352 px into an 11x11 map: each cell is a 32 px square of the picture.
    r = hm.cell_region(model, "0", (352, 352), (11, 11), 5, 10)
    assert r.cell_box == (320.0, 160.0, 352.0, 192.0)
    # the field (435 px) is centred on the cell's centre pixel (320, 160), clipped to the image
    assert r.field_box == (320 - 217, 0.0, 352.0, 352.0)
    with pytest.raises(ValueError, match="outside"):
        hm.cell_region(model, "0", (352, 352), (11, 11), 11, 0)
    with pytest.raises(ValueError, match="no map cells"):
        hm.receptive_field(model, "1")


def test_cell_regions_equal_cell_region_for_every_cell(model):
    for layer, size in [("0", 96), ("0.5", 64), ("0.4.1.conv2", 40)]:
        with torch.no_grad():
            h, w = hm.activations(model, torch.zeros(1, 3, size, size), layer).shape[1:]
        regions = hm.cell_regions(model, layer, (size, size), (h, w))
        assert len(regions) == h * w
        for i, region in enumerate(regions):
            assert region == hm.cell_region(model, layer, (size, size), (h, w), i // w, i % w)
    # a non-square picture and map: cell boxes tile the picture exactly
    regions = hm.cell_regions(model, "0.5", (40, 64), (5, 8))
    assert regions[-1].cell_box == (56.0, 32.0, 64.0, 40.0)
    assert sum((b[2] - b[0]) * (b[3] - b[1]) for b in (r.cell_box for r in regions)) == 40 * 64


# ---------------------------------------------------------------------------------------------
# colormaps and overlays
# ---------------------------------------------------------------------------------------------


def test_channel_sprite_tiles_every_channel_scaled_to_its_own_range():
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(7, 3, 5, generator=gen)
    acts[4] = 2.5  # a flat channel: the colormap's low end, as overlay shows it
    sprite, cols = hm.channel_sprite(acts)
    assert cols == 3 and sprite.mode == "L" and sprite.size == (3 * 5, 3 * 3)
    pixels = torch.from_numpy(np.asarray(sprite).copy())
    for i in range(7):
        r, c = divmod(i, cols)
        tile = pixels[3 * r : 3 * r + 3, 5 * c : 5 * c + 5].float()
        a = acts[i]
        if i == 4:
            expected = torch.zeros(3, 5)
        else:
            expected = ((a - a.min()) / (a.max() - a.min()) * 255).round()
        torch.testing.assert_close(tile, expected, atol=0, rtol=0)
    assert pixels[6:, 5:].sum() == 0  # the two unused tiles are empty


def test_channel_stats_and_confidence_by_hand():
    acts = torch.tensor([[[1.0, 3.0]], [[-2.0, 0.0]]])  # (2, 1, 2)
    grads = torch.tensor([[[0.5, 1.5]], [[-1.0, -3.0]]])
    stats = hm.channel_stats(acts, grads)
    assert stats == {
        "mean": [2.0, -1.0],
        "min": [1.0, -2.0],
        "max": [3.0, 0.0],
        "weight": [1.0, -2.0],
    }
    logits = torch.tensor([0.0, 2.0, -1.0])
    p, lo, hi = hm.confidence(logits)
    assert p == pytest.approx(float(torch.exp(torch.tensor(2.0)) / torch.exp(logits).sum()))
    assert (lo, hi) == (-1.0, 2.0)


def test_lut_and_encoders_round_trip():
    lut = hm.lut_bytes("magma")
    assert len(lut) == 768 and lut[:3] == [0, 0, 4] and lut[-3:] == [252, 253, 191]
    img = Image.new("RGB", (6, 4), (10, 200, 30))
    img.putpixel((5, 3), (255, 0, 128))
    png = images.encode(img, "PNG")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).tobytes() == img.tobytes()  # lossless
    webp = images.encode(img, "WEBP")
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    assert Image.open(io.BytesIO(webp)).size == (6, 4)
    url = images.data_url(img, "PNG")
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png


def test_colormap_hits_its_anchors_and_interpolates():
    assert hm.colormap(torch.tensor([0.0, 1.0]), "magma").mul(255).round().tolist() == [
        [0, 0, 4],
        [252, 253, 191],
    ]
    lo, hi = hm.colormap(torch.tensor([0.0, 1 / 9]), "viridis")
    mid = hm.colormap(torch.tensor(1 / 18), "viridis")
    torch.testing.assert_close(mid, (lo + hi) / 2)
    assert hm.colormap(torch.tensor(0.5), "gray").tolist() == pytest.approx([0.5] * 3)
    assert hm.colormap(torch.tensor([-3.0, 7.0]), "jet").tolist() == [[0, 0, 0.5], [0.5, 0, 0]]
    assert hm.colormap(torch.rand(2, 3), "inferno").shape == (2, 3, 3)
    with pytest.raises(ValueError, match="colormap"):
        hm.colormap(torch.zeros(1), "rainbow-unicorn")


def test_overlay_blends_like_imshow():
    img = Image.new("RGB", (8, 4), (200, 100, 50))
    heat = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    # alpha 0: the picture; alpha 1 nearest: one colour block per cell from the [0, 1] rescale.
    assert hm.overlay(img, heat, alpha=0.0).tobytes() == img.tobytes()
    top = hm.overlay(img, heat, alpha=1.0, cmap="gray", interpolation="nearest")
    assert top.size == img.size
    assert top.getpixel((0, 0)) == (0, 0, 0)
    assert top.getpixel((7, 3)) == (255, 255, 255)
    assert top.getpixel((5, 0)) == (85, 85, 85)  # value 1 of 0..3
    half = hm.overlay(img, heat, alpha=0.5, cmap="gray", interpolation="nearest")
    assert half.getpixel((7, 3)) == (228, 178, 152)  # (200 + 255) / 2 ...
    smooth = hm.overlay(img, heat, alpha=1.0, cmap="gray", interpolation="bilinear")
    # bilinear: the middle column (x = 3.5 → between cells) blends the two cells' values
    assert 0 < smooth.getpixel((3, 0))[0] < 85
    with pytest.raises(ValueError):
        hm.overlay(img, heat, interpolation="cubic")
    # a constant map has no range: it shows the colormap's low end rather than dividing by zero
    flat = hm.overlay(img, torch.ones(2, 2), alpha=1.0, cmap="gray")
    assert flat.getpixel((0, 0)) == (0, 0, 0)


def test_prepare_crops_the_centre_and_normalises():
    img = Image.new("RGB", (30, 10), (0, 0, 0))
    img.paste((255, 255, 255), (10, 0, 20, 10))  # the centre square is white
    mean, std = (0.5, 0.4, 0.3), (0.5, 0.25, 0.1)
    x, shown = hm.prepare(img, 16, mean, std)
    assert x.shape == (1, 3, 16, 16) and shown.size == (16, 16)
    expected = (1 - torch.tensor(mean)) / torch.tensor(std)
    torch.testing.assert_close(x[0, :, 8, 8], expected)


# ---------------------------------------------------------------------------------------------
# pointing game: a CNN trained here looks at the object, an untrained one does not
# ---------------------------------------------------------------------------------------------

POINT_CLASSES = ("circle", "cross")
POINT_SIZE = 32


def shapes_subset(n: int, seed: int):
    """make_shapes images of two classes: (normalised images, labels 0/1, boxes)."""
    from explorer import data

    ds = data.make_shapes(n, size=POINT_SIZE, seed=seed)
    keep = torch.tensor([ds.classes[int(lab)] in POINT_CLASSES for lab in ds.labels])
    labels = torch.tensor([POINT_CLASSES.index(ds.classes[int(lab)]) for lab in ds.labels[keep]])
    x = ds.images[keep].float() / 255
    # Per-image centring removes the random background colour, leaving shape and contrast.
    x = (x - x.mean(dim=(-2, -1), keepdim=True)) / 0.25
    return x, labels, ds.boxes[keep]


def small_cnn() -> nn.Sequential:
    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    body = nn.Sequential(block(3, 16, 1), block(16, 32, 2), block(32, 64, 2), block(64, 64, 1))
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 2))
    return nn.Sequential(body, head)


def pointing_score(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, boxes) -> float:
    """Share of images whose Grad-CAM peak cell (true class) has its centre inside the box."""
    hits = 0
    for i in range(len(labels)):
        m = hm.grad_cam(model, x[i : i + 1], "0", int(labels[i]), "library")
        h, w = m.shape
        r, c = divmod(int(m.argmax()), w)
        x0, y0, x1, y1 = hm.cell_region(model, "0", (POINT_SIZE,) * 2, (h, w), r, c).cell_box
        bx0, by0, bx1, by1 = boxes[i].tolist()
        hits += bx0 <= (x0 + x1) / 2 <= bx1 and by0 <= (y0 + y1) / 2 <= by1
    return hits / len(labels)


def test_pointing_game_trained_cnn_looks_at_the_object():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x_train, y_train, _ = shapes_subset(2000, seed=1)
        x_test, y_test, boxes = shapes_subset(200, seed=2)
        untrained = small_cnn().eval()
        model = small_cnn()
        model.load_state_dict(untrained.state_dict())
        epochs, bs = 6, 32
        opt = torch.optim.Adam(model.parameters(), 3e-3)
        # One-cycle, like the lesson's fit: the decay at the end makes the result stable.
        steps = epochs * -(-len(y_train) // bs)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 5e-3, total_steps=steps)
        gen = torch.Generator().manual_seed(0)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(y_train), generator=gen)
            for b in range(0, len(perm), bs):
                idx = perm[b : b + bs]
                loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        trained_score = pointing_score(model, x_test, y_test, boxes)
        untrained_score = pointing_score(untrained, x_test, y_test, boxes)
    assert len(y_test) >= 60
    assert accuracy >= 0.9
    assert trained_score >= 0.8, (trained_score, untrained_score)
    # Random filters still respond to the high-contrast object, so chance is well above the box's
    # share of the image; what training adds is the margin.
    assert untrained_score < 0.7, (trained_score, untrained_score)
    assert trained_score - untrained_score >= 0.2, (trained_score, untrained_score)


# ---------------------------------------------------------------------------------------------
# the page's figures
# ---------------------------------------------------------------------------------------------


def test_top5_chart_shows_the_softmax_top_five_best_on_top():
    from explorer.plots import heatmap as plots

    logits = torch.tensor([0.0, 3.0, 1.0, 2.0, -1.0, 0.5, -2.0])
    names = list("abcdefg")
    fig = plots.top5_chart(logits, names)
    bar = fig.data[0]
    p = torch.softmax(logits, 0).tolist()
    # logits b 3 > d 2 > c 1 > f 0.5 > a 0; plotly draws the last bar on top
    assert list(bar.y) == ["a", "f", "c", "d", "b"]
    assert list(bar.x) == pytest.approx([p[0], p[5], p[2], p[3], p[1]])
    assert bar.text[-1] == f"{p[1]:.1%}"
    assert "meaningless" in plots.top5_chart(logits, names, untrained=True).layout.title.text


def test_weights_chart_marks_the_chosen_channels():
    from explorer.plots import heatmap as plots

    weights = torch.tensor([0.1, -0.2, 0.3, 0.0])
    fig = plots.weights_chart(weights, [2, 0])
    bar = fig.data[0]
    assert list(bar.x) == [0, 1, 2, 3] and list(bar.y) == pytest.approx([0.1, -0.2, 0.3, 0.0])
    assert [c == plots.PINK for c in bar.marker.color] == [True, False, True, False]
    assert "top 2 contributors" in fig.layout.title.text
