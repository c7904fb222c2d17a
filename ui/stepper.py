"""The convolution stepper as a `st.components.v2` component (no iframe, no build step).

Python sends `explorer.convolve.stepper_data(...)` plus the committed position once per change;
the browser (ui/stepper.js, ui/stepper.css) draws the input, window, products, sum and output and
moves the window on hover, keys and Play without a rerun. A click reports the position back as the
trigger "commit".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

_HERE = Path(__file__).parent
_render = st.components.v2.component(
    "convolve_stepper",
    html='<div class="cs"></div>',
    css=(_HERE / "stepper.css").read_text(encoding="utf-8"),
    js=(_HERE / "stepper.js").read_text(encoding="utf-8"),
)


def stepper(
    data: dict[str, Any],
    row: int,
    col: int,
    *,
    key: str,
    on_commit: Callable[[], None],
    presenter: bool = False,
    speed: int = 20,
) -> Any:
    """Mount the stepper; `on_commit` runs (before the rerun) when a cell is clicked.

    Args:
        data: `explorer.convolve.stepper_data(...)`.
        row, col: the committed output position the window starts at.
        key: the element's key (the page's stable `st-key-<key>` class).
        on_commit: callback; read the clicked {"row", "col"} with `committed(key)`.
        presenter: large digits for a projector.
        speed: Play's output pixels per second (one per frame).

    Returns:
        The component's result (its "commit" trigger).
    """
    payload = {**data, "row": int(row), "col": int(col), "presenter": presenter, "speed": speed}
    return _render(key=key, data=payload, on_commit_change=on_commit)


def committed(key: str) -> tuple[int, int] | None:
    """The (row, col) a click just committed, inside `on_commit`; None when there is none."""
    state = st.session_state.get(key) or {}
    value = state.get("commit") if hasattr(state, "get") else None
    if not isinstance(value, dict):
        return None
    try:
        return int(value["row"]), int(value["col"])
    except (KeyError, TypeError, ValueError):  # the browser sent something else: ignore it
        return None
