"""explorer.augment.sources: uploads decoded safely with bad files named, samples, shapes, and a
shapes checkpoint's validation images (the run's own split, regenerated offline)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import data
from explorer.augment import sources
from explorer.shapes import make_shapes


def _png(w: int, h: int, colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_keep_good_files_and_name_the_bad_one():
    pics = sources.from_files(
        [("a.png", _png(20, 10)), ("b.txt", b"not an image"), ("c.png", _png(8, 8))]
    )
    assert pics.names == ["a.png", "c.png"]
    assert [im.size for im in pics.images] == [(20, 10), (8, 8)]
    assert pics.images[0].getpixel((3, 3)) == (200, 30, 30)
    assert len(pics.problems) == 1 and pics.problems[0].startswith("b.txt was left out: ")
    assert pics.labels == [None, None]


def test_uploads_with_nothing_usable_are_one_user_error_naming_the_file():
    with pytest.raises(sources.NoPictures, match="bad.jpg was left out"):
        sources.from_files([("bad.jpg", b"\xff\xd8garbage")])
    with pytest.raises(sources.NoPictures):
        sources.from_files([])


def test_samples_put_the_sidebar_image_first_without_a_duplicate():
    own = Image.new("RGB", (5, 7))
    pics = sources.from_samples(("mine", own))
    assert pics.names[0] == "mine" and pics.images[0] is own
    assert len(pics.names) == len(set(pics.names)) >= 2


def test_shapes_are_labelled_by_their_class():
    pics = sources.from_shapes(6, size=32, seed=3)
    sd = make_shapes(6, size=32, seed=3)
    assert pics.labels == [sd.classes[int(i)] for i in sd.labels]
    assert torch.equal(torch.tensor(np.array(pics.images[2])).permute(2, 0, 1), sd.images[2])


def test_validation_set_of_a_shapes_checkpoint_is_the_runs_own_split():
    meta = {"config": {"data": "shapes", "n_shapes": 50, "seed": 5, "valid_pct": 0.2}}
    x, y = sources.validation_set(meta, 7, 32)
    sd = make_shapes(50, size=32, seed=5)
    train, valid = data.split_indices(50, 0.2, 5)
    assert x.shape == (7, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x, sd.images[valid[:7]]) and torch.equal(y, sd.labels[valid[:7]])
    assert not set(valid[:7]) & set(train)


def test_validation_set_needs_the_checkpoints_training_data():
    with pytest.raises(sources.NoPictures, match="does not record its training data"):
        sources.validation_set({"name": "x"}, 4, 32)


def test_centre_square_is_the_middle_of_the_resized_picture():
    img = Image.new("RGB", (30, 10), (0, 0, 0))
    img.paste((255, 255, 255), (10, 0, 20, 10))  # a white middle third
    sq = sources.centre_square(img, 10)
    assert sq.shape == (3, 10, 10)
    torch.testing.assert_close(sq, torch.ones(3, 10, 10))


def test_settings_differences_list_the_changed_fields_in_order():
    from explorer.augment import AugSettings

    a, b = AugSettings.lesson(), AugSettings.lesson(max_rotate=5, size=128)
    assert a.differences(b) == [("max_rotate", 20.0, 5.0), ("size", 224, 128)]
    assert a.differences(a) == []


def test_uploads_beyond_the_limit_are_not_decoded_and_say_so():
    files = [(f"p{i}.png", _png(4, 4)) for i in range(5)]
    pics = sources.from_files(files, limit=3)
    assert pics.names == ["p0.png", "p1.png", "p2.png"]
    assert pics.problems == ["Only the first 3 of 5 files are used."]


def test_pets_are_drawn_by_seed_labelled_by_breed_and_a_bad_file_is_named(tmp_path, monkeypatch):
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        p = tmp_path / f"Bengal_{i + 1}.jpg"
        p.write_bytes(_png(12, 9, colour))  # the decoder reads the content, not the suffix
        paths.append(p)
    (tmp_path / "pug_1.jpg").write_bytes(b"broken")
    paths.append(tmp_path / "pug_1.jpg")
    items = data.Items(paths=paths, labels=[0, 0, 0, 1], classes=["Bengal", "pug"])
    monkeypatch.setattr(data, "pets_items", lambda root=None: items)
    pics = sources.from_pets(4, seed=1)
    order = torch.randperm(4, generator=torch.Generator().manual_seed(1)).tolist()
    kept = [i for i in order if i != 3]
    assert pics.names == [paths[i].name for i in kept]
    assert pics.labels == ["Bengal"] * 3
    assert pics.problems and pics.problems[0].startswith("pug_1.jpg was left out: ")
    assert pics.images[0].getpixel((0, 0)) == Image.open(paths[kept[0]]).getpixel((0, 0))
