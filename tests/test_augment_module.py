"""Augment, the nn.Module for one's own training loop: draw + apply, one draw per image."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explorer import augment as A

TOL = dict(atol=2e-5, rtol=0)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(b: int = 6, h: int = 30, w: int = 40, seed: int = 0) -> torch.Tensor:
    return (torch.rand(b, 3, h, w, generator=_gen(seed)) * 255).to(torch.uint8)


SETTINGS = {
    "lesson": A.AugSettings.lesson(size=24),
    "everything": A.AugSettings.lesson(
        size=20,
        padding_mode="border",
        flip_vert=True,
        max_squish=1.4,
        max_perspective=0.2,
        max_jitter=0.01,
        max_resize_crop=2.0,
        pad=3,
        cutout_holes=2,
        max_rgb=0.4,
    ),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_forward_equals_apply_of_draw_for_the_same_generator_state(name):
    s = SETTINGS[name]
    batch = _batch()
    out = A.Augment(s)(batch, _gen(3))
    expected = A.apply(batch, A.draw(s, batch.shape[0], _gen(3)), s.size, s.padding_mode)
    assert out.shape == (6, 3, s.size, s.size) and out.dtype == torch.float32
    assert torch.equal(out, expected)


def test_without_a_generator_it_uses_torchs_global_one():
    s = SETTINGS["lesson"]
    batch = _batch()
    torch.manual_seed(11)
    out = A.Augment(s)(batch)
    torch.manual_seed(11)
    assert torch.equal(out, A.apply(batch, A.draw(s, 6), s.size, s.padding_mode))


def test_each_image_gets_its_own_draw_and_each_batch_a_new_one():
    one = _batch(b=1)
    batch = one.expand(8, -1, -1, -1)  # the same picture eight times
    aug = A.Augment(SETTINGS["lesson"])
    gen = _gen(5)
    first = aug(batch, gen).flatten(1)
    dist = torch.cdist(first, first)
    assert (dist + torch.eye(8) * 1e3 > 1e-2).all()  # every pair of tiles differs
    second = aug(batch, gen).flatten(1)  # the generator moved on: a new draw
    assert (torch.cdist(first, second) > 1e-2).all()
    # control: with every transform off the eight tiles are the same picture
    off = A.Augment(A.AugSettings.off(size=24))(batch, _gen(5)).flatten(1)
    assert torch.cdist(off, off).max() < 1e-6


def test_uint8_and_float_input_give_the_same_result():
    s = SETTINGS["everything"]
    u8 = _batch()
    a = A.Augment(s)(u8, _gen(7))
    b = A.Augment(s)(u8.float() / 255, _gen(7))
    assert a.dtype == b.dtype == torch.float32
    torch.testing.assert_close(a, b, **TOL)
    c = A.Augment(s)(u8.double() / 255, _gen(7))  # float64 stays float64
    assert c.dtype == torch.float64
    torch.testing.assert_close(c.float(), a, **TOL)


def test_eval_mode_is_the_validation_path_and_train_mode_comes_back():
    s = SETTINGS["lesson"]
    aug = A.Augment(s)
    batch = _batch()
    aug.eval()
    torch.testing.assert_close(aug(batch, _gen(1)), A.center_crop_resize(batch, s.size), **TOL)
    aug.train()
    expected = A.apply(batch, A.draw(s, 6, _gen(1)), s.size, s.padding_mode)
    assert torch.equal(aug(batch, _gen(1)), expected)


def test_it_is_a_plain_module_without_parameters():
    s = SETTINGS["lesson"]
    aug = A.Augment(s)
    model = nn.Sequential(aug, nn.Flatten(), nn.LazyLinear(2))
    assert model(_batch().float() / 255).shape == (6, 2)
    assert list(aug.parameters()) == [] and aug.state_dict() == {}
    assert "max_rotate=20.0" in repr(aug) and "size=24" in repr(aug)
    assert "p_flip" not in repr(aug)  # only what differs from the defaults


def test_refuses_what_is_not_a_batch():
    aug = A.Augment(SETTINGS["lesson"])
    with pytest.raises(ValueError, match="batch"):
        aug(_batch()[0])
    with pytest.raises(ValueError, match="RGB"):
        aug(torch.rand(2, 1, 8, 8))
    with pytest.raises(TypeError, match="AugSettings"):
        A.Augment({"max_rotate": 10.0})  # type: ignore[arg-type]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batch_matches_cpu_and_stays_on_the_gpu():
    s = SETTINGS["everything"]
    batch = _batch(b=16)
    gpu = A.Augment(s)(batch.cuda(), _gen(9))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), A.Augment(s)(batch, _gen(9)), atol=1e-4, rtol=0)
