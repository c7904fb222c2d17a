"""Streamlit helpers shared by the pages: the sidebar image, error display, "show the code";
`ui.state` keeps each page's settings across page switches and in the URL.

Pages import this package; `explorer/` never does (the backend stays UI-free).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from PIL import Image

IMAGE_KEY = "sidebar_image"  # session_state slot app.py fills before every page run
LABEL_KEY = "sidebar_label"  # what is known about that image: {"label", "box", "source"} or None
SOURCES = ["Sample", "Upload", "Pet dataset", "Shapes", "Validation"]
SHAPES_SIZE, SHAPES_PER_CLASS, SHAPES_SEED = 224, 8, 1234  # the sidebar's shapes (not a run's)


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


def current_label() -> dict | None:
    """What the sidebar knows about the chosen image: {"label": true class name, "box": the
    object's box (x0, y0, x1, y1) in the image's pixels or None, "source": where it came from},
    or None when nothing is known (a sample photo, an upload)."""
    return st.session_state.get(LABEL_KEY)


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


@st.cache_resource(show_spinner="Drawing shapes…", max_entries=1)
def _sidebar_shapes() -> object:
    from explorer.shapes import SHAPE_CLASSES, make_shapes

    return make_shapes(len(SHAPE_CLASSES) * SHAPES_PER_CLASS, size=SHAPES_SIZE, seed=SHAPES_SEED)


def _shapes_picker() -> tuple[tuple[str, Image.Image], dict]:
    """A synthetic shape (offline, always): its class and object box are known."""
    from explorer import images
    from explorer.shapes import SHAPE_CLASSES

    sd: Any = _sidebar_shapes()
    shape = st.sidebar.selectbox("Shape", SHAPE_CLASSES, key="sidebar_shape")
    idx = st.sidebar.number_input(
        f"Example (0–{SHAPES_PER_CLASS - 1})", 0, SHAPES_PER_CLASS - 1, 0, key="sidebar_shape_index"
    )
    which = (sd.labels == SHAPE_CLASSES.index(shape)).nonzero().flatten()
    i = int(which[int(idx)])
    img = images.to_image(sd.images[i].float() / 255)
    info = {"label": shape, "box": [float(v) for v in sd.boxes[i]], "source": "shapes"}
    return (f"{shape} #{idx}", img), info


@st.cache_resource(show_spinner="Rebuilding the run's validation set…", max_entries=2)
def _validation(config_json: str) -> object:
    import json

    from explorer import interpret

    return interpret.validation_set(json.loads(config_json))


def _validation_picker() -> tuple[tuple[str, Image.Image], dict] | None:
    """A validation image of a checkpoint's run, with its true label (the run's own split)."""
    import json

    from explorer import models

    runs = [c for c in models.list_checkpoints() if isinstance(c.get("config"), dict)]
    runs = [c for c in runs if "error" not in c and c["config"].get("data")]
    if not runs:
        st.sidebar.caption("No checkpoint of a training run yet (see the Training page).")
        return None
    names = [c["name"] for c in runs]
    name = st.sidebar.selectbox("Checkpoint", names, key="sidebar_valid_ckpt")
    config = next(c["config"] for c in runs if c["name"] == name)
    with user_errors("Rebuilding the validation set"):
        vs: Any = _validation(json.dumps(config, sort_keys=True))
        idx = int(
            st.sidebar.number_input(
                f"Validation image (0–{len(vs) - 1})", 0, len(vs) - 1, 0, key="sidebar_valid_index"
            )
        )
        label = vs.classes[vs.labels[idx]]
        info = {"label": label, "box": vs.box(idx), "source": f"validation:{name}"}
        return (f"{name} valid #{idx} ({label})", vs.image(idx)), info
    return None


def image_sidebar() -> None:
    """The shared image source; the result goes to session_state for the page (ui.current_image)
    and what is known about it (its true label, its object's box) to `current_label()`."""
    from explorer import images
    from explorer.device import device_label

    st.sidebar.markdown(f"**Device:** {device_label()}")
    samples = images.sample_images()
    source = st.sidebar.radio("Image source", SOURCES, horizontal=True, key="sidebar_source")
    chosen: tuple[str, Image.Image] | None = None
    info: dict | None = None
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
        if chosen is not None:
            info = {"label": chosen[0].split(" #")[0], "box": None, "source": "pets"}
    elif source == "Shapes":
        chosen, info = _shapes_picker()
    elif source == "Validation":
        picked = _validation_picker()
        if picked is not None:
            chosen, info = picked
    if chosen is None:
        name = st.sidebar.selectbox("Sample photo", list(samples), key="sidebar_sample")
        chosen, info = (name, samples[name]), None
    name, img = chosen
    st.sidebar.image(
        images.preview(img), caption=f"{name} · {img.width}×{img.height}", width="stretch"
    )
    st.session_state[IMAGE_KEY] = chosen
    st.session_state[LABEL_KEY] = info


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
