"""Which device computations run on, and how to name it for a person."""

from __future__ import annotations

import os

import torch


def default_device() -> torch.device:
    """CUDA when a GPU is usable, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label() -> str:
    """'NVIDIA H100 80GB HBM3 (CUDA)' or 'CPU (no GPU found)'."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA)"
    return "CPU (no GPU found)"


def app_threads() -> int:
    """Torch CPU threads for the app server: $EXPLORER_TORCH_THREADS, else half the cores.

    Every browser session runs its script in a thread of one server process; letting each torch
    call take every core oversubscribes the CPU as soon as two things happen at once (a slider
    move while a training job runs): on 2 cores, 9 augmentation tiles took 200-600 ms with two
    threads and 15-25 ms with one.
    """
    env = os.environ.get("EXPLORER_TORCH_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 2) // 2)
