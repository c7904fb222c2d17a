"""What makes Score-CAM fast at full precision (explorer.heatmap.methods): one pass per distinct
mask, and the masked passes through a copy with BatchNorm folded into the convolutions. Each is
checked against the plain model and hand-made masks, on a seeded resnet18 with weights=None."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer import heatmap as hm
from explorer import models
from explorer.heatmap import methods

SMALL = "0.5"  # layer2: 128 channels of 8x8 at 64 px


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)  # the head's dropout runs during the statistics passes
    model = models.create_cnn("resnet18", 5, seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # real BatchNorm statistics, so folding them changes the weights
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def x():
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def hand_mask(a: torch.Tensor) -> torch.Tensor:
    m = a - a.min()
    return m / (m.max() + 1e-8)


def duplicated_acts(net, x) -> torch.Tensor:
    """The layer's activations with known repeats: 0, 7 and 9 constant (the all-zero mask);
    5 a copy of 4; 11 and 12 each one non-zero cell at the same place (the same one-hot mask)."""
    acts = hm.activations(net, x, SMALL).clone()
    acts[0], acts[7], acts[9] = 0.0, 3.0, -1.0
    acts[5] = acts[4]
    acts[11], acts[12] = 0.0, 0.0
    acts[11, 2, 3], acts[12, 2, 3] = 2.0, 5.0
    return acts


def test_unique_masks_are_the_distinct_normalised_channels(net, x):
    acts = duplicated_acts(net, x)
    masks, inverse = methods.unique_masks(acts)
    hand = torch.stack([hand_mask(a) for a in acts])
    torch.testing.assert_close(masks[inverse], hand, rtol=0, atol=1e-6)
    assert masks.shape[0] == acts.shape[0] - 2 - 1 - 1  # 3 constants share, 5 = 4, 12 = 11
    assert len({tuple(m.flatten().tolist()) for m in masks}) == masks.shape[0]  # all distinct
    assert inverse[0] == inverse[7] == inverse[9] and inverse[4] == inverse[5]
    assert inverse[11] == inverse[12] and inverse[1] != inverse[2]


def test_score_weights_one_pass_per_distinct_mask(net, x, monkeypatch):
    acts = duplicated_acts(net, x)
    rows = []
    real = methods.inference_copy

    def counting(model):
        copy = real(model)
        return lambda xb: (rows.append(xb.shape[0]), copy(xb))[1]

    monkeypatch.setattr(methods, "inference_copy", counting)
    w = hm.score_weights(net, x, acts, 3, batch_size=24)
    assert sum(rows) == methods.unique_masks(acts)[0].shape[0] == acts.shape[0] - 4
    assert max(rows) <= 24
    # Oracle: every channel its own masked image through the plain model, no sharing.
    masks = torch.stack([hand_mask(a) for a in acts])[:, None]
    up = F.interpolate(masks, size=(64, 64), mode="bilinear", align_corners=False)
    with torch.no_grad():
        scores = net(x * up)[:, 3]
    torch.testing.assert_close(w, scores.softmax(0), rtol=1e-4, atol=1e-7)
    assert w[0] == w[7] == w[9] and w[4] == w[5] and w[11] == w[12]


def test_inference_copy_folds_batchnorm_and_is_the_same_function(net):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    copy = methods.inference_copy(net)
    bn2d = [m for m in copy.modules() if isinstance(m, nn.BatchNorm2d)]
    assert not bn2d and any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert not copy.training and all(not p.requires_grad for p in copy.parameters())
    convs = [m for m in copy.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    xb = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = net(xb)
        torch.testing.assert_close(copy(xb), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert methods.inference_copy(net) is copy  # kept while the weights stay


def test_inference_copy_follows_a_weight_change():
    model = models.create_cnn("resnet18", 5, seed=4).eval()
    first = methods.inference_copy(model)
    with torch.no_grad():
        model[0][0].weight.mul_(2.0)  # in place, as an optimizer step or load_state_dict
    second = methods.inference_copy(model)
    assert second is not first
    xb = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ref = model(xb)
        torch.testing.assert_close(second(xb), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
        assert float((first(xb) - ref).abs().max()) > 1e-2 * float(ref.abs().max())


def test_inference_copy_has_no_hooks_even_when_one_holds_a_lock():
    model = models.create_cnn("resnet18", 5, seed=1).eval()
    lock, calls = threading.RLock(), []
    handle = model[0][5].register_forward_hook(lambda m, i, o: calls.append(lock) and None)
    try:
        copy = methods.inference_copy(model)
        assert all(not m._forward_hooks for m in copy.modules())
        with torch.no_grad():
            copy(torch.randn(1, 3, 32, 32))
        assert calls == [] and model[0][5]._forward_hooks  # the model keeps its hook
    finally:
        handle.remove()


class Branchy(nn.Module):
    """Control flow on a tensor's value: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
        self.bn.running_mean.fill_(0.3)
        self.bn.running_var.fill_(2.0)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return y.relu() if float(y.mean()) > 0 else -y


def test_inference_copy_of_an_untraceable_model_is_a_plain_copy():
    model = Branchy().eval()
    copy = methods.inference_copy(model)
    assert copy is not model and any(isinstance(m, nn.BatchNorm2d) for m in copy.modules())
    xb = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(copy(xb), model(xb))


def test_inference_copy_of_a_training_model_is_the_eval_function():
    model = models.create_cnn("resnet18", 5, seed=2)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # training-mode passes: running statistics that differ from batches'
        model(torch.randn(6, 3, 32, 32, generator=g))
    model.train()
    copy = methods.inference_copy(model)
    assert model.training and all(m.training for m in model.modules())
    assert not any(m.training for m in copy.modules())
    xb = torch.randn(2, 3, 32, 32, generator=g)
    model.eval()
    with torch.no_grad():
        ref = model(xb)
        torch.testing.assert_close(copy(xb), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
