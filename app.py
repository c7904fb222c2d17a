"""CNN Explorer: routes to the pages and draws the sidebar every page shares."""

from __future__ import annotations

import streamlit as st

import ui
from explorer import images
from explorer.device import device_label

st.set_page_config(page_title="CNN Explorer", page_icon="🔎", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/augment.py", title="Augmentation", icon="🎛️"),
    st.Page("pages/convolve.py", title="Convolution", icon="🧮"),
    st.Page("pages/train.py", title="Training", icon="🏋️"),
    st.Page("pages/heatmap.py", title="Heatmap", icon="🔥"),
]
pg = st.navigation(pages)


@st.cache_data(show_spinner=False, max_entries=8)
def _decode_upload(data: bytes) -> images.Image.Image:
    return images.open_image(data)


def _pet_picker() -> tuple[str, images.Image.Image] | None:
    """Pick an Oxford-IIIT Pet image by breed and index, when the dataset is on disk."""
    from explorer import data

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
        st.sidebar.error(str(exc))
        return None


def sidebar() -> None:
    """The shared image source; the result goes to session_state for the page (ui.current_image)."""
    st.sidebar.markdown(f"**Device:** {device_label()}")
    samples = images.sample_images()
    source = st.sidebar.radio(
        "Image source", ["Sample", "Upload", "Pet dataset"], horizontal=True, key="sidebar_source"
    )
    chosen: tuple[str, images.Image.Image] | None = None
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
                st.sidebar.error(f"{exc} Showing the sample image instead.")
        else:
            st.sidebar.caption("No file yet: the sample image is shown.")
    elif source == "Pet dataset":
        chosen = _pet_picker()
    if chosen is None:
        name = st.sidebar.selectbox("Sample photo", list(samples), key="sidebar_sample")
        chosen = (name, samples[name])
    name, img = chosen
    st.sidebar.image(img, caption=f"{name} · {img.width}×{img.height}", width="stretch")
    st.session_state[ui.IMAGE_KEY] = chosen


sidebar()
pg.run()
