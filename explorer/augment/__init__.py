"""fastai v1-style data augmentation: draw random parameters first, then apply them in one resample.

Every geometric transform of a sample becomes one 3×3 matrix (affine maps and 4-point homographies
composed), hence one sampling grid and one batched `grid_sample`; lighting works in logit space like
fastai, and the pixel transforms (rgb_randomize, cutout) come last.

Modules: settings (AugSettings, validation, JSON), params (AugParams), draw, geometry (matrices,
homography, sampling grid, corner and edge names), pixel (lighting, rgb_randomize, cutout), apply
(apply, Augment), batch (different pictures, one draw each), compare (one resample vs a chain,
PSNR), describe (a tile's value rows, inert controls), series (magnitude strips), sources (batches
of pictures), export (code for other libraries), run_export (those pipelines run on a picture),
robustness (predictions on tiles, accuracy against magnitude). Everything below is importable from
`explorer.augment` directly.
"""

from explorer.augment.apply import (
    Augment,
    affine_resample,
    apply,
    as_float_batch,
    center_crop_resize,
    resample,
)
from explorer.augment.batch import augment_batch
from explorer.augment.compare import chain_resample, psnr, reference_resample
from explorer.augment.describe import CORNER_SHORT, ROW_HELP, inert_controls, tile_rows
from explorer.augment.draw import draw
from explorer.augment.export import (
    EXPORT_TARGETS,
    albumentations_code,
    export,
    fastai_v1_code,
    fastai_v2_code,
    kornia_code,
    torchvision_code,
)
from explorer.augment.geometry import (
    ALIGN_CORNERS,
    CORNER_NAMES,
    EDGE_NAMES,
    SKEW_PULLS,
    grid_in_pixels,
    homography,
    matrices,
    project,
    sampling_grid,
    square_matrices,
    warp_matrices,
)
from explorer.augment.params import DIHEDRAL_NAMES, AugParams, to_device
from explorer.augment.pixel import (
    Curve,
    cutout,
    cutout_mask,
    hash_uniform,
    lighting,
    lighting_curves,
    rgb_randomize,
)
from explorer.augment.robustness import (
    Prediction,
    Sweep,
    TileMark,
    label_flips,
    predict,
    robustness,
    sweep_magnitudes,
    tile_marks,
)
from explorer.augment.run_export import (
    RUNNABLE_TARGETS,
    LibraryUnavailable,
    load_export,
    render_export,
)
from explorer.augment.series import (
    SERIES,
    SERIES_IDENTITY,
    drop_point,
    magnitude_series,
    tile_mosaic,
)
from explorer.augment.settings import (
    FIELD_LIMITS,
    MAX_CUTOUT_HOLES,
    MAX_SIZE,
    AugSettings,
    Limit,
    SettingsError,
    check_setting,
)
from explorer.padding import PAD_MODE, PADDING_HELP, PADDING_MODES, check_padding_mode, pad_mode

__all__ = [
    "TileMark",
    "tile_marks",
    "augment_batch",
    "sweep_magnitudes",
    "robustness",
    "predict",
    "label_flips",
    "Sweep",
    "Prediction",
    "tile_rows",
    "inert_controls",
    "SKEW_PULLS",
    "ROW_HELP",
    "EDGE_NAMES",
    "CORNER_SHORT",
    "CORNER_NAMES",
    "ALIGN_CORNERS",
    "DIHEDRAL_NAMES",
    "EXPORT_TARGETS",
    "FIELD_LIMITS",
    "MAX_CUTOUT_HOLES",
    "MAX_SIZE",
    "PADDING_HELP",
    "PADDING_MODES",
    "PAD_MODE",
    "RUNNABLE_TARGETS",
    "SERIES",
    "SERIES_IDENTITY",
    "AugParams",
    "AugSettings",
    "Augment",
    "Curve",
    "LibraryUnavailable",
    "Limit",
    "SettingsError",
    "affine_resample",
    "albumentations_code",
    "apply",
    "as_float_batch",
    "center_crop_resize",
    "chain_resample",
    "check_padding_mode",
    "check_setting",
    "cutout",
    "cutout_mask",
    "draw",
    "drop_point",
    "export",
    "fastai_v1_code",
    "fastai_v2_code",
    "grid_in_pixels",
    "hash_uniform",
    "homography",
    "kornia_code",
    "lighting",
    "lighting_curves",
    "load_export",
    "magnitude_series",
    "matrices",
    "pad_mode",
    "project",
    "psnr",
    "reference_resample",
    "render_export",
    "resample",
    "rgb_randomize",
    "sampling_grid",
    "square_matrices",
    "tile_mosaic",
    "to_device",
    "torchvision_code",
    "warp_matrices",
]
