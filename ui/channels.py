"""The channel browser component: scroll through a layer's channels with no rerun.

Python sends every channel once, as one greyscale sprite plus per-channel numbers (`channel_data`);
the browser colours and blends the shown channel like `explorer.heatmap.overlay`. The channel a
person pauses on comes back as the state value "channel".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from PIL import Image
from torch import Tensor

from explorer import heatmap as hm
from explorer import images

_HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "cnn_explorer.heatmap_channels",
    css=(_HERE / "channels.css").read_text(),
    js=(_HERE / "channels.js").read_text(),
)


def channel_data(
    shown: Image.Image,
    acts: Tensor,
    grads: Tensor,
    opts: dict[str, Any],
    channel: int,
    display: int = 520,
) -> dict[str, Any]:
    """Everything the browser needs to draw any channel: picture, sprite, colours and numbers.

    Args:
        shown: the picture the model saw (the overlay's base).
        acts: the layer's activations.
        grads: their gradients (for each channel's Grad-CAM weight).
        opts: `overlay`'s alpha, cmap and interpolation.
        channel: the channel to show first.
        display: the widest the picture is drawn, in CSS pixels.

    Shape:
        acts, grads: (C, h, w)
    """
    sprite, cols = hm.channel_sprite(acts)
    c, h, w = acts.shape
    data = {
        "image": images.data_url(shown, "PNG"),  # lossless: the browser blends these very pixels
        "sprite": images.data_url(sprite, "PNG"),
        "cols": cols,
        "n": int(c),
        "h": int(h),
        "w": int(w),
        "W": shown.width,
        "H": shown.height,
        "alpha": float(opts["alpha"]),
        "interpolation": str(opts["interpolation"]),
        "lut": hm.lut_bytes(str(opts["cmap"])),
        "display": display,
        **hm.channel_stats(acts, grads),
    }
    key = repr((data["image"], data["sprite"], data["alpha"], data["interpolation"], opts["cmap"]))
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return {**data, "id": digest, "channel": int(channel)}


def channel_browser(data: dict[str, Any], *, key: str, on_channel: Callable[[], None]) -> Any:
    """Mount the component; `on_channel` runs when a person settles on a channel."""
    return _COMPONENT(key=key, data=data, on_channel_change=on_channel)


def chosen(key: str) -> int | None:
    """The channel the browser last committed, or None (call from `on_channel`)."""
    value = st.session_state.get(key)
    ch = value.get("channel") if isinstance(value, Mapping) else None
    return int(ch) if isinstance(ch, (int, float)) and not isinstance(ch, bool) else None
