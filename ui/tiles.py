"""A grid of image tiles, each with its full list of values shown on hover, focus or click.

A `st.components.v2` element (inline JS and CSS, no iframe): the images travel as small JPEG data
URLs with their value rows, and the browser shows a tile's values without a rerun (hover, or focus
with Tab and the arrow keys). A click or Enter selects the tile; Python hears it through `on_pick`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st
from PIL import Image

from explorer import images

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "cnn_explorer.tiles",
    html='<div class="tiles" role="list"></div>',
    css=(_HERE / "tiles.css").read_text(),
    js=(_HERE / "tiles.js").read_text(),
)


def data_url(img: Image.Image, quality: int = 85) -> str:
    """An RGB image as a JPEG data URL: ~10 kB for a 224-px tile, encoded in ~0.2 ms (PNG: 86 kB,
    11 ms; WebP: 7 kB but 4 ms)."""
    return images.data_url(img, "JPEG", quality)


def tile_grid(
    tiles: Sequence[dict],
    *,
    key: str,
    columns: int = 3,
    selected: int | None = None,
    on_pick: Callable[[int], None] | None = None,
) -> None:
    """Mount the grid of `tiles`.

    Args:
        tiles: one dict per tile: `src` (a data URL), `caption` (one line under the tile, cut to
            fit), `title` (the heading of its values) and `rows`, a
            list of [name, value text, changed] (rows with changed False are greyed out);
            optional `flag` (True outlines the tile in red, e.g. a prediction that flipped).
        key: the element's key (also its CSS class, `st-key-<key>`).
        columns: tiles per row.
        selected: the tile drawn as selected (outlined).
        on_pick: called with a tile's index when it is clicked (or Enter is pressed on it), before
            the rerun that click causes.
    """

    def picked() -> None:
        index = st.session_state[key].get("picked")
        if on_pick is not None and isinstance(index, int) and 0 <= index < len(tiles):
            on_pick(index)

    # a digest of the images lets the browser keep its DOM (and the open values) when only the
    # selection changed
    version = hashlib.blake2b("".join(t["src"] for t in tiles).encode(), digest_size=8).hexdigest()
    _COMPONENT(
        key=key,
        data={"tiles": list(tiles), "columns": columns, "selected": selected, "version": version},
        on_picked_change=picked,
    )
