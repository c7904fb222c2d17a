"""Is a process still there? Shared by the job lock, checkpoint temp files and the download lock.
And how many GPUs the machine has, asked of a child process (the server never touches CUDA).

Linux-first: /proc tells zombies and reused pids apart; elsewhere `os.kill(pid, 0)` is the answer.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks (Linux), to tell a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after its ')' are fixed.
    rest = stat.rsplit(")", 1)[1].split()
    return int(rest[19]) if len(rest) > 19 else None


def pid_alive(pid: int | None, ticks: int | None = None) -> bool:
    """Whether `pid` is a running (not zombie) process, and the same one when `ticks` is known."""
    if not pid:
        return False
    try:
        # Our own finished child stays a zombie until it is reaped; reap it here.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child (another server process started it): ask the OS below
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    if ticks is not None:
        now = start_ticks(pid)
        if now is not None and now != ticks:
            return False
    return True


_GPU_LOCK = threading.Lock()  # the first runs of several sessions start one child, not one each
_GPU_CODE = (
    "import json, torch; n = torch.cuda.device_count(); "
    "print(json.dumps([torch.cuda.get_device_name(i) for i in range(n)]))"
)


@functools.cache
def gpu_names() -> tuple[str, ...]:
    """The names of this machine's CUDA devices (empty: none), asked of a short-lived child.

    The server never touches CUDA itself (the jobs own the GPUs; even counting devices in-process
    initialises the driver there), so a child imports torch and answers once per server process.
    A child that fails or hangs counts as no GPU. Sessions whose first runs ask at once wait for
    the one child (the lock, then the inner cache) instead of starting one each.
    """
    with _GPU_LOCK:
        return _child_gpu_names()


@functools.cache
def _child_gpu_names() -> tuple[str, ...]:
    try:
        out = subprocess.run(
            [sys.executable, "-c", _GPU_CODE],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return tuple(str(n) for n in json.loads(out.stdout.strip().splitlines()[-1]))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return ()


@functools.cache
def gpu_count() -> int:
    """CUDA devices on this machine, asked of a child process (see `gpu_names`)."""
    return len(gpu_names())
