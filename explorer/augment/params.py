"""AugParams: the drawn values of n augmentations, one entry per sample in every tensor.

Random draws are data: `draw` makes them, `apply` renders them, and a saved AugParams (its tensors,
e.g. as safetensors) renders the same pictures again on any device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

from explorer.augment.settings import MAX_CUTOUT_HOLES

DIHEDRAL_NAMES = (
    "unchanged",
    "mirrored left-right",
    "mirrored top-bottom",
    "rotated 180°",
    "transposed",
    "rotated 90° anticlockwise",
    "rotated 90° clockwise",
    "anti-transposed",
)


def to_device(t: Tensor, device: torch.device | str, dtype: torch.dtype | None = None) -> Tensor:
    """`t.to(device, dtype)`, asynchronous when copying from the CPU.

    A blocking CPU -> GPU copy synchronises the stream (waits for every queued kernel, e.g. the
    previous batch's backward pass); a few per training batch stall the GPU. From the CPU,
    non_blocking is safe: pageable memory is staged before the call returns, pinned memory is kept
    alive by PyTorch. GPU -> CPU copies stay blocking, so their result can be read at once.
    """
    return t.to(device=device, dtype=dtype, non_blocking=t.device.type == "cpu")


@dataclass
class AugParams:
    """The drawn values for n samples, one entry per sample in every tensor (CPU by default).

    Identity values: flip False, dihedral 0, angle 0, zoom 1, squish 1, warps 0, crop at 0.5, pad 0,
    window 1×1, brightness 0.5, contrast 1, jitter 0, rgb/cutout off.
    """

    flip: Tensor  # (n,) bool: mirrored left-right
    dihedral: Tensor  # (n,) int64 0..7: bit 1 mirrors x, bit 2 mirrors y, bit 4 swaps x and y
    angle: Tensor  # (n,) degrees, positive turns the picture anticlockwise
    zoom: Tensor  # (n,) ≥ 1
    zoom_row: Tensor  # (n,) zoom focus 0..1 (top..bottom)
    zoom_col: Tensor  # (n,) zoom focus 0..1 (left..right)
    squish: Tensor  # (n,) <1 widens, >1 heightens
    warp: Tensor  # (n, 4) symmetric_warp magnitudes
    perspective: Tensor  # (n, 4, 2) corner displacements
    tilt: Tensor  # (n,) magnitude
    tilt_dir: Tensor  # (n,) int64 0..3
    skew: Tensor  # (n,) magnitude
    skew_dir: Tensor  # (n,) int64 0..7
    crop_row: Tensor  # (n,) 0..1 window position top..bottom
    crop_col: Tensor  # (n,) 0..1 window position left..right
    win_w: Tensor  # (n,) window width / the square crop's side (rand_resize_crop)
    win_h: Tensor  # (n,) window height / the square crop's side
    pad: Tensor  # (n,) pixels of padding around the picture
    brightness: Tensor  # (n,) 0.5 = unchanged
    contrast: Tensor  # (n,) 1 = unchanged
    jitter: Tensor  # (n,) grid units, 0 = off
    rgb_on: Tensor  # (n,) bool
    rgb_channel: Tensor  # (n,) int64 0..2
    rgb: Tensor  # (n,) noise level of the replaced channel
    cutout: Tensor  # (n, K, 2) hole centres (row, col) as fractions of the tile
    cutout_on: Tensor  # (n, K) bool
    cutout_size: Tensor  # (n,) hole side as a fraction of the tile
    seed: Tensor  # (n,) int64 seeds of the per-pixel noise (jitter, rgb_randomize)

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.angle.shape[0]

    @classmethod
    def identity(cls, n: int, device: torch.device | str = "cpu") -> AugParams:
        """n parameter sets that leave the centre crop unchanged."""
        f64: dict[str, Any] = dict(dtype=torch.float64, device=device)
        i64: dict[str, Any] = dict(dtype=torch.int64, device=device)
        zeros, ones, half = (
            torch.zeros(n, **f64),
            torch.ones(n, **f64),
            torch.full((n,), 0.5, **f64),
        )
        no = torch.zeros(n, dtype=torch.bool, device=device)
        return cls(
            flip=no.clone(),
            dihedral=torch.zeros(n, **i64),
            angle=zeros.clone(),
            zoom=ones.clone(),
            zoom_row=half.clone(),
            zoom_col=half.clone(),
            squish=ones.clone(),
            warp=torch.zeros(n, 4, **f64),
            perspective=torch.zeros(n, 4, 2, **f64),
            tilt=zeros.clone(),
            tilt_dir=torch.zeros(n, **i64),
            skew=zeros.clone(),
            skew_dir=torch.zeros(n, **i64),
            crop_row=half.clone(),
            crop_col=half.clone(),
            win_w=ones.clone(),
            win_h=ones.clone(),
            pad=zeros.clone(),
            brightness=half.clone(),
            contrast=ones.clone(),
            jitter=zeros.clone(),
            rgb_on=no.clone(),
            rgb_channel=torch.zeros(n, **i64),
            rgb=zeros.clone(),
            cutout=torch.full((n, MAX_CUTOUT_HOLES, 2), 0.5, **f64),
            cutout_on=torch.zeros(n, MAX_CUTOUT_HOLES, dtype=torch.bool, device=device),
            cutout_size=torch.full((n,), 0.2, **f64),
            seed=torch.zeros(n, **i64),
        )

    def _map(self, fn: Callable[[Tensor], Tensor]) -> AugParams:
        return AugParams(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def to(self, device: torch.device | str) -> AugParams:
        """The same values on `device` (from the CPU without waiting for the GPU, see `_to`)."""
        return self._map(lambda t: to_device(t, device))

    def __getitem__(self, idx: int | slice | Sequence[int] | Tensor) -> AugParams:
        """The parameter sets `idx` (an int keeps a batch of one)."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        return self._map(lambda t: t[idx])

    def set(self, **values: object) -> AugParams:
        """A copy with some fields replaced; scalars are broadcast to all n samples."""
        out = {}
        for name, v in values.items():
            old = getattr(self, name)
            out[name] = (
                torch.as_tensor(v, dtype=old.dtype, device=old.device).expand_as(old).clone()
            )
        return replace(self, **out)

    def values(self, i: int) -> dict[str, Any]:
        """Sample i's values as plain Python numbers (for tables and JSON)."""
        return {f.name: getattr(self, f.name)[i].tolist() for f in fields(self)}

    def matrix(self, i: int, in_hw: tuple[int, int] | None = None) -> Tensor:
        """Sample i's composed 3×3 matrix: in tile units, or tile -> photo grid units given in_hw.

        Shape:
            -> (3, 3) float64
        """
        from explorer.augment.geometry import matrices, square_matrices  # geometry imports us

        one = self[i]
        return (square_matrices(one) if in_hw is None else matrices(one, in_hw))[0]

    def describe(self, i: int) -> str:
        """A short caption of what sample i does, naming only the transforms that changed it."""
        v = self.values(i)
        parts: list[str] = []
        if v["flip"]:
            parts.append("flip ↔")
        if v["dihedral"]:
            parts.append(f"dihedral {v['dihedral']} ({DIHEDRAL_NAMES[v['dihedral']]})")
        if v["angle"]:
            parts.append(f"rotate {v['angle']:+.1f}°")
        if v["zoom"] != 1:
            parts.append(f"zoom ×{v['zoom']:.2f} at ({v['zoom_row']:.2f}, {v['zoom_col']:.2f})")
        if v["squish"] != 1:
            parts.append(f"squish {v['squish']:.2f}")
        if any(v["warp"]):
            parts.append("warp [" + ", ".join(f"{m:+.2f}" for m in v["warp"]) + "]")
        if any(any(c) for c in v["perspective"]):
            flat = [m for c in v["perspective"] for m in c]
            parts.append(f"perspective ±{max(abs(m) for m in flat):.2f}")
        if v["tilt"]:
            parts.append(f"tilt {v['tilt']:+.2f} (dir {v['tilt_dir']})")
        if v["skew"]:
            parts.append(f"skew {v['skew']:+.2f} (dir {v['skew_dir']})")
        if v["win_w"] != 1 or v["win_h"] != 1:
            parts.append(f"resize-crop {v['win_w']:.2f}×{v['win_h']:.2f}")
        if v["pad"]:
            parts.append(f"pad {v['pad']:.0f}px")
        if v["crop_row"] != 0.5 or v["crop_col"] != 0.5:
            parts.append(f"crop at ({v['crop_row']:.2f}, {v['crop_col']:.2f})")
        if v["brightness"] != 0.5:
            parts.append(f"brightness {v['brightness']:.2f}")
        if v["contrast"] != 1:
            parts.append(f"contrast {v['contrast']:.2f}")
        if v["jitter"]:
            parts.append(f"jitter {v['jitter']:.3f}")
        if v["rgb_on"]:
            parts.append(f"rgb: {'RGB'[v['rgb_channel']]} noise ≤{v['rgb']:.2f}")
        if any(v["cutout_on"]):
            parts.append(f"cutout ×{sum(v['cutout_on'])}")
        return " · ".join(parts) if parts else "unchanged"
