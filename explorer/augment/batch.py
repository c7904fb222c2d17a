"""A batch of *different* pictures, each with its own draw, like fastai's `show_batch`.

Pictures of one shape are augmented together (one `apply`, one resample for the group); pictures
of other shapes get their own group, so a practitioner's uploads of mixed sizes need no resizing
first. The draw is made once for the whole batch, so the result does not depend on the grouping:
for a batch of one shape it equals `Augment(settings)(batch, generator)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from explorer.augment.apply import apply
from explorer.augment.draw import draw
from explorer.augment.params import AugParams
from explorer.augment.settings import AugSettings


def augment_batch(
    pictures: Sequence[Tensor], settings: AugSettings, generator: torch.Generator | None = None
) -> tuple[Tensor, AugParams]:
    """One independent draw per picture, each rendered with one resample.

    Args:
        pictures: (3, H_i, W_i) uint8 or float in [0, 1], sizes may differ, all on one device.
        settings: the augmentation (its size and padding_mode set the output).
        generator: a CPU generator for the draw (the same state, the same batch).

    Returns:
        (tiles, params): tiles (n, 3, size, size) float on the pictures' device, and the n
        parameter sets drawn (tile i used `params[i]`).

    Shape:
        n × (3, H_i, W_i) -> (n, 3, size, size)
    """
    if not pictures:
        raise ValueError("Give at least one picture.")
    for p in pictures:
        if p.ndim != 3 or p.shape[0] != 3:
            raise ValueError(f"Each picture is (3, H, W), got {tuple(p.shape)}.")
    n = len(pictures)
    params = draw(settings, n, generator)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(pictures):
        groups.setdefault(tuple(p.shape), []).append(i)
    out: Tensor | None = None
    for idx in groups.values():
        batch = torch.stack([pictures[i] for i in idx])
        tiles = apply(batch, params[idx], settings.size, settings.padding_mode)
        if out is None:
            out = tiles.new_empty((n, *tiles.shape[1:]))
        out[idx] = tiles
    assert out is not None  # n ≥ 1, so one group at least
    return out, params
