"""The "what a cell sees" component: hover any map cell to see its region and receptive field.

Python sends the overlay picture and every cell's two boxes once (`cell_data`); the browser draws
the hovered cell's boxes without a rerun, and a click sends the cell back (trigger value "cell").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import streamlit as st
from PIL import Image
from torch import Tensor

from explorer import heatmap as hm
from explorer import images

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "cnn_explorer.heatmap_cells",
    css=(_HERE / "cellview.css").read_text(),
    js=(_HERE / "cellview.js").read_text(),
)


def cell_data(
    picture: Image.Image,
    heat: Tensor,
    regions: Sequence[hm.CellRegion],
    committed: tuple[int, int],
    display: int = 560,
) -> dict[str, Any]:
    """What the component draws from: the picture, the map values and all the boxes.

    Args:
        picture: the overlay the boxes are drawn on (the model's input size).
        heat: the map, one value per cell.
        regions: `explorer.heatmap.cell_regions(...)`, row by row.
        committed: the (row, col) chosen last.
        display: the widest the picture is drawn, in CSS pixels.

    Shape:
        heat: (h, w)
    """
    h, w = heat.shape
    boxes = [round(v, 2) for r in regions for v in (*r.cell_box, *r.field_box)]
    image = images.data_url(picture, "WEBP")
    first = regions[0]
    data = {
        "image": image,
        "W": picture.width,
        "H": picture.height,
        "h": int(h),
        "w": int(w),
        "boxes": boxes,
        "values": [float(v) for v in heat.flatten().tolist()],
        "field": list(first.field_size),
        "stride": list(first.stride),
        "display": display,
    }
    digest = hashlib.blake2b(repr((image, boxes, data["values"])).encode(), digest_size=8)
    return {**data, "id": digest.hexdigest(), "committed": [int(committed[0]), int(committed[1])]}


def cell_view(data: dict[str, Any], *, key: str, on_cell: Callable[[], None]) -> Any:
    """Mount the component; `on_cell` runs when a cell is clicked (read it with `clicked(key)`)."""
    return _COMPONENT(key=key, data=data, on_cell_change=on_cell)


def clicked(key: str) -> tuple[int, int] | None:
    """The cell the last click committed, as (row, col), or None (call from `on_cell`)."""
    value = st.session_state.get(key)
    cell = value.get("cell") if isinstance(value, Mapping) else None
    if not isinstance(cell, dict):
        return None
    try:
        return int(cell["row"]), int(cell["col"])
    except (KeyError, TypeError, ValueError):
        return None
