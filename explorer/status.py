"""What this installation has: device, library versions, dataset, checkpoints, ImageNet weights.

The home page shows it so a person knows at a glance what will work offline and what needs a
download or a GPU.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

import torch
import torchvision

from explorer.device import device_label
from explorer.procs import gpu_count


@dataclass
class InstallStatus:
    """A snapshot of the installation, cheap to compute (no network, no model loading)."""

    device: str
    cuda: bool
    python: str
    torch: str
    torchvision: str
    pets: dict  # data.pets_status(): state missing/partial/ready, n_images, expected, path
    checkpoints: list[dict] = field(default_factory=list)  # models.list_checkpoints()
    imagenet_cached: bool = False  # resnet34 ImageNet weights in torch's hub cache


def install_status() -> InstallStatus:
    """Collect the installation's state from disk, the torch runtime and a child's GPU count."""
    from explorer import data, models

    return InstallStatus(
        device=device_label(),
        cuda=gpu_count() > 0,  # asked of a child: the server never initialises CUDA
        python=platform.python_version(),
        torch=torch.__version__,
        torchvision=torchvision.__version__,
        pets=data.pets_status(),
        checkpoints=models.list_checkpoints(),
        imagenet_cached=models.imagenet_weights_cached("resnet34"),
    )
