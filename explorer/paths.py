"""Where the app keeps datasets, checkpoints and training runs.

Everything lives under one home folder: the repository by default, or $EXPLORER_HOME (tests point
it at a temporary folder so they never touch a user's weights or runs).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def home() -> Path:
    """The folder holding data/, weights/ and runs/."""
    return Path(os.environ.get("EXPLORER_HOME") or REPO)


def data_dir() -> Path:
    """Downloaded datasets (git-ignored)."""
    return home() / "data"


def weights_dir() -> Path:
    """Checkpoints: NAME.safetensors + NAME.json."""
    return home() / "weights"


def runs_dir() -> Path:
    """One folder per training job."""
    return home() / "runs"
