"""Faithfulness of a map (explorer.heatmap.faithful): hand-computed cases on a model whose logit is
the sum of the pixels, torchcam's metrics on a resnet18, and the pointing game on known boxes."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn
from torchcam import methods as tc
from torchcam import metrics as tcm

from explorer import heatmap as hm
from explorer import models
from explorer.heatmap import faithful
from explorer.shapes import make_shapes


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def sum_model() -> nn.Module:
    """logit 0 = the sum of all 12 values of a (1, 3, 2, 2) image, logit 1 = 0."""
    lin = nn.Linear(12, 2)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[0] = 1.0
        lin.bias.zero_()
    return nn.Sequential(nn.Flatten(), lin)


def test_step_counts_and_masks_by_hand():
    assert faithful.step_counts(4, 4) == [0, 1, 2, 3, 4]
    assert faithful.step_counts(10, 4) == [0, 3, 6, 9, 10]  # ceil(10 / 4) = 3, then all
    masks, fractions = faithful.step_masks(torch.tensor([[4.0, 1.0], [3.0, 2.0]]), 4)
    assert fractions == [0, 0.25, 0.5, 0.75, 1.0]
    order = [(0, 0), (1, 0), (1, 1), (0, 1)]  # 4, 3, 2, 1
    for k in range(5):
        expected = torch.zeros(2, 2, dtype=torch.bool)
        for r, c in order[:k]:
            expected[r, c] = True
        assert torch.equal(masks[k], expected)
    ties, _ = faithful.step_masks(torch.ones(2, 2), 4)
    assert ties[1].tolist() == [[True, False], [False, False]]  # row order on ties


def test_area_is_the_trapezoid_rule():
    assert faithful.area([1.0, 0.0]) == 0.5
    assert faithful.area([0.0, 1.0, 0.0]) == 0.5
    assert faithful.area([1.0, 1.0, 0.0], [0.0, 0.9, 1.0]) == pytest.approx(0.95)


def test_curves_drop_and_increase_by_hand():
    model = sum_model()
    x = torch.ones(1, 3, 2, 2)
    cam = torch.tensor([[4.0, 1.0], [3.0, 2.0]])
    f = hm.faithfulness(model, x, cam, 0, steps=4, insertion_base=torch.zeros(1, 3, 2, 2))
    # Each step removes (or reveals) one pixel: 3 values of 1.
    assert f.deletion.probs == pytest.approx([sigmoid(12 - 3 * k) for k in range(5)])
    assert f.insertion.probs == pytest.approx([sigmoid(3 * k) for k in range(5)])
    dele = [sigmoid(12 - 3 * k) for k in range(5)]
    assert f.deletion.auc == pytest.approx(
        sum((a + b) / 8 for a, b in zip(dele[:-1], dele[1:], strict=True))
    )
    assert f.prob == pytest.approx(sigmoid(12))
    # x × map scaled to [0, 1]: (cam - 1) / 3 = [[1, 0], [2/3, 1/3]] sums to 2, times 3 channels.
    assert f.masked_prob == pytest.approx(sigmoid(6), rel=1e-6)
    assert f.drop == pytest.approx((sigmoid(12) - sigmoid(6)) / sigmoid(12), abs=1e-6)
    assert f.increase is False
    # Class 1's logit is 0 whatever is shown; its probability rises as class 0's falls.
    g = hm.faithfulness(model, x, cam, 1, steps=4, insertion_base=torch.zeros(1, 3, 2, 2))
    assert g.increase is True and g.drop == 0.0
    assert g.masked_prob == pytest.approx(1 - sigmoid(6), rel=1e-6)


def test_default_bases_are_zero_and_the_blurred_image():
    model = sum_model()
    x = torch.arange(12, dtype=torch.float32).view(1, 3, 2, 2)
    f = hm.faithfulness(model, x, torch.rand(2, 2), 0, steps=2)
    assert f.deletion.probs[-1] == pytest.approx(0.5)  # every pixel 0: logit 0
    with torch.no_grad():
        start = model(faithful.blurred(x)).softmax(-1)[0, 0]
    assert f.insertion.probs[0] == pytest.approx(float(start))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)  # the head's dropout runs during the statistics passes
    model = models.create_cnn("resnet18", 5, seed=0)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
    return model.eval()


def test_against_torchcams_metrics(net):
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    k = 2
    softmax = partial(torch.softmax, dim=-1)
    # torchcam's metrics explain the score after `logits_fn` (the probability here): the same
    # map goes into ours, so what is compared is the metric itself.
    with tc.GradCAM(net, "0.6") as extractor:
        cam = extractor(k, softmax(net(x)))[0][0].detach()
        metric = tcm.ClassificationMetric(extractor, softmax)
        metric.update(x, class_idx=k)
        drop = metric.summary()
        metric = tcm.DeletionInsertionMetric(extractor, softmax, steps=10)
        metric.update(x, class_idx=k)
        curves = metric.summary()
    ours = hm.faithfulness(net, x, cam, k, steps=10, insertion_base=torch.zeros_like(x))
    assert ours.drop == pytest.approx(drop["avg_drop"], rel=1e-4, abs=1e-6)
    assert float(ours.increase) == drop["conf_increase"]
    assert ours.deletion.auc == pytest.approx(curves["deletion_auc"], rel=1e-4, abs=1e-6)
    assert ours.insertion.auc == pytest.approx(curves["insertion_auc"], rel=1e-4, abs=1e-6)
    assert ours.drop > 0 and ours.deletion.auc != ours.insertion.auc  # not a degenerate case


def test_pointing_hit_by_hand():
    cam = torch.zeros(4, 4)
    cam[1, 2] = 1.0
    # Upsampled x2, the peak covers pixels rows 2-3, cols 4-5; the first in row order is (2, 4),
    # whose centre is (4.5, 2.5).
    assert hm.pointing_hit(cam, (4, 2, 6, 4), (8, 8))
    assert not hm.pointing_hit(cam, (5, 2, 8, 4), (8, 8))
    assert hm.pointing_hit(cam, (5, 2, 8, 4), (8, 8), tol=1)
    assert not hm.pointing_hit(cam, (0, 0, 4, 8), (8, 8))


def test_compare_methods_on_shapes_counts_every_class(net):
    shapes = make_shapes(5, size=64, seed=3)  # one of each of the five classes
    x = (shapes.images.float() / 255 - 0.5) / 0.25
    methods = ("lesson", "gradcam", "hirescam", "eigencam")
    rows = hm.compare_methods(
        net, x, shapes.labels.tolist(), "0.6", shapes.classes, shapes.boxes, methods, steps=4
    )
    assert [r.method for r in rows] == list(methods)
    for r in rows:
        assert r.n == 5 and sum(n for _, n in r.per_class.values()) == 5
        assert set(r.per_class) == set(shapes.classes)
        # The oracle: the same hits from cam_map and pointing_hit one image at a time.
        hits = 0
        for i in range(5):
            k = int(shapes.labels[i])
            if r.method == "lesson":
                m = hm.grad_cam(net, x[i : i + 1], "0.6", k, "lesson")
            else:
                m = hm.cam_map(net, x[i : i + 1], "0.6", k, r.method)
            hits += hm.pointing_hit(m, shapes.boxes[i].tolist(), (64, 64))
        assert r.hits == hits
        assert 0 <= r.deletion <= 1 and 0 <= r.insertion <= 1 and 0 <= r.increase <= 100
    # The means are those of faithfulness() image by image (here: the first method's).
    aucs = []
    for i in range(5):
        k = int(shapes.labels[i])
        m = hm.grad_cam(net, x[i : i + 1], "0.6", k, "lesson")
        aucs.append(hm.faithfulness(net, x[i : i + 1], m, k, steps=4).deletion.auc)
    assert rows[0].deletion == pytest.approx(sum(aucs) / 5, rel=1e-5)


def test_most_faithful_rule():
    a = hm.MethodScore("a", hits=3, n=5, deletion=0.1, insertion=0.5)
    b = hm.MethodScore("b", hits=4, n=5, deletion=0.5, insertion=0.1)
    c = hm.MethodScore("c", hits=4, n=5, deletion=0.2, insertion=0.3)
    assert hm.most_faithful([a, b, c], pointing=True) == "c"  # best pointing, then ins - del
    assert hm.most_faithful([a, b, c], pointing=False) == "a"  # 0.4 beats 0.1 and -0.4
