"""The page table: app.py's navigation and the Home page's cards (one per teaching page, with a
preview computed by that page's code) come from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageOps

from explorer import images


@dataclass(frozen=True)
class Card:
    """One page: `key` is its url_path (and the widget-key prefix of its settings)."""

    key: str
    path: str
    title: str
    icon: str
    teaches: str


HOME = Card(
    "",
    "app_pages/home.py",
    "Home",
    ":material/home:",
    "What each page teaches, and what this installation can do right now.",
)

PAGES = (  # the teaching pages, in the sidebar's order
    Card(
        "augment",
        "app_pages/augment.py",
        "Augmentation",
        ":material/tune:",
        "Every fastai transform and padding mode on one photo: a 3×3 grid of free extra data.",
    ),
    Card(
        "convolve",
        "app_pages/convolve.py",
        "Convolution",
        ":material/grid_on:",
        "A 3×3 kernel stepped across an image: window × kernel, summed, one output pixel at a "
        "time.",
    ),
    Card(
        "train",
        "app_pages/train.py",
        "Training",
        ":material/model_training:",
        "The lesson's resnet34 recipe live: one-cycle, unfreeze, discriminative rates, 224→352 px.",
    ),
    Card(
        "heatmap",
        "app_pages/heatmap.py",
        "Heatmap",
        ":material/local_fire_department:",
        "Where the network looks: mean, per-channel and Grad-CAM maps from any layer.",
    ),
)


def thumbnails(img: Image.Image, size: int = 240) -> dict[str, Image.Image]:
    """A square preview per page, computed from `img` by the same functions the pages call.

    Augmentation: one draw of the lesson's settings. Convolution: the "outline" kernel with
    reflection padding. Training: four images of the offline shapes dataset. Heatmap: the mean
    activation of an (untrained, so cheap and offline) resnet18's first stage over the image.
    """
    import torch

    from explorer import augment, convolve, data, heatmap, models

    base = ImageOps.fit(images.resize_short(img, size), (size, size))
    x = images.to_tensor(base)
    gen = torch.Generator().manual_seed(6)
    aug = augment.apply(x, augment.draw(augment.AugSettings.lesson(), 1, gen), size, "reflection")

    grey = x.mean(0)
    edges = convolve.convolve(grey, convolve.preset_kernel("outline"), 1, "reflection")
    lo, hi = convolve.display_range(edges, "percentile")

    shapes = data.make_shapes(4, size // 2, seed=3)
    mosaic = augment.tile_mosaic(shapes.images.float() / 255, ncols=2, gap=0)

    with torch.random.fork_rng():  # a fixed untrained network, without touching the global RNG
        torch.manual_seed(0)
        net = models.create_cnn("resnet18", 2).eval()
    acts = heatmap.activations(net, images.normalize(x)[None], "0.4")

    return {
        "augment": images.to_image(aug[0]),
        "convolve": images.to_image(convolve.rescale(edges, lo, hi)),
        "train": images.to_image(mosaic),
        "heatmap": heatmap.overlay(base, acts.mean(0), alpha=0.5, cmap="magma"),
    }
