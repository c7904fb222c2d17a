"""render_export: the exported pipelines run on a picture for the page's "with library X" view."""

from __future__ import annotations

import sys

import pytest
import torch

from explorer import augment as A
from explorer.errors import UserError

pytest.importorskip("albumentations")
pytest.importorskip("kornia")


def _picture() -> torch.Tensor:
    return torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05


@pytest.mark.parametrize("target", A.RUNNABLE_TARGETS)
def test_tiles_are_seeded_size_square_and_leave_torchs_rng_alone(target):
    s = A.AugSettings.lesson(size=24)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    tiles = A.render_export(s, target, _picture(), n=4, seed=5)
    assert torch.equal(torch.get_rng_state(), before)  # the process's RNG is untouched
    assert tiles.shape == (4, 3, 24, 24) and tiles.dtype == torch.float32
    assert tiles.min() >= 0 and tiles.max() <= 1
    again = A.render_export(s, target, _picture(), n=4, seed=5)
    assert torch.equal(tiles, again)  # the same seed, the same tiles
    other = A.render_export(s, target, _picture(), n=4, seed=6)
    assert not torch.equal(tiles, other)
    flat = tiles.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(4) * 1e3 > 1e-3).all()  # each tile its own draw


@pytest.mark.parametrize("target", A.RUNNABLE_TARGETS)
def test_with_everything_off_every_library_shows_our_centre_crop(target):
    pic = _picture()[:, :32, :46]  # short side = size, even margins: an exact crop
    tiles = A.render_export(A.AugSettings.off(size=32), target, pic, n=2)
    ours = A.center_crop_resize(pic, 32)[0]
    # (torchvision and albumentations work in uint8: within half a grey level)
    torch.testing.assert_close(tiles, ours.expand(2, -1, -1, -1), atol=0.5 / 255 + 1e-6, rtol=0)


def test_uint8_pictures_and_refusals():
    pic = (_picture() * 255).round().to(torch.uint8)
    tiles = A.render_export(A.AugSettings.off(size=16), "kornia", pic, n=1)
    assert tiles.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="fastai_v1"):
        A.render_export(A.AugSettings(), "fastai_v1", _picture())
    with pytest.raises(ValueError, match="RGB"):
        A.render_export(A.AugSettings(), "kornia", _picture()[None])


def test_a_missing_library_is_one_sentence_for_the_page(monkeypatch):
    monkeypatch.setitem(sys.modules, "kornia", None)  # import kornia... now fails
    monkeypatch.setitem(sys.modules, "kornia.augmentation", None)
    with pytest.raises(A.LibraryUnavailable, match="kornia is not installed") as info:
        A.render_export(A.AugSettings(), "kornia", _picture())
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize("target", A.RUNNABLE_TARGETS)
def test_a_resize_crop_that_sometimes_runs_still_gives_size_square_tiles(target):
    # a skipped RandomResizedCrop would leave the picture at its own size (and the tiles would not
    # stack): the exports always run it and say so
    s = A.AugSettings.off(size=16, max_resize_crop=2.0, p_resize_crop=0.5)
    assert A.render_export(s, target, _picture(), n=12, seed=1).shape == (12, 3, 16, 16)
    _, notes = A.export(s, target)
    assert any("p_resize_crop" in n for n in notes)


@pytest.mark.parametrize("seed", range(8))
def test_every_library_runs_random_settings(seed):
    """Whatever the settings (drawn across every field's range), each export runs and gives
    size-square tiles: no combination of values makes a library refuse its arguments."""
    from tests.test_augment_settings import _random_settings

    s = _random_settings(seed)
    s = A.AugSettings.from_dict({**s.to_dict(), "size": 16 + 4 * seed})
    for target in A.RUNNABLE_TARGETS:
        tiles = A.render_export(s, target, _picture(), n=3, seed=seed)
        assert tiles.shape == (3, 3, s.size, s.size), target
        assert torch.isfinite(tiles).all()
