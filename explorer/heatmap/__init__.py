"""Look inside a CNN: hook one layer, read its activations and class gradients, make heatmaps.

- `hooks`: `hooked` (the one hook context manager) and `model_lock`;
- `maps`: activations, Grad-CAM (the lesson's variant and fastai's library variant), rankings;
- `cells`: the image region and receptive field of a map cell;
- `overlay`: the model's input crop, colormaps, overlays, the channel sprite and image encoding.
"""

from __future__ import annotations

from explorer.heatmap.cells import (
    SHORTCUTS,
    CellError,
    CellRegion,
    Field,
    cell_region,
    cell_regions,
    receptive_field,
)
from explorer.heatmap.hooks import Hook, LayerError, find_layer, hooked, model_lock
from explorer.heatmap.maps import (
    RANKINGS,
    VARIANTS,
    Capture,
    ClassIndexError,
    activations,
    cam,
    capture,
    channel_stats,
    channel_weights,
    confidence,
    contributions,
    grad_cam,
    heat,
    imagenet_download_mb,
    rank_channels,
    top_predictions,
)
from explorer.heatmap.overlay import (
    COLORMAPS,
    SizeError,
    channel_sprite,
    colormap,
    data_url,
    encode_image,
    lut_bytes,
    overlay,
    prepare,
    scale01,
)

__all__ = [
    "COLORMAPS",
    "RANKINGS",
    "SHORTCUTS",
    "VARIANTS",
    "Capture",
    "CellError",
    "CellRegion",
    "ClassIndexError",
    "Field",
    "Hook",
    "LayerError",
    "SizeError",
    "activations",
    "cam",
    "capture",
    "cell_region",
    "cell_regions",
    "channel_sprite",
    "channel_stats",
    "confidence",
    "channel_weights",
    "colormap",
    "contributions",
    "data_url",
    "encode_image",
    "find_layer",
    "grad_cam",
    "heat",
    "hooked",
    "imagenet_download_mb",
    "lut_bytes",
    "model_lock",
    "overlay",
    "prepare",
    "rank_channels",
    "receptive_field",
    "scale01",
    "top_predictions",
]
