"""Run an exported pipeline on a picture, so a page can show "the same settings in library X"
beside ours (and the differences the export's notes list become visible).

The code is this package's own `export` output (numbers and names it formatted itself), executed
in a fresh namespace; every library's random state is seeded here and the global torch RNG is
restored afterwards, so rendering never disturbs anything else in the process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from explorer.augment.export import export
from explorer.augment.settings import AugSettings
from explorer.errors import UserError

RUNNABLE_TARGETS = ("torchvision", "albumentations", "kornia")  # fastai needs an older torch


class LibraryUnavailable(UserError):
    """The library an export targets is not installed on this server."""


def load_export(settings: AugSettings, target: str) -> Any:
    """The `transform` that `export(settings, target)`'s code defines, ready to call: a v2.Compose,
    an A.Compose or a K.AugmentationSequential.

    Raises:
        LibraryUnavailable: (a UserError) when the target library is not installed.
        ValueError: for a target that cannot run here (fastai) or is unknown.
    """
    if target not in RUNNABLE_TARGETS:
        raise ValueError(f"Only {', '.join(RUNNABLE_TARGETS)} pipelines run here, not {target!r}.")
    code, _ = export(settings, target)
    ns: dict[str, Any] = {}
    try:
        exec(compile(code, f"<export to {target}>", "exec"), ns)
    except ImportError as e:
        raise LibraryUnavailable(
            f"{target} is not installed on this server, so its pipeline cannot be shown; "
            f"`pip install {target}` adds it."
        ) from e
    return ns["transform"]


def render_export(
    settings: AugSettings, target: str, img: Tensor, n: int = 9, seed: int = 0
) -> Tensor:
    """n random draws of `target`'s exported pipeline on one picture, as tiles like `apply`'s.

    Args:
        settings: the augmentation, exported with `export(settings, target)`.
        target: one of RUNNABLE_TARGETS.
        img: the picture, (3, H, W) float in [0, 1] (uint8 is accepted too).
        n: how many draws.
        seed: seeds the library's random draws (the same seed, the same tiles).

    Returns:
        (n, 3, size, size) float32 in [0, 1] on the CPU.

    Shape:
        (3, H, W) -> (n, 3, size, size)
    """
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"Expected one RGB picture (3, H, W), got {tuple(img.shape)}.")
    if n < 1:
        raise ValueError("Render at least one draw.")
    transform = load_export(settings, target)
    x = img.detach().to("cpu")
    x = x.to(torch.float32) / 255 if x.dtype == torch.uint8 else x.to(torch.float32).clamp(0, 1)
    u8 = (x * 255).round().to(torch.uint8)
    with torch.random.fork_rng(devices=[]):  # torchvision and kornia draw from torch's RNG
        torch.manual_seed(seed)
        if target == "torchvision":
            tiles = [transform(u8) for _ in range(n)]
        elif target == "kornia":
            tiles = list(transform(x[None].expand(n, -1, -1, -1).contiguous()))
        else:  # albumentations: HWC uint8 in and out, its own seeded generator
            transform.set_random_seed(seed)
            hwc = np.ascontiguousarray(u8.permute(1, 2, 0).numpy())
            tiles = [
                torch.from_numpy(transform(image=hwc)["image"]).permute(2, 0, 1) / 255.0
                for _ in range(n)
            ]
    return torch.stack([t.to(torch.float32) for t in tiles]).clamp_(0, 1).contiguous()
