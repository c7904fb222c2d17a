"""Which device computations run on, and how to name it for a person."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA when a GPU is usable, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label() -> str:
    """'NVIDIA H100 80GB HBM3 (CUDA)' or 'CPU (no GPU found)'."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return "CPU (no GPU found)"
