"""Which device computations run on, and how to name it for a person.

The app server computes on the CPU and never initialises CUDA: training jobs (child processes)
own the GPUs, and a server holding a CUDA context would take memory from them on every GPU it
touched. So the server asks a child process what GPUs there are (`explorer.procs.gpu_names`).
"""

from __future__ import annotations

import os

import torch

from explorer import procs


def default_device() -> torch.device:
    """CUDA when a GPU is usable, else the CPU: for a notebook or a job, never the app server
    (this asks torch.cuda in the calling process; the server uses `server_device`)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def server_device() -> torch.device:
    """Where the app server's own computations (the Heatmap page's models) run: the CPU, so the
    server process never initialises CUDA; the GPUs are the training jobs'."""
    return torch.device("cpu")


def device_label() -> str:
    """What this machine has, for a person, without touching CUDA in this process:
    'NVIDIA H100 80GB HBM3 (CUDA, for training jobs)', '2 × NVIDIA H100 80GB HBM3 (CUDA, ...)'
    or 'CPU (no GPU found)'. Asked of a child process once per server (procs.gpu_names)."""
    names = procs.gpu_names()
    if not names:
        return "CPU (no GPU found)"
    count = f"{len(names)} × " if len(names) > 1 else ""
    return f"{count}{names[0]} (CUDA, for training jobs)"


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
