"""Augmentation page: every fastai v1 transform and padding mode on the sidebar photo, drawn as a
3×3 grid like the lesson's `plot_multi` (every drawn value on hover), plus the same draw under three
paddings, a list of transforms, one resample against a chain, the composed matrix and export code.
Every setting lives in the URL and survives a page switch; settings files load and save as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import streamlit as st
import torch

import ui
import ui.state
from app_pages import augment_batch as batch
from explorer import augment as aug
from explorer import images
from explorer.padding import PADDING_HELP, PADDING_MODES
from explorer.plots import augment as plots
from ui.tiles import data_url, tile_grid

PAGE = "augment"  # url_path
Photo = images.Image.Image
N_TILES = 9
SIZES = [64, 96, 128, 160, 224, 288, 352]
GRID_LINES = 11  # lines of the sampling lattice drawn over the photo
VIEWS = [
    "Same draw, three paddings",
    "Matrix & sampling grid",
    "Batch & A/B",
    "With a library",
    "Export",
]


@dataclass(frozen=True)
class Knob:
    """One settings widget: which AugSettings field it sets and how it is drawn."""

    field: str
    label: str
    help: str
    lo: float | None = None  # None: a toggle
    hi: float | None = None
    step: float | None = None
    low_field: str | None = None  # a two-handle slider: its low end sets this field (None = fixed)


def _p(field: str, label: str, help: str = "") -> Knob:
    """A probability slider."""
    return Knob(field, label, help, 0.0, 1.0, 0.05)


GROUPS: dict[str, tuple[str, list[Knob]]] = {
    "Flip & dihedral": (
        "Mirror the picture; with vertical flips allowed, any of the 8 flips/quarter turns.",
        [
            Knob("do_flip", "flip", "Flip at all (fastai's do_flip)."),
            Knob("flip_vert", "vertical flips too (dihedral)", "Allow all 8 flips and 90° turns."),
            _p("p_flip", "p(flip left-right)", "fastai uses 0.5."),
            _p("p_dihedral", "p(dihedral)", "Case 0 of 8 leaves it as is."),
        ],
    ),
    "Rotate & zoom": (
        "Turn and enlarge about a focus point; squish stretches one axis.",
        [
            Knob("max_rotate", "max rotate (°)", "Angle uniform in ±this.", 0.0, 180.0, 1.0),
            Knob("max_zoom", "max zoom", "Zoom uniform in [min, this].", 1.0, 3.0, 0.05),
            Knob("min_zoom", "min zoom (zoom_crop)", "Below 1 zooms out.", 0.1, 1.0, 0.05),
            _p("p_affine", "p(affine)", "Each of rotate, zoom, warp."),
            Knob("max_squish", "max squish", "Log-uniform in [1/m, m]; 1 = off.", 1.0, 3.0, 0.05),
            _p("p_squish", "p(squish)"),
            Knob("zoom_random", "random zoom focus (rand_zoom)", "Off: the row and column below."),
            Knob("zoom_row", "zoom focus row", "0 = top, 1 = bottom.", 0.0, 1.0, 0.05),
            Knob("zoom_col", "zoom focus column", "0 = left, 1 = right.", 0.0, 1.0, 0.05),
        ],
    ),
    "Warp": (
        "Move the corners: as if the camera looked from another angle (grid units, picture = 2).",
        [
            Knob("max_warp", "max symmetric warp", "fastai's max_warp.", 0.0, 0.9, 0.01),
            Knob("max_perspective", "max perspective warp", "Each corner alone.", 0.0, 0.9, 0.01),
            _p("p_perspective", "p(perspective)"),
            Knob("max_tilt", "max tilt", "One edge stretched.", 0.0, 0.9, 0.01),
            _p("p_tilt", "p(tilt)"),
            Knob("max_skew", "max skew", "One corner pulled.", 0.0, 0.9, 0.01),
            _p("p_skew", "p(skew)"),
            Knob("max_jitter", "max jitter", "Each pixel read from nearby.", 0.0, 0.2, 0.005),
            _p("p_jitter", "p(jitter)"),
        ],
    ),
    "Lighting": (
        "Brightness and contrast in logit space: 0.5 and 1 leave the photo unchanged.",
        [
            Knob("max_lighting", "max lighting", "fastai's max_lighting.", 0.0, 0.95, 0.01),
            _p("p_lighting", "p(lighting)", "Brightness and contrast each."),
            Knob(
                "max_brightness", "extra brightness", "brightness() in xtra_tfms", 0.0, 0.95, 0.01
            ),
            _p("p_brightness", "p(extra brightness)"),
            Knob("max_contrast", "extra contrast", "contrast() in xtra_tfms.", 0.0, 0.95, 0.01),
            _p("p_contrast", "p(extra contrast)"),
        ],
    ),
    "Crop & pad": (
        "Which square of the photo is used, and what lies beyond its edges.",
        [
            Knob("rand_crop", "random crop position", "Off: the centre (crop_pad)."),
            Knob(
                "max_resize_crop", "rand_resize_crop zoom", "Area 1/zoom; 1 = off", 1.0, 4.0, 0.05
            ),
            Knob("resize_crop_ratio", "... aspect ratio up to", "", 1.0, 2.0, 0.01),
            _p("p_resize_crop", "p(rand_resize_crop)"),
            Knob("pad", "pad (pixels)", "Filled by the padding mode.", 0, 120, 1),
            _p("p_pad", "p(pad)"),
        ],
    ),
    "Pixel": (
        "Applied last, on the finished tile.",
        [
            Knob("cutout_holes", "cutout holes (max)", "Black squares; 0 = off.", 0, 8, 1),
            Knob(
                "cutout_size",
                "cutout hole side (range)",
                "Each hole's side is drawn in this range (fraction of the tile).",
                0.05,
                0.5,
                0.01,
                low_field="cutout_size_min",
            ),
            _p("p_cutout", "p(cutout)"),
            Knob("max_rgb", "rgb_randomize level", "One channel becomes noise.", 0.0, 1.0, 0.01),
            _p("p_rgb", "p(rgb_randomize)"),
        ],
    ),
}
KNOBS = [k for _, (_, knobs) in GROUPS.items() for k in knobs]
PRESETS: dict[str, tuple[Callable[[], aug.AugSettings], str]] = {  # label: (maker, tooltip)
    "Lesson": (aug.AugSettings.lesson, "The lesson's get_transforms(max_rotate=20, ...)."),
    "fastai": (aug.AugSettings, "fastai v1's get_transforms() defaults."),  # fits at 1280 px
    "Off": (aug.AugSettings.off, "Every transform off: the centre crop only."),
}


def _key(name: str) -> str:
    return f"augment_{name}"


def _widget_values(s: aug.AugSettings) -> dict[str, Any]:
    """The widget state (key -> value) that shows settings `s` (sliders hold multiples of their
    step, so 4/3 becomes 1.33)."""
    random_focus = s.zoom_row is None or s.zoom_col is None
    focus: dict[str, Any] = {"zoom_random": random_focus}
    focus |= {"zoom_row": 0.5, "zoom_col": 0.5} if random_focus else {}
    out: dict[str, Any] = {_key("padding"): s.padding_mode, _key("size"): s.size}
    for k in KNOBS:
        v = focus[k.field] if k.field in focus else getattr(s, k.field)
        if k.step is not None:
            on_step = partial(_on_step, k.step)
            if k.low_field:
                low = getattr(s, k.low_field)
                v = (on_step(v if low is None else low), on_step(v))
            else:
                v = on_step(v)
        out[_key(k.field)] = v
    return out


def _on_step(step: float, v: float) -> float:
    return type(step)(round(round(v / step) * step, 6))


def page_settings() -> list[ui.state.Setting]:
    """Every setting of the page, for ui.state (the lesson's values are the defaults)."""
    lesson = _widget_values(aug.AugSettings.lesson())
    out = []
    for k in KNOBS:
        key = _key(k.field)
        if k.lo is None or k.hi is None:
            out.append(ui.state.flag(key, bool(lesson[key])))
        elif k.low_field:
            out.append(ui.state.number_range(key, lesson[key], k.lo, k.hi))
        else:
            whole = isinstance(k.step, int)
            default = int(lesson[key]) if whole else float(lesson[key])
            out.append(ui.state.number(key, default, k.lo, k.hi, integer=whole))
    return out + [
        ui.state.choice(_key("padding"), "reflection", PADDING_MODES),
        ui.state.choice(_key("size"), 224, SIZES),
        ui.state.number(_key("seed"), 0, 0, 1_000_000, integer=True),
        ui.state.number(_key("tile"), 0, 0, N_TILES - 1, integer=True),
        ui.state.choice(_key("view"), VIEWS[0], VIEWS),
        ui.state.choice(_key("series"), next(iter(aug.SERIES)), list(aug.SERIES)),
        ui.state.number(_key("chain_angle"), 20.0, -45.0, 45.0),
        ui.state.number(_key("chain_zoom"), 1.3, 1.0, 2.0),
        *batch.part_settings(),
    ]


def _show_settings(s: aug.AugSettings) -> None:
    """Put settings into every widget (a callback: runs before the widgets are drawn)."""
    st.session_state.update(_widget_values(s))


def _new_draw() -> None:
    st.session_state[_key("seed")] = int(st.session_state.get(_key("seed"), 0)) + 1


def _fits_widgets(s: aug.AugSettings) -> None:
    """Raise SettingsError naming the field for settings beyond this page's widgets' ranges."""
    for k in KNOBS:
        for name in (k.field, k.low_field):
            v = getattr(s, name, None) if name else None
            if k.lo is not None and v is not None and not k.lo <= v <= k.hi:
                raise aug.SettingsError(
                    f"{name} = {v:g} is outside this page's range {k.lo:g}–{k.hi:g}.", name
                )
    if s.size not in SIZES:
        raise aug.SettingsError(f"size = {s.size} is not one of this page's sizes {SIZES}.", "size")
    if (s.zoom_row is None) != (s.zoom_col is None):
        raise aug.SettingsError(
            "zoom_row and zoom_col are set together here: both numbers, or both null.", "zoom_col"
        )


def _load_settings_file() -> None:
    """The uploader's callback: a settings file replaces every widget's value, or is refused with
    one sentence (it is untrusted input) and the current settings stay."""
    upload = st.session_state.get(_key("settings_file"))
    st.session_state[_key("settings_error")] = None
    if upload is None:
        return
    try:
        s = aug.AugSettings.from_json(upload.getvalue())
        _fits_widgets(s)
    except aug.SettingsError as exc:
        st.session_state[_key("settings_error")] = f"{upload.name} was not loaded: {exc}"
        return
    _show_settings(s)


def _knob(k: Knob, why_off: str | None):
    tip = f"Does nothing now: {why_off}" if why_off else (k.help or None)
    if k.lo is None:
        return st.toggle(k.label, key=_key(k.field), help=tip, disabled=why_off is not None)
    return st.slider(
        k.label, k.lo, k.hi, step=k.step, key=_key(k.field), help=tip, disabled=why_off is not None
    )


def settings_panel(photo_square: bool) -> aug.AugSettings:
    """Presets, padding, size, seed and every transform's widgets; returns their settings."""
    st.caption("Presets")
    for col, (name, (make, tip)) in zip(st.columns(len(PRESETS)), PRESETS.items(), strict=True):
        col.button(
            name,
            key=_key("preset_" + name.lower()),
            on_click=_show_settings,
            args=(make(),),
            help=tip,
            width="stretch",
        )
    padding = st.radio(
        "Padding mode",
        PADDING_MODES,
        horizontal=True,
        key=_key("padding"),
        help="; ".join(f"{m}: {h}" for m, h in PADDING_HELP.items()),
    )
    st.caption(f"**{padding}**: {PADDING_HELP[padding]}.")
    size = st.select_slider("Tile size (px)", SIZES, key=_key("size"))
    seed_col, draw_col = st.columns(2, vertical_alignment="bottom")
    seed_col.number_input("Seed", 0, 1_000_000, key=_key("seed"))
    draw_col.button("New draw", key=_key("new_draw"), on_click=_new_draw, width="stretch")

    now = {k.field: st.session_state[_key(k.field)] for k in KNOBS}
    inert = aug.inert_controls(now, photo_square)
    values: dict[str, Any] = {}
    for i, (group, (explain, knobs)) in enumerate(GROUPS.items()):
        with st.expander(group, expanded=i < 2):
            st.caption(explain)
            for k in knobs:
                values[k.field] = _knob(k, inert.get(k.field))
            if group == "Lighting":
                batch.lighting_curves(values["max_lighting"])
    if values.pop("zoom_random"):
        values["zoom_row"] = values["zoom_col"] = None
    for k in KNOBS:
        if k.low_field:  # (low, high): a fixed size when both ends meet
            low, values[k.field] = values[k.field]
            values[k.low_field] = low if low < values[k.field] else None
    names = {f.name for f in fields(aug.AugSettings)}
    return aug.AugSettings(
        padding_mode=padding, size=int(size), **{k: v for k, v in values.items() if k in names}
    )


def settings_file(settings: aug.AugSettings) -> None:
    """Save the settings as JSON, or load a settings file (checked field by field)."""
    with st.expander("Settings file (JSON)"):
        st.download_button(
            "Download these settings",
            settings.to_json(),
            file_name="augment-settings.json",
            mime="application/json",
            key=_key("settings_download"),
            on_click="ignore",
        )
        st.file_uploader(
            "Load settings from a JSON file",
            type=["json"],
            key=_key("settings_file"),
            on_change=_load_settings_file,
            help="Any subset of the downloaded file's fields; the rest take fastai's defaults.",
        )
    if error := st.session_state.get(_key("settings_error")):
        st.error(error)


@st.cache_data(show_spinner=False, max_entries=8)
def _working_photo(photo: Photo) -> Photo:
    """The sidebar photo shrunk (antialiased) to a short side of at most 2 × the largest tile:
    hashing a big upload for every cached call would cost more than augmenting it."""
    limit = 2 * max(SIZES)
    return images.resize_short(photo, limit) if min(photo.size) > limit else photo


@st.cache_data(show_spinner=False, max_entries=16)
def _working_tensor(photo: Photo, size: int) -> torch.Tensor:
    """The photo as a (3,H,W) tensor, shrunk (antialiased) so its short side is at most 2·size."""
    if min(photo.size) > 2 * size:
        photo = images.resize_short(photo, 2 * size)
    return images.to_tensor(photo)


@st.cache_data(show_spinner=False, max_entries=64)
def _draw(settings: aug.AugSettings, seed: int) -> aug.AugParams:
    return aug.draw(settings, N_TILES, torch.Generator().manual_seed(seed))


@st.cache_data(show_spinner=False, max_entries=32)
def _draw_and_apply(photo: Photo, settings: aug.AugSettings, seed: int) -> list[Photo]:
    """The nine tiles of this draw as images."""
    x = _working_tensor(photo, settings.size)
    tiles = aug.apply(x, _draw(settings, seed), settings.size, settings.padding_mode)
    return [images.to_image(t) for t in tiles]


@st.cache_data(show_spinner=False, max_entries=32)
def _grid_tiles(photo: Photo, settings: aug.AugSettings, seed: int) -> list[dict]:
    """What the tile grid shows: each tile as a JPEG data URL with every value drawn for it."""
    params = _draw(settings, seed)
    return [
        {
            "src": data_url(img),
            "caption": f"{i}: {params.describe(i)}",
            "title": f"Tile {i} (seed {seed})",
            "rows": [list(r) for r in aug.tile_rows(params, i)],
        }
        for i, img in enumerate(_draw_and_apply(photo, settings, seed))
    ]


@st.cache_data(show_spinner=False, max_entries=32)
def _three_paddings(photo: Photo, settings: aug.AugSettings, seed: int, tile: int) -> list[bytes]:
    """Tile `tile` of the draw rendered under each padding mode, as JPEG bytes."""
    x = _working_tensor(photo, settings.size)
    one = _draw(settings, seed)[tile]
    return [_encode(images.to_image(aug.apply(x, one, settings.size, m)[0])) for m in PADDING_MODES]


def _mosaic_png(photo: Photo, settings: aug.AugSettings, seed: int) -> bytes:
    """The grid as one PNG; only run when the download button is pressed (encoding takes ~0.2 s)."""
    tiles = _draw_and_apply(photo, settings, seed)
    stacked = torch.stack([images.to_tensor(t) for t in tiles])
    return _encode(images.to_image(aug.tile_mosaic(stacked)), "PNG")


def _encode(img: Photo, fmt: str = "JPEG") -> bytes:
    """The image as JPEG bytes (quality 90, as st.image would encode it), or as `fmt`."""
    return images.encode(img, fmt, quality=90)


@st.cache_data(show_spinner=False, max_entries=32)
def _series(photo: Photo, name: str, size: int, padding: str) -> tuple[list[bytes], list[str]]:
    params, labels = aug.magnitude_series(name)
    tiles = aug.apply(_working_tensor(photo, size), params, size, padding)
    return [_encode(images.to_image(t)) for t in tiles], labels


@st.cache_data(show_spinner=False, max_entries=8)
def _photo_source(photo: Photo, size: int) -> tuple[str, int, int]:
    """The working photo as a JPEG data URL (plotly re-encodes a PIL image as PNG) and its size."""
    shown = images.to_image(_working_tensor(photo, size))
    return data_url(shown, quality=90), *shown.size


@st.cache_data(show_spinner=False, max_entries=16)
def _lattice(photo: Photo, settings: aug.AugSettings, seed: int, tile: int) -> dict[str, object]:
    """The lattice figure as a plotly dict: building and validating it costs ~30 ms, so once."""
    x = _working_tensor(photo, settings.size)
    pts = aug.grid_in_pixels(_draw(settings, seed)[tile], (x.shape[1], x.shape[2]), GRID_LINES)
    return plots.lattice_figure(_photo_source(photo, settings.size), pts[0]).to_dict()


def _pick_tile(i: int) -> None:  # a click on a tile selects it for the inspector
    st.session_state[_key("tile")] = i


def tile_section(
    name: str,
    photo: Photo,
    settings: aug.AugSettings,
    seed: int,
    original_wh: tuple[int, int],
    model: str,
) -> None:
    """The 3×3 grid (values on hover), its shapes and the PNG download."""
    st.subheader(f"{N_TILES} draws of {name}")
    st.caption(
        "Hover a tile (or Tab to it) for every value drawn for it; click it to inspect it below. "
        + aug.ROW_HELP
    )
    tiles = _grid_tiles(photo, settings, seed)
    if model != batch.NO_MODEL:  # nothing more on a slider's path without a model
        truth = (ui.current_label() or {}).get("label")
        shown = _draw_and_apply(photo, settings, seed)
        tiles = batch.predicted(tiles, shown, photo, model, truth)
    tile_grid(
        tiles,
        key=_key("tiles"),
        selected=int(st.session_state[_key("tile")]),
        on_pick=_pick_tile,
    )
    x = _working_tensor(photo, settings.size)
    st.caption(
        f"Shapes: photo {original_wh[0]}×{original_wh[1]} → tensor (3, {x.shape[1]}, "
        f"{x.shape[2]}) → {N_TILES} parameter sets → one "
        f"sampling grid ({N_TILES}, {settings.size}, {settings.size}, 2) → one grid_sample → "
        f"tiles {(N_TILES, 3, settings.size, settings.size)}."
    )
    st.download_button(
        "Download the grid (PNG)",
        partial(_mosaic_png, photo, settings, seed),
        file_name="augment-grid.png",
        mime="image/png",
        key=_key("download"),
        on_click="ignore",
    )
    ui.show_code(aug.draw, aug.apply, aug.matrices, aug.sampling_grid)


@st.fragment
def inspector(
    named: tuple[str, Photo], settings: aug.AugSettings, seed: int, tile: int, model: str
) -> None:
    """One tile under three paddings or its matrices and lattice; a batch of pictures with A/B;
    a library's pipeline beside ours; the export code (only the open tab is computed; a tab
    switch reruns this fragment alone)."""
    photo = named[1]
    one = _draw(settings, seed)[tile]
    st.caption(f"Tile {tile}: {one.describe(0)}")
    views = (
        partial(paddings_view, photo, settings, seed, tile),
        partial(matrices_view, photo, settings, seed, tile),
        partial(batch.batch_view, named, settings, seed, model, _fits_widgets),
        lambda: batch.library_view(photo, settings, seed, _draw_and_apply(photo, settings, seed)),
        partial(batch.export_view, settings),
    )
    for tab, view in zip(st.tabs(VIEWS, key=_key("view"), on_change="rerun"), views, strict=True):
        with tab:
            if tab.open:
                view()
    ui.state.write_url(PAGE)


def paddings_view(photo: Photo, settings: aug.AugSettings, seed: int, tile: int) -> None:
    """One tile under the three padding modes."""
    shown = _three_paddings(photo, settings, seed, tile)
    for col, mode, img in zip(st.columns(3), PADDING_MODES, shown, strict=True):
        col.image(img, caption=f"{mode}: {PADDING_HELP[mode]}", width="stretch")
    st.caption(
        "The same parameters, only the padding differs. fastai found reflection best "
        "most of the time: real photos have no black borders."
    )


def matrices_view(photo: Photo, settings: aug.AugSettings, seed: int, tile: int) -> None:
    """The composed matrices of one tile and its sampling lattice over the photo."""
    one = _draw(settings, seed)[tile]
    x = _working_tensor(photo, settings.size)
    c1, c2 = st.columns(2)
    c1.markdown("**Geometry in tile units** (flip · rotate · squish · zoom · warp)")
    c1.table(plots.matrix_table(one.matrix(0)))
    c2.markdown("**Composed with the crop window**, tile → photo grid coordinates")
    c2.table(plots.matrix_table(one.matrix(0, (x.shape[1], x.shape[2]))))
    st.caption(
        "Each output pixel (x, y, 1) is multiplied by the right matrix and divided by its "
        "third coordinate (non-zero bottom row = a perspective warp): that point of the "
        "photo is sampled. One matrix, one resample."
    )
    st.plotly_chart(_lattice(photo, settings, seed, tile), width="stretch", key=_key("lattice"))
    ui.show_code(aug.square_matrices, aug.warp_matrices, aug.homography)


@st.fragment
def explorer_panel(name: str, photo: Photo, original_wh: tuple[int, int], model: str) -> None:
    """Settings and everything that depends on them; a fragment so sliders rerun only this."""
    left, right = st.columns([1, 2], gap="large")
    with left:
        settings = settings_panel(photo_square=photo.width == photo.height)
        settings_file(settings)
    # The sections below this fragment use the same size and padding. When a widget here changes
    # them, rerun the whole page, so they never show a result for settings the user no longer has.
    shared = (settings.size, settings.padding_mode)
    stale = st.session_state.get(_key("shared")) != shared
    st.session_state[_key("shared")] = shared
    if stale and not st.session_state.get(_key("full_run")):
        st.rerun(scope="app")
    seed = int(st.session_state[_key("seed")])
    with right, ui.user_errors("Augmenting the photo"):
        tile_section(name, photo, settings, seed, original_wh, model)
        st.divider()
        tile = st.slider("Tile to inspect", 0, N_TILES - 1, key=_key("tile"))
        inspector((name, photo), settings, seed, int(tile), model)
    ui.state.write_url(PAGE)


@st.fragment
def transform_list(photo: Photo, size: int, padding: str) -> None:
    """One transform at five magnitudes, like fastai's "List of transforms" docs."""
    name = st.selectbox("Transform", list(aug.SERIES), key=_key("series"))
    with ui.user_errors("The list of transforms"):
        tiles, labels = _series(photo, name, size, padding)
        for col, img, label in zip(st.columns(5), tiles, labels, strict=True):
            col.image(img, caption=label, width="stretch")
        st.caption(
            f"Padding: {padding}. Where does the photo stop being recognisable? Pick magnitudes "
            "that still look like the photos you will predict on."
        )
        ui.show_code(aug.magnitude_series)
    ui.state.write_url(PAGE)


def main() -> None:
    st.title("Augmentation")
    st.markdown(
        "fastai's `get_transforms` draws a random flip, rotation, zoom, warp and lighting change "
        "for every picture it serves, so each epoch sees a slightly different photo. Here every "
        "draw is composed into **one** sampling grid, so the photo is resampled once and stays "
        "crisp. Move a slider or press *New draw*; the defaults are the lesson's "
        "`get_transforms(max_rotate=20, max_zoom=1.3, max_lighting=0.4, max_warp=0.4, "
        "p_affine=1., p_lighting=1.)`."
    )
    ui.state.persist(PAGE, page_settings())
    photo_name, original = ui.current_image()
    if min(original.size) < 2:
        st.error(
            f"{photo_name} is {original.width}×{original.height} pixels; augmentation needs at "
            "least 2×2. Pick another image in the sidebar."
        )
        st.stop()
    photo = _working_photo(original)
    model = batch.model_picker()
    # While this flag is set the fragment below runs as part of a whole-page run, so the sections
    # after it will see its size and padding anyway; on its own reruns it must ask for a page run.
    st.session_state[_key("full_run")] = True
    explorer_panel(photo_name, photo, original.size, model)
    st.session_state[_key("full_run")] = False
    size, padding = st.session_state.get(_key("shared"), (224, "reflection"))

    st.header("List of transforms")
    transform_list(photo, size, padding)

    st.header("One resample vs a chain")
    batch.one_vs_chain(photo, size, padding)

    st.header("Does the model still see it?")
    batch.robustness_section(model, padding)


main()
