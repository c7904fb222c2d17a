"""Augmentation page: every fastai v1 transform and padding mode on the sidebar photo, drawn as a
3×3 grid like the lesson's `plot_multi`, plus the same draw under three paddings, a list of
transforms, one resample against a chain, the composed matrix and exportable code.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, fields
from functools import partial

import plotly.graph_objects as go
import streamlit as st
import torch

import ui
from explorer import augment as aug
from explorer import images

N_TILES = 9
SIZES = [64, 96, 128, 160, 224, 288, 352]
GRID_LINES = 11  # lines of the sampling lattice drawn over the photo


@dataclass(frozen=True)
class Knob:
    """One settings widget: which AugSettings field it sets and how it is drawn."""

    field: str
    label: str
    help: str
    lo: float | None = None  # None: a toggle
    hi: float | None = None
    step: float | None = None


GROUPS: dict[str, tuple[str, list[Knob]]] = {
    "Flip & dihedral": (
        "Mirror the picture; with vertical flips allowed, any of the 8 flips/quarter turns.",
        [
            Knob("do_flip", "flip", "Flip at all (fastai's do_flip)."),
            Knob("flip_vert", "vertical flips too (dihedral)", "Allow all 8 flips and 90° turns."),
            Knob("p_flip", "p(flip left-right)", "fastai uses 0.5.", 0.0, 1.0, 0.05),
            Knob("p_dihedral", "p(dihedral)", "Case 0 of 8 leaves it as is.", 0.0, 1.0, 0.05),
        ],
    ),
    "Rotate & zoom": (
        "Turn and enlarge about a focus point; squish stretches one axis.",
        [
            Knob("max_rotate", "max rotate (°)", "Angle uniform in ±this.", 0.0, 180.0, 1.0),
            Knob("max_zoom", "max zoom", "Zoom uniform in [1, this].", 1.0, 3.0, 0.05),
            Knob("p_affine", "p(affine)", "Each of rotate, zoom, warp.", 0.0, 1.0, 0.05),
            Knob(
                "max_squish",
                "max squish",
                "Log-uniform in [1/this, this]; 1 = off.",
                1.0,
                3.0,
                0.05,
            ),
            Knob("p_squish", "p(squish)", "", 0.0, 1.0, 0.05),
        ],
    ),
    "Warp": (
        "Move the corners: as if the camera looked from another angle (grid units, picture = 2).",
        [
            Knob("max_warp", "max symmetric warp", "fastai's max_warp.", 0.0, 0.9, 0.01),
            Knob("max_perspective", "max perspective warp", "Each corner alone.", 0.0, 0.9, 0.01),
            Knob("p_perspective", "p(perspective)", "", 0.0, 1.0, 0.05),
            Knob("max_tilt", "max tilt", "One edge stretched.", 0.0, 0.9, 0.01),
            Knob("p_tilt", "p(tilt)", "", 0.0, 1.0, 0.05),
            Knob("max_skew", "max skew", "One corner pulled.", 0.0, 0.9, 0.01),
            Knob("p_skew", "p(skew)", "", 0.0, 1.0, 0.05),
            Knob("max_jitter", "max jitter", "Each pixel read from nearby.", 0.0, 0.2, 0.005),
            Knob("p_jitter", "p(jitter)", "", 0.0, 1.0, 0.05),
        ],
    ),
    "Lighting": (
        "Brightness and contrast in logit space: 0.5 and 1 leave the photo unchanged.",
        [
            Knob("max_lighting", "max lighting", "fastai's max_lighting.", 0.0, 0.95, 0.01),
            Knob("p_lighting", "p(lighting)", "Brightness and contrast each.", 0.0, 1.0, 0.05),
            Knob(
                "max_brightness",
                "extra brightness",
                "brightness(...) in xtra_tfms.",
                0.0,
                0.95,
                0.01,
            ),
            Knob("p_brightness", "p(extra brightness)", "", 0.0, 1.0, 0.05),
            Knob("max_contrast", "extra contrast", "contrast(...) in xtra_tfms.", 0.0, 0.95, 0.01),
            Knob("p_contrast", "p(extra contrast)", "", 0.0, 1.0, 0.05),
        ],
    ),
    "Crop & pad": (
        "Which square of the photo is used, and what lies beyond its edges.",
        [
            Knob("rand_crop", "random crop position", "Off: the centre (crop_pad)."),
            Knob(
                "max_resize_crop", "rand_resize_crop zoom", "Area 1/zoom; 1 = off.", 1.0, 4.0, 0.05
            ),
            Knob("resize_crop_ratio", "... aspect ratio up to", "", 1.0, 2.0, 0.01),
            Knob("p_resize_crop", "p(rand_resize_crop)", "", 0.0, 1.0, 0.05),
            Knob("pad", "pad (pixels)", "Filled by the padding mode.", 0, 120, 1),
            Knob("p_pad", "p(pad)", "", 0.0, 1.0, 0.05),
        ],
    ),
    "Pixel": (
        "Applied last, on the finished tile.",
        [
            Knob("cutout_holes", "cutout holes (max)", "Black squares; 0 = off.", 0, 8, 1),
            Knob("cutout_size", "cutout hole side", "Fraction of the tile.", 0.05, 0.5, 0.01),
            Knob("p_cutout", "p(cutout)", "", 0.0, 1.0, 0.05),
            Knob("max_rgb", "rgb_randomize level", "One channel becomes noise.", 0.0, 1.0, 0.01),
            Knob("p_rgb", "p(rgb_randomize)", "", 0.0, 1.0, 0.05),
        ],
    ),
}
KNOBS = [k for _, (_, knobs) in GROUPS.items() for k in knobs]
PRESETS = {  # button label: (settings maker, tooltip)
    "Lesson": (aug.AugSettings.lesson, "The lesson's get_transforms(max_rotate=20, ...)."),
    "Defaults": (aug.AugSettings, "fastai v1's get_transforms() defaults."),
    "Off": (aug.AugSettings.off, "Every transform off: the centre crop only."),
}


def _key(name: str) -> str:
    return f"augment_{name}"


def _load_preset(make=aug.AugSettings.lesson) -> None:
    """Put a settings object's values into every widget (runs before the script reruns)."""
    s = make()
    for k in KNOBS:
        v = getattr(s, k.field)
        if k.step is not None:  # a slider shows multiples of its step (4/3 -> 1.33)
            v = type(k.step)(round(round(v / k.step) * k.step, 6))
        st.session_state[_key(k.field)] = v
    st.session_state[_key("zoom_random")] = s.zoom_row is None
    st.session_state.setdefault(_key("seed"), 0)


def _new_draw() -> None:
    st.session_state[_key("seed")] = int(st.session_state.get(_key("seed"), 0)) + 1


def _settings_from_widgets() -> aug.AugSettings:
    """Draw every widget and build the settings they describe."""
    if _key("max_rotate") not in st.session_state:
        _load_preset()
    st.caption("Presets")
    cols = st.columns(len(PRESETS))
    for col, (name, (make, tip)) in zip(cols, PRESETS.items(), strict=True):
        col.button(
            name,
            key=_key("preset_" + name.lower()),
            on_click=_load_preset,
            args=(make,),
            help=tip,
            width="stretch",
        )
    padding = st.radio(
        "Padding mode",
        aug.PADDING_MODES,
        index=2,
        horizontal=True,
        key=_key("padding"),
        help="; ".join(f"{m}: {h}" for m, h in aug.PADDING_HELP.items()),
    )
    st.caption(f"**{padding}**: {aug.PADDING_HELP[padding]}.")
    size = st.select_slider("Tile size (px)", SIZES, value=224, key=_key("size"))
    seed_col, draw_col = st.columns(2, vertical_alignment="bottom")
    seed_col.number_input("Seed", 0, 1_000_000, key=_key("seed"))
    draw_col.button("New draw", key=_key("new_draw"), on_click=_new_draw, width="stretch")

    values: dict[str, object] = {}
    for i, (group, (explain, knobs)) in enumerate(GROUPS.items()):
        with st.expander(group, expanded=i < 2):
            st.caption(explain)
            for k in knobs:
                if k.lo is None:
                    values[k.field] = st.toggle(k.label, key=_key(k.field), help=k.help or None)
                else:
                    values[k.field] = st.slider(
                        k.label, k.lo, k.hi, step=k.step, key=_key(k.field), help=k.help or None
                    )
            if group == "Rotate & zoom":
                random_focus = st.toggle("random zoom focus (rand_zoom)", key=_key("zoom_random"))
                if not random_focus:
                    values["zoom_row"] = st.slider(
                        "zoom focus row", 0.0, 1.0, 0.5, 0.05, key=_key("zoom_row")
                    )
                    values["zoom_col"] = st.slider(
                        "zoom focus column", 0.0, 1.0, 0.5, 0.05, key=_key("zoom_col")
                    )
    names = {f.name for f in fields(aug.AugSettings)}
    return aug.AugSettings(
        padding_mode=padding, size=int(size), **{k: v for k, v in values.items() if k in names}
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _working_photo(photo: images.Image.Image) -> images.Image.Image:
    """The sidebar photo shrunk (antialiased) to a short side of at most 2 × the largest tile.

    Hashing a big upload for every cached call would cost more than the augmentation itself, so
    only this call sees the original; everything else gets the small copy.
    """
    limit = 2 * max(SIZES)
    return images.resize_short(photo, limit) if min(photo.size) > limit else photo


@st.cache_data(show_spinner=False, max_entries=16)
def _working_tensor(photo: images.Image.Image, size: int) -> torch.Tensor:
    """The photo as a (3,H,W) tensor, shrunk (antialiased) so its short side is at most 2·size."""
    if min(photo.size) > 2 * size:
        photo = images.resize_short(photo, 2 * size)
    return images.to_tensor(photo)


def _tile_images(tiles: torch.Tensor) -> list[images.Image.Image]:
    return [images.to_image(t) for t in tiles]


@st.cache_data(show_spinner=False, max_entries=32)
def _draw_and_apply(
    photo: images.Image.Image, settings: aug.AugSettings, seed: int
) -> tuple[aug.AugParams, list[images.Image.Image]]:
    """The drawn parameters and the tiles as ready images (a rerun that keeps the settings, e.g.
    picking another tile to inspect, converts nothing)."""
    x = _working_tensor(photo, settings.size)
    params = aug.draw(settings, N_TILES, torch.Generator().manual_seed(seed))
    return params, _tile_images(aug.apply(x, params, settings.size, settings.padding_mode))


@st.cache_data(show_spinner=False, max_entries=32)
def _three_paddings(
    photo: images.Image.Image, settings: aug.AugSettings, seed: int, tile: int
) -> list[images.Image.Image]:
    """Tile `tile` of the current draw rendered under each padding mode."""
    params, _ = _draw_and_apply(photo, settings, seed)
    x = _working_tensor(photo, settings.size)
    one = params[tile]
    return [images.to_image(aug.apply(x, one, settings.size, m)[0]) for m in aug.PADDING_MODES]


def _mosaic_png(tiles: list[images.Image.Image]) -> bytes:
    """The grid as one PNG; only run when the download button is pressed (encoding takes ~0.2 s)."""
    stacked = torch.stack([images.to_tensor(t) for t in tiles])
    return _png(images.to_image(aug.tile_mosaic(stacked)))


@st.cache_data(show_spinner=False, max_entries=32)
def _series(
    photo: images.Image.Image, name: str, size: int, padding: str
) -> tuple[list[images.Image.Image], list[str]]:
    params, labels = aug.magnitude_series(name)
    return _tile_images(aug.apply(_working_tensor(photo, size), params, size, padding)), labels


@st.cache_data(show_spinner=False, max_entries=16)
def _one_vs_chain(
    photo: images.Image.Image, angle: float, zoom: float, size: int, padding: str
) -> dict[str, tuple[images.Image.Image, float]]:
    x = _working_tensor(photo, size)
    ref = aug.reference_resample(x, angle, zoom, size, padding)
    ours = aug.affine_resample(x, angle, zoom, size, padding)
    chain = aug.chain_resample(x, angle, zoom, size, padding)
    return {
        "ours": (images.to_image(ours), aug.psnr(ours, ref)),
        "chain": (images.to_image(chain), aug.psnr(chain, ref)),
        "reference": (images.to_image(ref), float("inf")),
    }


def _png(img: images.Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=8)
def _photo_source(photo: images.Image.Image, size: int) -> tuple[str, int, int]:
    """The working photo as a JPEG data URI (plotly would re-encode a PIL image as PNG on every
    rerun) and its width and height."""
    shown = images.to_image(_working_tensor(photo, size))
    buf = io.BytesIO()
    shown.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode(), *shown.size


def _lattice_figure(source: tuple[str, int, int], pts: torch.Tensor) -> go.Figure:
    """The photo with the tile's sampling lattice drawn over it (rows red, columns yellow)."""
    uri, w, h = source
    xs, ys = pts[..., 0].tolist(), pts[..., 1].tolist()

    def polylines(lines_x: list[list[float]], lines_y: list[list[float]], color: str) -> go.Scatter:
        # all lines in one trace, separated by None: one trace validates ~20× faster than 11
        flat_x = [v for line in lines_x for v in (*line, None)]
        flat_y = [v for line in lines_y for v in (*line, None)]
        return go.Scatter(x=flat_x, y=flat_y, mode="lines", line=dict(color=color, width=1))

    corners = [(0, 0), (0, -1), (-1, -1), (-1, 0), (0, 0)]
    border = go.Scatter(
        x=[xs[r][c] for r, c in corners],
        y=[ys[r][c] for r, c in corners],
        mode="lines",
        line=dict(color="cyan", width=3),
        name="tile border",
    )
    columns_x = [[row[c] for row in xs] for c in range(len(xs[0]))]
    columns_y = [[row[c] for row in ys] for c in range(len(ys[0]))]
    fig = go.Figure(
        [
            go.Image(source=uri, hoverinfo="skip"),
            polylines(xs, ys, "red"),
            polylines(columns_x, columns_y, "yellow"),
            border,
        ]
    )
    pad = 0.25 * max(h, w)  # room for a lattice that reaches into the padding
    fig.update_xaxes(range=[-pad, w + pad], visible=False)
    fig.update_yaxes(range=[h + pad, -pad], visible=False, scaleanchor="x")
    fig.update_layout(showlegend=False, height=420, margin=dict(l=0, r=0, t=0, b=0))
    return fig


def _matrix_table(m: torch.Tensor) -> list[list[str]]:
    return [[f"{v:+.4f}" for v in row] for row in m.tolist()]


@st.fragment
def explorer_panel(name: str, photo: images.Image.Image, original_wh: tuple[int, int]) -> None:
    """Settings and everything that depends on them; a fragment so sliders rerun only this."""
    left, right = st.columns([1, 2], gap="large")
    with left:
        settings = _settings_from_widgets()
    # The sections below this fragment use the same size and padding. When a widget here changes
    # them, rerun the whole page, so they never show a result for settings the user no longer has.
    shared = (settings.size, settings.padding_mode)
    stale = st.session_state.get(_key("shared")) != shared
    st.session_state[_key("shared")] = shared
    if stale and not st.session_state.get(_key("full_run")):
        st.rerun(scope="app")
    with right, ui.user_errors("Augmenting the photo"):
        x = _working_tensor(photo, settings.size)
        seed = int(st.session_state[_key("seed")])
        params, tiles = _draw_and_apply(photo, settings, seed)
        st.subheader(f"{N_TILES} draws of {name}")
        for r in range(3):
            cols = st.columns(3)
            for c in range(3):
                i = 3 * r + c
                cols[c].image(tiles[i], caption=f"{i}: {params.describe(i)}", width="stretch")
        st.caption(
            f"Shapes: photo {original_wh[0]}×{original_wh[1]} → tensor (3, {x.shape[1]}, "
            f"{x.shape[2]}) → {N_TILES} parameter sets → one "
            f"sampling grid ({N_TILES}, {settings.size}, {settings.size}, 2) → one grid_sample → "
            f"tiles {(N_TILES, 3, settings.size, settings.size)}."
        )
        st.download_button(
            "Download the grid (PNG)",
            partial(_mosaic_png, tiles),
            file_name="augment-grid.png",
            mime="image/png",
            key=_key("download"),
            on_click="ignore",
        )
        ui.show_code(aug.draw, aug.apply, aug.matrices, aug.sampling_grid)

        st.divider()
        tile = st.slider("Tile to inspect", 0, N_TILES - 1, 0, key=_key("tile"))
        one = params[tile]
        st.caption(one.describe(0))
        pad_tab, matrix_tab, export_tab = st.tabs(
            ["Same draw, three paddings", "Matrix & sampling grid", "Export"]
        )
        with pad_tab:
            shown = _three_paddings(photo, settings, seed, tile)
            for col, mode, img in zip(st.columns(3), aug.PADDING_MODES, shown, strict=True):
                col.image(img, caption=f"{mode}: {aug.PADDING_HELP[mode]}", width="stretch")
            st.caption(
                "The same parameters, only the padding differs. fastai found reflection best most "
                "of the time: real photos have no black borders."
            )
        with matrix_tab:
            square = one.matrix(0)
            full = one.matrix(0, (x.shape[1], x.shape[2]))
            c1, c2 = st.columns(2)
            c1.markdown("**Geometry in tile units** (flip · rotate · squish · zoom · warp)")
            c1.table(_matrix_table(square))
            c2.markdown("**Composed with the crop window**, tile → photo grid coordinates")
            c2.table(_matrix_table(full))
            st.caption(
                "Each output pixel (x, y, 1) is multiplied by the right matrix and divided by its "
                "third coordinate (non-zero bottom row = a perspective warp): that point of the "
                "photo is sampled. One matrix, one resample."
            )
            pts = aug.grid_in_pixels(one, (x.shape[1], x.shape[2]), GRID_LINES)[0]
            st.plotly_chart(
                _lattice_figure(_photo_source(photo, settings.size), pts),
                width="stretch",
                key=_key("lattice"),
            )
            ui.show_code(aug.square_matrices, aug.warp_matrices, aug.homography)
        with export_tab:
            for title, fn, lang in (
                ("fastai v1", aug.fastai_v1_code, "python"),
                ("fastai v2", aug.fastai_v2_code, "python"),
                ("torchvision v2 (nearest)", aug.torchvision_code, "python"),
            ):
                code, notes = fn(settings)
                st.markdown(f"**{title}**")
                st.code(code, language=lang)
                for note in notes:
                    st.caption(f"• {note}")


@st.fragment
def transform_list(photo: images.Image.Image, size: int, padding: str) -> None:
    """One transform at five magnitudes, like fastai's "List of transforms" docs."""
    name = st.selectbox("Transform", list(aug.SERIES), index=0, key=_key("series"))
    with ui.user_errors("The list of transforms"):
        tiles, labels = _series(photo, name, size, padding)
        for col, img, label in zip(st.columns(5), tiles, labels, strict=True):
            col.image(img, caption=label, width="stretch")
        st.caption(
            f"Padding: {padding}. Where does the photo stop being recognisable? Pick magnitudes "
            "that still look like the photos you will predict on."
        )
        ui.show_code(aug.magnitude_series)


@st.fragment
def one_vs_chain(photo: images.Image.Image, size: int, padding: str) -> None:
    """The crispness claim: one resample against three, both against a supersampled reference."""
    c1, c2 = st.columns(2)
    angle = c1.slider("Rotate (°)", -45.0, 45.0, 20.0, 1.0, key=_key("chain_angle"))
    zoom = c2.slider("Zoom", 1.0, 2.0, 1.3, 0.05, key=_key("chain_zoom"))
    with ui.user_errors("The resample comparison"):
        shown = _one_vs_chain(photo, angle, zoom, size, padding)
        cols = st.columns(3)
        (ours, p_ours), (chain, p_chain) = shown["ours"], shown["chain"]
        cols[0].image(ours, caption=f"one resample: PSNR {p_ours:.1f} dB", width="stretch")
        cols[1].image(
            chain,
            caption=f"crop → rotate → zoom, 3 resamples: PSNR {p_chain:.1f} dB",
            width="stretch",
        )
        cols[2].image(
            shown["reference"][0], caption="reference (4×4 supersampled)", width="stretch"
        )
        st.caption(
            "Each bilinear resample blurs a little more. The chain's rotation also only sees the "
            "square already cropped: at large angles and small zooms its corners fill with "
            "padding where one resample still finds photo."
        )
        ui.show_code(aug.affine_resample, aug.chain_resample, aug.reference_resample, aug.psnr)


st.title("Augmentation")
st.markdown(
    "fastai's `get_transforms` draws a random flip, rotation, zoom, warp and lighting change for "
    "every picture it serves, so each epoch sees a slightly different photo. Here every draw is "
    "composed into **one** sampling grid, so the photo is resampled once and stays crisp. Move a "
    "slider or press *New draw*; the defaults are the lesson's "
    "`get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4, max_warp=0.4, p_affine=1., "
    "p_lighting=1.)`."
)
photo_name, original = ui.current_image()
if min(original.size) < 2:
    st.error(
        f"{photo_name} is {original.width}×{original.height} pixels; augmentation needs at least "
        "2×2. Pick another image in the sidebar."
    )
    st.stop()
photo = _working_photo(original)
# While this flag is set the fragment below runs as part of a whole-page run, so the sections
# after it will see its size and padding anyway; on its own reruns it must ask for a page run.
st.session_state[_key("full_run")] = True
explorer_panel(photo_name, photo, original.size)
st.session_state[_key("full_run")] = False
size, padding = st.session_state.get(_key("shared"), (224, "reflection"))

st.header("List of transforms")
transform_list(photo, size, padding)

st.header("One resample vs a chain")
one_vs_chain(photo, size, padding)
