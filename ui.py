"""Streamlit helpers shared by the pages: the sidebar image, error display, "show the code".

Pages import this module; `explorer/` never does (the backend stays UI-free).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st
from PIL import Image

IMAGE_KEY = "sidebar_image"  # session_state slot app.py fills before every page run


def current_image() -> tuple[str, Image.Image]:
    """The image chosen in the shared sidebar: (display name, RGB PIL image).

    app.py decodes it (safely, through explorer.images.open_image) on every run before the page
    runs, so a page can rely on it. Falls back to the first embedded sample when run on its own.
    """
    chosen = st.session_state.get(IMAGE_KEY)
    if chosen is None:
        from explorer.images import sample_images

        name, img = next(iter(sample_images().items()))
        chosen = (name, img)
    return chosen


def show_code(*objects: Callable | type, label: str = "Show the code") -> None:
    """An expander with the source of the explorer functions a demo calls."""
    with st.expander(label):
        for obj in objects:
            try:
                st.code(inspect.getsource(obj), language="python")
            except (OSError, TypeError):
                st.caption(f"(source of {getattr(obj, '__name__', obj)} is not available)")


@contextmanager
def user_errors(what: str = "This step") -> Iterator[None]:
    """Show any error raised inside as one sentence on the page, never a traceback.

    Errors a person can cause (ValueError and friends from explorer) are shown as they are; anything
    else is reported as unexpected with its type, so the rest of the page keeps working.
    """
    try:
        yield
    except (ValueError, RuntimeError, OSError, MemoryError) as exc:
        msg = str(exc) or exc.__class__.__name__
        if "out of memory" in msg.lower() or isinstance(exc, MemoryError):
            msg = "Ran out of memory. Try a smaller image, size or batch."
        st.error(f"{what} failed: {msg}")
    except Exception as exc:  # noqa: BLE001 - last line of defence before the user
        st.error(f"{what} failed unexpectedly ({exc.__class__.__name__}: {exc}).")


def not_built(page: str) -> None:
    """The one-line notice for a page whose issue has not landed yet."""
    st.info(f"The {page} page is not built yet.")
