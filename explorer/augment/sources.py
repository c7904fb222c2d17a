"""Where a batch of pictures comes from: a person's uploads, the embedded samples, Oxford-IIIT Pet
once on disk, synthetic shapes (offline), or a checkpoint's own validation images.

Every file goes through `explorer.images.open_image` (untrusted input); a file that cannot be used
is left out with one sentence naming it, and the others are used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from explorer import images
from explorer.errors import UserError


class NoPictures(UserError):
    """A batch source that yields no usable picture."""


@dataclass
class Pictures:
    """A batch of named pictures, with their true labels where known."""

    names: list[str]
    images: list[Image.Image]  # RGB, any sizes
    labels: list[str | None] = field(default_factory=list)  # one per picture (None: unknown)
    problems: list[str] = field(default_factory=list)  # one sentence per file left out

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = [None] * len(self.images)
        if not len(self.names) == len(self.images) == len(self.labels):
            raise ValueError("Give one name and one label per picture.")


def from_files(files: Sequence[tuple[str, bytes]], limit: int = 64) -> Pictures:
    """Uploaded files (name, bytes), each decoded safely; unusable ones are named in `problems`.

    Raises:
        NoPictures: when no file could be used.
    """
    names, imgs, problems = [], [], []
    for name, data in list(files)[:limit]:
        try:
            imgs.append(images.open_image(data))
            names.append(name)
        except images.ImageError as exc:
            problems.append(f"{name} was left out: {exc}")
    if len(files) > limit:
        problems.append(f"Only the first {limit} of {len(files)} files are used.")
    if not imgs:
        raise NoPictures(" ".join(problems) or "No pictures were given: upload some images first.")
    return Pictures(names, imgs, problems=problems)


def from_samples(first: tuple[str, Image.Image] | None = None) -> Pictures:
    """The embedded sample photos, `first` (e.g. the sidebar image) at the front."""
    named = dict([first]) if first else {}
    for name, img in images.sample_images().items():
        named.setdefault(name, img)
    return Pictures(list(named), list(named.values()))


def from_shapes(n: int, size: int = 128, seed: int = 0) -> Pictures:
    """`n` synthetic shapes (offline), labelled by their class."""
    from explorer.shapes import make_shapes

    sd = make_shapes(n, size=size, seed=seed)
    labels: list[str | None] = [sd.classes[int(i)] for i in sd.labels]
    imgs = [images.to_image(x.float() / 255) for x in sd.images]
    return Pictures([f"shape {i}" for i in range(n)], imgs, labels)


def from_pets(n: int, seed: int = 0, root: Any = None) -> Pictures:
    """`n` Oxford-IIIT Pet images drawn with `seed`, labelled by breed.

    Raises:
        explorer.data.DatasetUnavailable: the dataset is not on disk yet.
    """
    from explorer import data

    items = data.pets_items(root)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(items.paths), generator=g)[:n].tolist()
    names, imgs, labels, problems = [], [], [], []
    for i in pick:
        path = items.paths[i]
        try:
            imgs.append(images.open_image(path))
        except images.ImageError as exc:
            problems.append(f"{path.name} was left out: {exc}")
            continue
        names.append(path.name)
        labels.append(items.classes[items.labels[i]])
    return Pictures(names, imgs, labels, problems)


# The un-augmented (validation) view of a picture: one crop for the whole project.
centre_square = images.centre_square


def validation_set(meta: Mapping[str, Any], n: int, size: int) -> tuple[Tensor, Tensor]:
    """The first `n` validation images of the data a checkpoint was trained on, and their labels.

    The split is the training run's own (`split_indices` with its valid_pct and seed); shapes are
    generated again from the run's seed, so this works offline.

    Args:
        meta: a checkpoint's meta (its "config" names the data: "shapes", "pets" or a folder).
        n: how many images at most.
        size: their side (centre-cropped squares).

    Returns:
        (images uint8 (m, 3, size, size), labels (m,)), m ≤ n.

    Raises:
        explorer.data.DatasetUnavailable / FolderError: the dataset is not readable here.
        NoPictures: the checkpoint does not say what it was trained on.
    """
    from explorer import data

    config = meta.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("data"), str):
        raise NoPictures(
            f"Checkpoint {meta.get('name', '')!r} does not record its training data, so it has "
            "no validation images here; pick another checkpoint."
        )
    spec, seed = config["data"], int(config.get("seed", 2))
    valid_pct = float(config.get("valid_pct", 0.2))
    if spec == "shapes":
        from explorer.shapes import make_shapes

        total = int(config.get("n_shapes", 2000))
        _, valid = data.split_indices(total, valid_pct, seed)
        sd = make_shapes(total, size=size, seed=seed, only=valid[:n])  # only the n it shows
        return sd.images, sd.labels
    if spec == "pets":
        items = data.pets_items()
    else:
        items = data.folder_items(spec.removeprefix("folder:"), regex=config.get("label_regex"))
    _, valid = data.split_indices(len(items.paths), valid_pct, seed)
    x, ok = data.presize([items.paths[i] for i in valid[:n]], size)
    y = torch.as_tensor([items.labels[i] for i in valid[:n]], dtype=torch.int64)
    return x[ok], y[ok]
