"""Where a map cell looks: its share of the picture (stride box) and its receptive field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from torch import nn

from explorer.errors import UserError
from explorer.heatmap.hooks import LayerError, find_layer

# Children that form a residual block's shortcut: they run beside the main path, not after it.
SHORTCUTS = ("downsample", "shortcut")


class CellError(UserError):
    """A map cell a person picked that lies outside the map."""


@dataclass(frozen=True)
class Field:
    """Receptive-field arithmetic along one axis, in input pixels.

    `size` pixels feed one output cell, cells are `jump` pixels apart, and the centre of cell 0 sits
    at pixel `start` (pixel centres are integers; padding can make it negative).
    """

    size: int = 1
    jump: int = 1
    start: float = 0.0

    def then(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> Field:
        """This field followed by one more sliding-window layer."""
        k = dilation * (kernel - 1) + 1
        return Field(
            self.size + (k - 1) * self.jump,
            self.jump * stride,
            self.start + ((k - 1) / 2 - padding) * self.jump,
        )


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _padding(
    padding: str | int | tuple[int, ...], kernel: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int]:
    """Padding per axis; Conv2d's "same" pads (k - 1) · dilation / 2 (left side), "valid" 0."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return (dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2)
    if isinstance(padding, str):
        raise ValueError(f"Unknown padding {padding!r}.")
    return _pair(padding)


def _leaves_in_order(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """Leaf modules in forward order along the main path (shortcut branches skipped)."""
    children = list(module.named_children())
    if not children:
        yield prefix, module
        return
    for name, child in children:
        if name in SHORTCUTS:
            continue
        yield from _leaves_in_order(child, f"{prefix}.{name}" if prefix else name)


def receptive_field(model: nn.Module, layer: str) -> tuple[Field, Field]:
    """The receptive field of one cell of `layer`'s output, found by walking the conv/pool layers.

    Walks the leaf modules in registration order (the forward order of `nn.Sequential` bodies and
    torchvision's residual blocks, whose shortcut has the same stride and a smaller field) up to and
    including `layer`.

    Returns:
        (rows, cols) `Field`s.

    Raises:
        LayerError: an unknown layer, or a layer whose geometry depends on the input size (adaptive
            pooling) below it.
    """
    find_layer(model, layer)
    fy = fx = Field()
    seen = False
    for name, leaf in _leaves_in_order(model):
        inside = name == layer or name.startswith(layer + ".")
        if seen and not inside:
            break
        seen = seen or inside
        if isinstance(leaf, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            ks, st = _pair(leaf.kernel_size), _pair(leaf.stride or leaf.kernel_size)
            dl = _pair(getattr(leaf, "dilation", 1))
            pd = _padding(leaf.padding, ks, dl)
            fy = fy.then(ks[0], st[0], pd[0], dl[0])
            fx = fx.then(ks[1], st[1], pd[1], dl[1])
        elif isinstance(leaf, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear, nn.Flatten)):
            raise LayerError(
                f"Layer {layer!r} comes after pooling to a vector; it has no map cells."
            )
    return fy, fx


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class CellRegion:
    """The part of the input image one map cell stands for, boxes as (x0, y0, x1, y1) pixels."""

    row: int
    col: int
    cell_box: Box  # the cell's share when the map is stretched over the image
    field_box: Box  # every pixel that can affect the cell, clipped to the image
    field_size: tuple[int, int]  # (height, width) of the unclipped receptive field
    stride: tuple[int, int]  # pixels between neighbouring cells (rows, cols)


def _region(
    fields: tuple[Field, Field],
    image_hw: tuple[int, int],
    map_hw: tuple[int, int],
    row: int,
    col: int,
) -> CellRegion:
    (fy, fx), (H, W), (h, w) = fields, image_hw, map_hw
    cy, cx = fy.start + row * fy.jump, fx.start + col * fx.jump
    # Pixel i covers [i, i+1): a field of n pixels centred on pixel c spans [c-(n-1)/2, c+(n+1)/2).
    y0, y1 = cy - (fy.size - 1) / 2, cy + (fy.size + 1) / 2
    x0, x1 = cx - (fx.size - 1) / 2, cx + (fx.size + 1) / 2
    field_box = (max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1))
    cell_box = (col * W / w, row * H / h, (col + 1) * W / w, (row + 1) * H / h)
    return CellRegion(row, col, cell_box, field_box, (fy.size, fx.size), (fy.jump, fx.jump))


def cell_region(
    model: nn.Module,
    layer: str,
    image_hw: tuple[int, int],
    map_hw: tuple[int, int],
    row: int,
    col: int,
) -> CellRegion:
    """Where map cell (row, col) of `layer` looks in an image of size `image_hw`.

    Args:
        model: the network.
        layer: the hooked layer.
        image_hw: the input's (H, W).
        map_hw: the layer output's (h, w).
        row: the cell's row.
        col: the cell's column.

    Returns:
        The `CellRegion`: the stride box (what the overlay shows under the cell) and the receptive
        field (what the convolutions actually read).

    Raises:
        CellError: (row, col) lies outside the map.
    """
    h, w = map_hw
    if not (0 <= row < h and 0 <= col < w):
        raise CellError(
            f"Cell ({row}, {col}) is outside the {h}×{w} map; pick 0–{h - 1}, 0–{w - 1}."
        )
    return _region(receptive_field(model, layer), image_hw, map_hw, row, col)


def cell_regions(
    model: nn.Module, layer: str, image_hw: tuple[int, int], map_hw: tuple[int, int]
) -> list[CellRegion]:
    """Every cell's `CellRegion`, row by row: what the browser's cell view draws on hover.

    Equal to `cell_region(model, layer, image_hw, map_hw, r, c)` for each (r, c), with the
    receptive field walked once instead of once per cell.
    """
    fields = receptive_field(model, layer)
    h, w = map_hw
    return [_region(fields, image_hw, map_hw, r, c) for r in range(h) for c in range(w)]
