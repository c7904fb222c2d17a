"""The home page's cards: one per teaching page, with a preview computed by that page's code."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageFilter, ImageOps

from explorer import images


@dataclass(frozen=True)
class Card:
    key: str
    path: str
    title: str
    icon: str
    teaches: str


PAGES = (
    Card(
        "augment",
        "pages/augment.py",
        "Augmentation",
        ":material/tune:",
        "Every fastai transform and padding mode on one photo: a 3×3 grid of free extra data.",
    ),
    Card(
        "convolve",
        "pages/convolve.py",
        "Convolution",
        ":material/grid_on:",
        "A 3×3 kernel stepped across an image: window × kernel, summed, one output pixel at a time.",
    ),
    Card(
        "train",
        "pages/train.py",
        "Training",
        ":material/model_training:",
        "The lesson's resnet34 recipe live: one-cycle, unfreeze, discriminative rates, 224→352 px.",
    ),
    Card(
        "heatmap",
        "pages/heatmap.py",
        "Heatmap",
        ":material/local_fire_department:",
        "Where the network looks: mean, per-channel and Grad-CAM maps from any layer.",
    ),
)


def thumbnails(img: Image.Image, size: int = 240) -> dict[str, Image.Image]:
    """A square preview per page, made from `img`."""
    base = ImageOps.fit(images.resize_short(img, size), (size, size))
    return {
        "augment": base.rotate(15, resample=Image.Resampling.BILINEAR).transpose(
            Image.Transpose.FLIP_LEFT_RIGHT
        ),
        "convolve": ImageOps.autocontrast(base.convert("L").filter(ImageFilter.FIND_EDGES)),
        "train": ImageOps.posterize(base, 3),
        "heatmap": Image.blend(base, ImageOps.colorize(base.convert("L"), "black", "orange"), 0.6),
    }
