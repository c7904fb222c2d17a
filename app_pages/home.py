"""Home: what each page teaches, and what this installation can do right now."""

from __future__ import annotations

import streamlit as st

import ui
from explorer import overview
from explorer.status import install_status

st.title("CNN Explorer")
st.markdown(
    "Click through **fast.ai Lesson 6**: how data augmentation makes free extra data, what a "
    "convolution really computes, how a pretrained resnet34 is fine-tuned on 37 cat and dog "
    "breeds, and where the trained network looks when it decides. Every picture here is "
    "computed live by the functions in `explorer/`, which you can also call from a notebook."
)

name, img = ui.current_image()


@st.cache_data(show_spinner="Drawing the page previews…", max_entries=4)
def _thumbs(_img, key: tuple):
    return overview.thumbnails(_img)


with ui.user_errors("Drawing the previews"):
    thumbs = _thumbs(img, (name, img.size, img.resize((16, 16)).tobytes()))
    cols = st.columns(4)
    for col, card in zip(cols, overview.PAGES, strict=True):
        with col, st.container(border=True):
            st.image(thumbs[card.key], width="stretch")
            st.page_link(card.path, label=card.title, icon=card.icon)
            st.caption(card.teaches)


def checkpoint_line(c: dict) -> str:
    """One checkpoint as a person wants it: what it is and how good it got."""
    history = c.get("history") or []
    err = history[-1].get("error_rate") if history else None
    parts = [
        str(c.get("arch", "?")),
        f"{len(c.get('classes') or [])} classes",
        f"{c.get('size', '?')} px",
    ]
    if err is not None:
        parts.append(f"error rate {err:.1%}")
    if c.get("complete") is False:
        parts.append("stopped early")
    return f"{c['name']} ({', '.join(parts)})"


st.subheader("This installation")
with ui.user_errors("Reading the installation's state"):
    s = install_status()
    pets = s.pets
    pets_line = {
        "ready": f"on disk ({pets['n_images']:,} images)",
        "partial": f"incomplete ({pets['n_images']:,} of {pets['expected']:,} images): "
        "download it again from the Training page",
        "missing": "not downloaded (about 800 MB; the Training page can fetch it)",
    }[pets["state"]]
    good = [c for c in s.checkpoints if "error" not in c]
    rows = {
        "Device": s.device
        + ("" if s.cuda else " — training runs, slowly; the other pages are fine"),
        "Python · torch · torchvision": f"{s.python} · {s.torch} · {s.torchvision}",
        "Oxford-IIIT Pet dataset": pets_line,
        "Checkpoints in weights/": "; ".join(checkpoint_line(c) for c in good)
        or "none yet (train one on the Training page)",
        "ImageNet resnet34 weights": "cached"
        if s.imagenet_cached
        else "not cached "
        "(downloaded on first use when online; offline the pages use random or your own weights)",
    }
    st.table({"Part": list(rows), "State": list(rows.values())})
    broken = [c for c in s.checkpoints if "error" in c]
    for c in broken:
        st.warning(f"Checkpoint `{c['name']}` cannot be used: {c['error']}")
