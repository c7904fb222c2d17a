"""Augmentation page, second part (imported by app_pages/augment.py, not a page of its own): a batch
of different pictures with one draw each (like fastai's show_batch) and settings A against B, the
exported pipelines run beside ours, the model's predictions on tiles and its robustness strip, and
the lighting transfer curves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
import torch

import ui
import ui.state
from explorer import augment as aug
from explorer import images, models
from explorer.augment import sources
from explorer.plots import augment as plots
from ui.tiles import data_url, tile_grid

PAGE = "augment"
Photo = images.Image.Image
SOURCES = ("Sidebar image and samples", "My uploads", "Oxford-IIIT Pet", "Shapes")
NO_MODEL = "No predictions"
IMAGENET = "ImageNet resnet34"
ROBUST_TRANSFORMS = [n for n in aug.SERIES if n != "dihedral"]  # dihedral cases are not a scale
WORKING_SIDE = 704  # pictures are shrunk to this short side (2 × the largest tile) once
MAX_BATCH = 16  # pictures in a batch (and uploads decoded) at most
Fits = Callable[[aug.AugSettings], None]  # the page's own range check for loaded settings
B_PRESETS: dict[str, Callable[[], aug.AugSettings]] = {
    "Lesson": aug.AugSettings.lesson,
    "fastai": aug.AugSettings,  # get_transforms() defaults
    "Off": aug.AugSettings.off,
}


def _key(name: str) -> str:
    return f"augment_{name}"


def part_settings() -> list[ui.state.Setting]:
    """This part's settings, for the page's ui.state.persist (URL and page switches)."""
    return [
        ui.state.choice(_key("batch_source"), SOURCES[0], list(SOURCES)),
        ui.state.number(_key("batch_n"), 8, 2, MAX_BATCH, integer=True),
        ui.state.flag(_key("ab"), False),
        ui.state.choice(_key("library"), "torchvision", list(aug.RUNNABLE_TARGETS)),
        ui.state.text(_key("model"), NO_MODEL),
        ui.state.choice(_key("robust_transform"), "rotate", ROBUST_TRANSFORMS),
        ui.state.number(_key("robust_n"), 32, 8, 256, integer=True),
        ui.state.flag(_key("curves"), False),
    ]


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Model:
    """A classifier with what predicting needs: class names, normalisation, input size."""

    net: torch.nn.Module
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    size: int
    meta: dict[str, Any]

    @property
    def version(self) -> str:
        """Which weights these are, for per-result caches (a retrained checkpoint differs)."""
        return f"{self.meta.get('name', IMAGENET)}@{self.meta.get('saved_at', 0)}"


def model_options() -> list[str]:
    """No model, every readable checkpoint, and ImageNet's resnet34 when its weights are cached."""
    names = [c["name"] for c in models.list_checkpoints() if "error" not in c]
    imagenet = [IMAGENET] if models.imagenet_weights_cached("resnet34") else []
    return [NO_MODEL, *names, *imagenet]


@st.cache_resource(show_spinner="Loading the model…", max_entries=2)
def load_model(name: str, saved_at: float) -> Model:
    """The checkpoint `name` (saved_at keys the cache: a retrained checkpoint loads again)."""
    if name == IMAGENET:
        net, classes = models.pretrained_classifier("resnet34")
        return Model(net, classes, images.IMAGENET_MEAN, images.IMAGENET_STD, 224, {})
    net, meta = models.load(name)
    meta = {**meta, "name": name}
    mean = tuple(meta.get("mean", images.IMAGENET_MEAN))
    std = tuple(meta.get("std", images.IMAGENET_STD))
    return Model(net, list(meta["classes"]), mean, std, int(meta.get("size", 224)), meta)  # type: ignore[arg-type]


def _saved_at(name: str) -> float:
    rows = [c for c in models.list_checkpoints() if c.get("name") == name]
    return float(rows[0].get("saved_at", 0.0)) if rows else 0.0


def model_picker() -> str:
    """Which model predicts on the tiles (a page-level widget: a change reruns every section)."""
    options = model_options()
    wanted = st.session_state.get(_key("model"))
    if wanted not in options:
        st.session_state[_key("model")] = NO_MODEL
        if isinstance(wanted, str) and wanted != NO_MODEL:  # e.g. from a link, or broken since
            why = [c["error"] for c in models.list_checkpoints() if c.get("name") == wanted]
            st.warning(
                f"The model {wanted!r} cannot be used here"
                + (f" ({why[0]})" if why else ": there is no such checkpoint")
                + ", so the tiles show no predictions."
            )
    return st.selectbox(
        "Predictions on tiles",
        options,
        key=_key("model"),
        help="A checkpoint from the Training page (or ImageNet's resnet34 when cached) labels "
        "every tile; tiles whose label differs from the un-augmented picture's are flagged.",
    )


def current_model(name: str) -> Model | None:
    return None if name == NO_MODEL else load_model(name, _saved_at(name))


@st.cache_data(show_spinner=False, max_entries=32)
def _marks(
    _model: Model, version: str, tiles: list[Photo], originals: list[Photo], truth: list
) -> list[aug.TileMark]:
    """Each tile's prediction against its un-augmented picture's (one original, or one per tile)."""
    m = _model
    x = torch.stack([images.to_tensor(t) for t in tiles])
    ref = torch.stack([sources.centre_square(o, x.shape[-1]) for o in originals])
    pred = aug.predict(m.net, x, m.mean, m.std, size=m.size)
    base = aug.predict(m.net, ref, m.mean, m.std, size=m.size)
    return aug.tile_marks(pred, base, m.classes, truth if any(truth) else None)


def with_marks(tiles: list[dict], marks: list[aug.TileMark]) -> list[dict]:
    """Tiles with their prediction first in the caption, flagged where the label flipped."""
    out = []
    for t, m in zip(tiles, marks, strict=True):
        warn = "⚠ " if m.flipped else ""
        out.append(
            t
            | {
                "caption": f"{warn}{m.text} · {t['caption']}",
                "flag": m.flipped,
                "rows": [["prediction", m.detail, m.flipped], *t["rows"]],
            }
        )
    return out


def predicted(
    tiles: list[dict], shown: list[Photo], photo: Photo, model_name: str, truth: str | None
) -> list[dict]:
    """The 9-draws grid's tiles, labelled by the model (unchanged without one, or when the model
    cannot be used: then one sentence says why and the grid still shows)."""
    with ui.user_errors("Predicting"):
        model = current_model(model_name)
        if model is not None:
            marks = _marks(model, model.version, shown, [photo], [truth] * len(shown))
            return with_marks(tiles, marks)
    return tiles


# ------------------------------------------------------------------ a batch of pictures


@st.cache_data(show_spinner=False, max_entries=8)
def _uploads(files: tuple[tuple[str, bytes], ...]) -> sources.Pictures:
    return _shrunk(sources.from_files(list(files), limit=MAX_BATCH))


@st.cache_data(show_spinner=False, max_entries=8)
def _pictures(source: str, n: int, sidebar: tuple[str, Photo]) -> sources.Pictures:
    if source == SOURCES[0]:
        return _shrunk(sources.from_samples(sidebar))
    if source == "Shapes":
        return sources.from_shapes(n, size=192, seed=0)
    return _shrunk(sources.from_pets(n, seed=0))


def _shrunk(p: sources.Pictures) -> sources.Pictures:
    """Big photos shrunk once: every later cached call hashes these pictures."""
    small = [
        images.resize_short(im, WORKING_SIDE) if min(im.size) > WORKING_SIDE else im
        for im in p.images
    ]
    return sources.Pictures(p.names, small, p.labels, p.problems)


@st.cache_data(show_spinner=False, max_entries=16)
def _batch(pics: sources.Pictures, settings: aug.AugSettings, seed: int) -> tuple[list, list]:
    """(tile images, tile dicts) of one draw per picture, for the tile grid."""
    xs = []
    for im in pics.images:
        if min(im.size) > 2 * settings.size:
            im = images.resize_short(im, 2 * settings.size)
        xs.append(images.to_tensor(im))
    tiles, params = aug.augment_batch(xs, settings, torch.Generator().manual_seed(seed))
    shown = [images.to_image(t) for t in tiles]
    dicts = []
    for i, (img, name, label) in enumerate(zip(shown, pics.names, pics.labels, strict=True)):
        dicts.append(
            {
                "src": data_url(img),
                "caption": f"{name}{f' ({label})' if label else ''}: {params.describe(i)}",
                "title": f"{name}, draw {i} (seed {seed})",
                "rows": [list(r) for r in aug.tile_rows(params, i)],
            }
        )
    return shown, dicts


def _batch_pictures(sidebar: tuple[str, Photo], n: int) -> sources.Pictures | None:
    source = st.radio("Pictures", SOURCES, horizontal=True, key=_key("batch_source"))
    if source == "My uploads":
        files = st.file_uploader(
            "Your pictures (JPEG, PNG, WebP, GIF, BMP)",
            type=["jpg", "jpeg", "png", "webp", "gif", "bmp"],
            accept_multiple_files=True,
            key=_key("batch_files"),
        )
        if not files:
            st.info("Upload a few of your own pictures to see them as a training batch.")
            return None
        pics = _uploads(tuple((f.name, f.getvalue()) for f in files))
    else:
        pics = _pictures(source, n, sidebar)
    for problem in pics.problems:
        st.warning(problem)
    keep = min(n, len(pics.images))
    return sources.Pictures(
        pics.names[:keep], pics.images[:keep], pics.labels[:keep], pics.problems
    )


def _grid(
    pics: sources.Pictures, s: aug.AugSettings, seed: int, model: str, key: str, cols: int
) -> None:
    shown, tiles = _batch(pics, s, seed)
    with ui.user_errors("Predicting"):
        m = current_model(model)
        if m is not None:
            tiles = with_marks(tiles, _marks(m, m.version, shown, pics.images, pics.labels))
    tile_grid(tiles, key=key, columns=cols)


def batch_view(
    sidebar: tuple[str, Photo], settings: aug.AugSettings, seed: int, model: str, fits: Fits
) -> None:
    """A batch of different pictures, one draw each; with A/B, settings B beside them."""
    # a tab's widgets lose their state while another tab is open: give it back from the store
    ui.state.persist(PAGE, part_settings())
    n = st.slider("Pictures in the batch", 2, MAX_BATCH, key=_key("batch_n"))
    with ui.user_errors("Loading the pictures"):
        pics = _batch_pictures(sidebar, int(n))
        if pics is None:
            return
        ab = st.toggle("Compare with settings B (A/B)", key=_key("ab"))
        if not ab:
            st.caption("Each picture gets its own draw, as in a training batch (show_batch).")
            _grid(pics, settings, seed, model, _key("batch_tiles"), 4)
            return
        b = settings_b(settings, fits)
        diff = settings.differences(b)
        if diff:
            shown = [(name, _text(va), _text(vb)) for name, va, vb in diff]
            st.table({k: [row[i] for row in shown] for i, k in enumerate(("setting", "A", "B"))})
        else:
            st.caption("A and B are the same settings.")
        left, right = st.columns(2)
        with left:
            st.markdown("**A**: the settings on the left")
            _grid(pics, settings, seed, model, _key("a_tiles"), 2)
        with right:
            st.markdown("**B**")
            _grid(pics, b, seed, model, _key("b_tiles"), 2)
        st.caption(f"The same pictures and seed ({seed}); only the settings differ.")
    ui.show_code(aug.augment_batch, aug.AugSettings.differences)


def _text(v: object) -> str:
    """A setting's value for the A/B table (4 significant digits; one type per column)."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _set_b(s: aug.AugSettings) -> None:
    st.session_state[_key("b_json")] = s.to_json()
    st.session_state[_key("b_error")] = None


def _load_b(fits: Fits) -> None:
    """The B uploader's callback: a settings file becomes B, or is refused naming the field."""
    upload = st.session_state.get(_key("b_file"))
    st.session_state[_key("b_error")] = None
    if upload is None:
        return
    try:
        s = aug.AugSettings.from_json(upload.getvalue())
        fits(s)
    except aug.SettingsError as exc:
        st.session_state[_key("b_error")] = f"{upload.name} was not loaded as B: {exc}"
        return
    _set_b(s)


def settings_b(a: aug.AugSettings, fits: Fits) -> aug.AugSettings:
    """Settings B: from a preset, a copy of A or a JSON file; both downloadable."""
    if _key("b_json") not in st.session_state:
        _set_b(aug.AugSettings())  # fastai's defaults against the lesson's
    cols = st.columns(len(B_PRESETS) + 1)
    cols[0].button("B = A", key=_key("b_copy"), on_click=_set_b, args=(a,), width="stretch")
    for col, (name, make) in zip(cols[1:], B_PRESETS.items(), strict=True):
        col.button(
            f"B = {name}",
            key=_key(f"b_{name.lower()}"),
            on_click=_set_b,
            args=(make(),),
            width="stretch",
        )
    b = aug.AugSettings.from_json(st.session_state[_key("b_json")])
    st.file_uploader(
        "Load B from a JSON settings file",
        type=["json"],
        key=_key("b_file"),
        on_change=_load_b,
        args=(fits,),
    )
    if error := st.session_state.get(_key("b_error")):
        st.error(error)
    down_a, down_b = st.columns(2)
    for col, s, name in ((down_a, a, "a"), (down_b, b, "b")):
        col.download_button(
            f"Download {name.upper()} (JSON)",
            s.to_json(),
            file_name=f"augment-settings-{name}.json",
            mime="application/json",
            key=_key(f"download_{name}"),
            on_click="ignore",
        )
    return b


# ------------------------------------------------------------------ other libraries


@st.cache_data(show_spinner=False, max_entries=16)
def _rendered(photo: Photo, settings: aug.AugSettings, target: str, seed: int) -> Photo:
    if min(photo.size) > 2 * settings.size:
        photo = images.resize_short(photo, 2 * settings.size)
    tiles = aug.render_export(settings, target, images.to_tensor(photo), 9, seed)
    return images.to_image(aug.tile_mosaic(tiles))


def library_view(photo: Photo, settings: aug.AugSettings, seed: int, ours: list[Photo]) -> None:
    """The exported pipeline of torchvision, albumentations or kornia beside ours, with notes."""
    ui.state.persist(PAGE, part_settings())  # as in batch_view
    target = st.radio("Library", aug.RUNNABLE_TARGETS, horizontal=True, key=_key("library"))
    with ui.user_errors(f"Running the {target} pipeline"):
        theirs = _rendered(photo, settings, target, seed)
        mine = images.to_image(aug.tile_mosaic(torch.stack([images.to_tensor(t) for t in ours])))
        left, right = st.columns(2)
        left.image(mine, caption="ours: one resample, lighting in logit space", width="stretch")
        right.image(theirs, caption=f"{target}: its own draws (seed {seed})", width="stretch")
        code, notes = aug.export(settings, target)
        st.markdown("**What has no exact equivalent**" if notes else "Every setting carries over.")
        for note in notes:
            st.caption(f"• {note}")
        with st.expander(f"The {target} code"):
            st.code(code, language="python")
    ui.show_code(aug.render_export, aug.export)


def export_view(settings: aug.AugSettings) -> None:
    """The same settings as code for every library the export knows."""
    for target in aug.EXPORT_TARGETS:
        code, notes = aug.export(settings, target)
        st.markdown(f"**{target}**")
        st.code(code, language="python")
        for note in notes:
            st.caption(f"• {note}")


# ------------------------------------------------------------------ lighting curves


@st.cache_data(show_spinner=False, max_entries=32)
def _curves(m: float) -> dict[str, object]:
    return plots.lighting_figure(*aug.lighting_curves(m)).to_dict()


def lighting_curves(m: float) -> None:
    """Next to the Lighting sliders: our transfer functions against ColorJitter's (on request, so
    the sliders' reruns stay fast)."""
    if st.toggle("Show the transfer curves", key=_key("curves")):
        st.plotly_chart(_curves(float(m)), width="stretch", key=_key("curves_plot"))
        st.caption(
            f"max_lighting = {m:g}: solid = ours (logit space, black and white stay put), dotted ="
            f" torchvision ColorJitter(brightness={m:g}, contrast={m:g}), linear and clipped."
        )


# ------------------------------------------------------------------ robustness


@st.cache_data(show_spinner="Measuring…", max_entries=16)
def _sweep(_m: Model, version: str, name: str, n: int, padding: str) -> aug.Sweep:
    mags = aug.sweep_magnitudes(name)
    if _m.meta:  # a checkpoint: its own validation images
        x, y = sources.validation_set(_m.meta, n, _m.size)
    else:  # ImageNet: the sample photos, labelled by the model's own un-augmented prediction
        pics = sources.from_samples()
        x = torch.stack([sources.centre_square(im, _m.size) for im in pics.images])
        y = aug.predict(_m.net, x, _m.mean, _m.std).label
    return aug.robustness(_m.net, x, y, name, mags, _m.mean, _m.std, _m.size, padding)


@st.fragment
def robustness_section(model_name: str, padding: str) -> None:
    """Accuracy against one transform's magnitude: where the picture stops being recognisable."""
    model = None
    with ui.user_errors("Loading the model"):
        model = current_model(model_name)
    if model is None and model_name != NO_MODEL:
        return
    if model is None:
        st.info("Pick a model under *Predictions on tiles* to measure where it stops seeing.")
        return
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    name = c1.selectbox("Transform", ROBUST_TRANSFORMS, key=_key("robust_transform"))
    n = c2.slider("Validation images", 8, 256, step=8, key=_key("robust_n"))
    if c3.button("Measure", key=_key("robust_run"), width="stretch"):
        st.session_state[_key("robust_on")] = True
    if st.session_state.get(_key("robust_on")):
        with ui.user_errors("Measuring robustness"):
            sweep = _sweep(model, model.version, name, int(n), padding)
            st.plotly_chart(
                plots.robustness_figure(sweep, aug.SERIES[name][1]),
                width="stretch",
                key=_key("robust_plot"),
            )
            where = (
                f"accuracy has dropped 5 points at {name} = {sweep.drop_at:.3g}"
                if sweep.drop_at is not None
                else f"accuracy never drops 5 points up to {sweep.magnitudes[-1]:g}"
            )
            truth = "their true labels" if model.meta else "its own un-augmented labels"
            st.caption(
                f"{sweep.n} images at {model.size} px, {padding} padding, against {truth}: {where}."
                " Pick magnitudes below that point."
            )
    ui.show_code(aug.robustness, aug.sweep_magnitudes, aug.drop_point)
    ui.state.write_url(PAGE)


# ------------------------------------------------------------------ one resample vs a chain


@st.cache_data(show_spinner=False, max_entries=16)
def _tensor(photo: Photo, size: int) -> torch.Tensor:
    """The photo as a (3,H,W) tensor, shrunk (antialiased) so its short side is at most 2·size."""
    if min(photo.size) > 2 * size:
        photo = images.resize_short(photo, 2 * size)
    return images.to_tensor(photo)


def _jpeg(t: torch.Tensor) -> bytes:
    return images.encode(images.to_image(t), "JPEG", quality=90)


@st.cache_data(show_spinner=False, max_entries=16)
def _one_vs_chain(
    photo: Photo, angle: float, zoom: float, size: int, padding: str
) -> dict[str, tuple[bytes, float]]:
    x = _tensor(photo, size)
    ref = aug.reference_resample(x, angle, zoom, size, padding)
    ours = aug.affine_resample(x, angle, zoom, size, padding)
    chain = aug.chain_resample(x, angle, zoom, size, padding)
    return {
        "ours": (_jpeg(ours), aug.psnr(ours, ref)),
        "chain": (_jpeg(chain), aug.psnr(chain, ref)),
        "reference": (_jpeg(ref), float("inf")),
    }


@st.fragment
def one_vs_chain(photo: Photo, size: int, padding: str) -> None:
    """The crispness claim: one resample against three, both against a supersampled reference."""
    c1, c2 = st.columns(2)
    angle = c1.slider("Rotate (°)", -45.0, 45.0, step=1.0, key=_key("chain_angle"))
    zoom = c2.slider("Zoom", 1.0, 2.0, step=0.05, key=_key("chain_zoom"))
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
    ui.state.write_url(PAGE)
