"""Streamlit helpers shared by the pages: the sidebar image, error display, "show the code";
`ui.state` keeps each page's settings across page switches and in the URL.

Pages import this package; `explorer/` never does (the backend stays UI-free).
"""

from __future__ import annotations

import functools
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


@st.cache_data(show_spinner=False, max_entries=8)
def _decode_upload(data: bytes) -> Image.Image:
    from explorer import images

    return images.open_image(data)


def _pet_picker() -> tuple[str, Image.Image] | None:
    """Pick an Oxford-IIIT Pet image by breed and index, when the dataset is on disk."""
    from explorer import data, images

    items = data.pets_by_breed()
    if not items:
        st.sidebar.caption(
            "The Oxford-IIIT Pet dataset is not on disk yet (see the Training page)."
        )
        return None
    breed = st.sidebar.selectbox("Breed", sorted(items), key="sidebar_breed")
    paths = items[breed]
    idx = st.sidebar.number_input(
        f"Index (0–{len(paths) - 1})", 0, len(paths) - 1, 0, key="sidebar_pet_index"
    )
    try:
        return f"{breed} #{idx}", images.open_image(paths[int(idx)])
    except images.ImageError as exc:
        st.error(f"This Pet image cannot be used: {exc} Showing a sample image instead.")
        return None


def image_sidebar() -> None:
    """The shared image source; the result goes to session_state for the page (ui.current_image)."""
    from explorer import images
    from explorer.device import device_label

    st.sidebar.markdown(f"**Device:** {device_label()}")
    samples = images.sample_images()
    source = st.sidebar.radio(
        "Image source", ["Sample", "Upload", "Pet dataset"], horizontal=True, key="sidebar_source"
    )
    chosen: tuple[str, Image.Image] | None = None
    if source == "Upload":
        up = st.sidebar.file_uploader(
            "Your image (JPEG, PNG, WebP, GIF, BMP)",
            type=["jpg", "jpeg", "png", "webp", "gif", "bmp"],
            key="sidebar_upload",
        )
        if up is not None:
            try:
                chosen = (up.name, _decode_upload(up.getvalue()))
            except images.ImageError as exc:
                # Shown at the top of the page, where the eye is, not only beside the uploader.
                st.error(f"**{up.name}** cannot be used: {exc} Showing a sample image instead.")
        else:
            st.sidebar.caption("No file yet: the sample image is shown.")
    elif source == "Pet dataset":
        chosen = _pet_picker()
    if chosen is None:
        name = st.sidebar.selectbox("Sample photo", list(samples), key="sidebar_sample")
        chosen = (name, samples[name])
    name, img = chosen
    st.sidebar.image(
        images.preview(img), caption=f"{name} · {img.width}×{img.height}", width="stretch"
    )
    st.session_state[IMAGE_KEY] = chosen


@functools.lru_cache(maxsize=256)
def _source(obj: Callable | type) -> str | None:
    # inspect.getsource re-reads and re-parses the file: ~20 ms a call, on every rerun otherwise.
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return None


def show_code(*objects: Callable | type, label: str = "Show the code") -> None:
    """An expander with the source of the explorer functions a demo calls."""
    with st.expander(label):
        for obj in objects:
            src = _source(obj)
            if src is None:
                st.caption(f"(source of {getattr(obj, '__name__', obj)} is not available)")
            else:
                st.code(src, language="python")


@contextmanager
def user_errors(what: str = "This step") -> Iterator[None]:
    """Show an error a person can cause (a `UserError`, or running out of memory) as one sentence.

    Anything else is a bug: it propagates, so Streamlit reports it and the tests fail on it.
    """
    from explorer.errors import UserError

    try:
        yield
    except UserError as exc:
        st.error(f"{what} failed: {exc}")
    except (MemoryError, RuntimeError) as exc:
        # torch.OutOfMemoryError is a RuntimeError; other RuntimeErrors are bugs and re-raised.
        if not (isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()):
            raise
        st.error(f"{what} failed: ran out of memory. Try a smaller image, size or batch.")
