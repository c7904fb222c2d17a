"""explorer.augment.batch and robustness: a batch of different pictures against Augment and
per-picture apply, and predictions / robustness sweeps against hand-computed softmaxes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from explorer import augment as A
from explorer.augment.batch import augment_batch
from explorer.augment.robustness import (
    Prediction,
    label_flips,
    predict,
    robustness,
    sweep_magnitudes,
)

LESSON = A.AugSettings.lesson(size=32)


def _pics(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, h, w, generator=g) for h, w in shapes]


def test_one_shape_batch_equals_augment_with_the_same_generator():
    pics = _pics([(40, 50)] * 5)
    tiles, params = augment_batch(pics, LESSON, torch.Generator().manual_seed(3))
    ref = A.Augment(LESSON)(torch.stack(pics), torch.Generator().manual_seed(3))
    torch.testing.assert_close(tiles, ref)
    assert params.n == 5
    assert len({round(a, 6) for a in params.angle.tolist()}) == 5  # one draw per picture


def test_mixed_sizes_each_get_their_own_draw_in_one_resample():
    pics = _pics([(40, 50), (33, 33), (40, 50), (60, 20)], seed=1)
    tiles, params = augment_batch(pics, LESSON, torch.Generator().manual_seed(4))
    assert tiles.shape == (4, 3, 32, 32)
    for i, p in enumerate(pics):  # tile i is picture i under draw i alone
        torch.testing.assert_close(tiles[i : i + 1], A.apply(p, params[i], 32, "reflection"))
    # the same draw as for a batch of one shape: grouping does not change the draw
    same = A.draw(LESSON, 4, torch.Generator().manual_seed(4))
    torch.testing.assert_close(params.angle, same.angle)


def test_batch_refuses_nothing_or_a_non_picture():
    with pytest.raises(ValueError):
        augment_batch([], LESSON)
    with pytest.raises(ValueError):
        augment_batch([torch.rand(1, 8, 8)], LESSON)


def _mean_model() -> nn.Module:
    """logit 0 for class 0 and 10·(mean grey − 0.6) for class 1: class 1 when brighter than 0.6."""
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [10 / 3, 10 / 3, 10 / 3]]))
        lin.bias.copy_(torch.tensor([0.0, -6.0]))
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), lin).train()


def _softmax1(z: float) -> float:  # probability of class 1 for logits (0, z)
    return 1 / (1 + math.exp(-z))


def test_predict_is_the_hand_computed_softmax_and_restores_the_model():
    model = _mean_model()
    greys = [0.2, 0.5, 0.7, 0.9]
    tiles = torch.stack([torch.full((3, 8, 8), g) for g in greys])
    pred = predict(model, tiles, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), batch_size=3)
    for g, label, conf in zip(greys, pred.label.tolist(), pred.confidence.tolist(), strict=True):
        p1 = _softmax1(10 * (g - 0.6))
        assert label == int(p1 > 0.5)
        assert conf == pytest.approx(max(p1, 1 - p1), abs=1e-6)
    assert model.training and all(p.requires_grad for p in model.parameters())
    # normalisation: mean 0.5, std 0.5 maps grey g to 2g - 1
    pred = predict(model, tiles[:1], (0.5,) * 3, (0.5,) * 3)
    assert pred.confidence.item() == pytest.approx(1 - _softmax1(10 * (2 * 0.2 - 1 - 0.6)))


def test_label_flips_against_one_or_per_tile_originals():
    aug = Prediction(torch.tensor([1, 0, 2, 1]), torch.rand(4))
    assert label_flips(aug, Prediction(torch.tensor([1]), torch.rand(1))).tolist() == [
        False,
        True,
        True,
        False,
    ]
    per = Prediction(torch.tensor([1, 1, 2, 0]), torch.rand(4))
    assert label_flips(aug, per).tolist() == [False, True, False, True]


def test_sweep_magnitudes_start_at_the_identity():
    assert sweep_magnitudes("brightness", 0.9, 5) == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert sweep_magnitudes("rotate", 40, 3) == [0.0, 20.0, 40.0]
    with pytest.raises(ValueError):
        sweep_magnitudes("nope", 1.0)


def test_robustness_brightness_sweep_matches_the_logit_space_formula():
    """Uniform greys under brightness b become sigmoid(logit(g) + logit(b)) (fastai's lighting);
    the mean-grey model's accuracy and confidence follow by hand."""
    greys, labels = [0.3, 0.45, 0.55, 0.7], [0, 0, 0, 1]
    pics = torch.stack([torch.full((3, 20, 24), g) for g in greys])
    mags = sweep_magnitudes("brightness", 0.9, 5)
    sweep = robustness(
        _mean_model(), pics, torch.tensor(labels), "brightness", mags, (0.0,) * 3, (1.0,) * 3, 16
    )

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    acc, conf = [], []
    for b in mags:
        lit = [1 / (1 + math.exp(-(logit(g) + logit(b)))) for g in greys]
        p1 = [_softmax1(10 * (v - 0.6)) for v in lit]
        right = [int(p > 0.5) == y for p, y in zip(p1, labels, strict=True)]
        acc.append(100 * sum(right) / 4)
        conf.append(sum(max(p, 1 - p) for p in p1) / 4)
    assert sweep.accuracy == pytest.approx(acc)
    assert sweep.confidence == pytest.approx(conf, abs=1e-5)
    assert acc[:2] == [100.0, 75.0]  # at b = 0.6 the 0.55 grey turns "bright"
    assert sweep.drop_at == pytest.approx(0.5 + 0.1 * (100 - 95) / (100 - 75))  # 0.52
    assert sweep.n == 4 and sweep.magnitudes == pytest.approx(mags)


def test_sweep_default_goes_to_the_strongest_series_magnitude():
    assert sweep_magnitudes("rotate", steps=3) == [0.0, 20.0, 40.0]
    assert sweep_magnitudes("contrast", steps=2) == [1.0, 4.0]
    assert sweep_magnitudes("brightness", steps=2) == pytest.approx([0.5, 0.9])


def test_tile_marks_say_label_confidence_flip_and_truth():
    from explorer.augment.robustness import tile_marks

    classes = ["cat", "dog", "fox"]
    aug = Prediction(torch.tensor([0, 1, 0]), torch.tensor([0.915, 0.5, 0.3]))
    orig = Prediction(torch.tensor([0]), torch.tensor([0.97]))
    marks = tile_marks(aug, orig, classes, ["cat", "cat", None])
    assert [m.text for m in marks] == ["cat 92%", "dog 50%", "cat 30%"]
    assert [m.flipped for m in marks] == [False, True, False]
    assert [m.wrong for m in marks] == [False, True, None]
    assert marks[1].detail == "dog 50% · un-augmented: cat 97% · true: cat"
    assert marks[2].detail == "cat 30% · un-augmented: cat 97%"


def test_predict_resizes_tiles_to_the_models_size_first():
    class Side(nn.Module):  # logits (0, side of the input): reveals the size it was given
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.stack([torch.zeros(len(x)), torch.full((len(x),), float(x.shape[-1]))], 1)

    tiles = torch.rand(2, 3, 40, 40)
    conf = predict(Side(), tiles, (0.0,) * 3, (1.0,) * 3, size=2).confidence
    assert conf.tolist() == pytest.approx([_softmax1(2.0)] * 2)
    conf = predict(Side(), tiles, (0.0,) * 3, (1.0,) * 3).confidence
    assert conf.tolist() == pytest.approx([_softmax1(40.0)] * 2)
