"""Heatmap: where a CNN looks. The lesson's mean-activation map, each channel, the CAM family with
how faithful each map is, maps across training and what a finished run gets wrong.

One function per section, each given what it draws. The model runs once per (image, model, layer,
size, class); the channel browser and the cell view draw cached tensors in the browser, and every
setting is kept across page switches and in the URL (ui.state).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import streamlit as st
from PIL import Image
from torch import nn

import ui
import ui.state
from explorer import data, images, models
from explorer import heatmap as hm
from explorer.device import server_device
from explorer.images import IMAGENET_MEAN, IMAGENET_STD
from explorer.plots import heatmap as plots
from ui import cellview, channels
from ui import heatmap_faith as faith
from ui import heatmap_runs as runs

PAGE = "heatmap"
RANDOM, IMAGENET, CKPT = "random", "imagenet", "ckpt:"
IMAGENET_MB = models.IMAGENET_DOWNLOAD_MB["resnet34"]  # what choosing ImageNet downloads
RANDOM_LABEL = "random weights: the map shows untrained filters"
LAYERS = {
    "0": "m[0]: the whole body, as in the lesson",
    "0.4": "m[0][4]: layer1 (stride 4)",
    "0.5": "m[0][5]: layer2 (stride 8)",
    "0.6": "m[0][6]: layer3 (stride 16)",
    "0.7": "m[0][7]: layer4 (stride 32, same tensor as m[0])",
}
MAPS = {
    "mean": "Mean activation (the lesson's first map)",
    "lesson": "Grad-CAM, lesson variant",
    "library": "Grad-CAM, library variant",  # = hm.cam_map(..., "gradcam")
    "gradcam++": "Grad-CAM++",
    "xgradcam": "XGrad-CAM",
    "hirescam": "HiResCAM",
    "layercam": "LayerCAM",
    "scorecam": "Score-CAM (slow: one forward per channel)",
    "eigencam": "Eigen-CAM (the same for every class)",
}
SAVED_AS = {**MAPS, "scorecam": "Score-CAM", "eigencam": "Eigen-CAM"}  # the download's words
MEAN_VIEW, CAM_VIEW, CHANNEL_VIEW = "Mean activation", "Grad-CAM", "Channels"
WEIGHTS_VIEW, CELL_VIEW = "Channel weights", "What a cell sees"
VIEWS = (MEAN_VIEW, CAM_VIEW, CHANNEL_VIEW, WEIGHTS_VIEW, CELL_VIEW)
INTERPOLATIONS = ("bilinear", "nearest")
PREDICTED = -1  # the class picker's "predicted class" (None would show as an empty box)
CENTRE = -1  # a cell row/column not chosen yet: the map's centre
THUMB = 128  # pixels per side of the small channel maps
MAX_CELLS = 4096  # rows/columns a URL may ask for (any real map is smaller)
MAX_CLASSES = 100_000  # a class index a URL may ask for (checked against the model's classes)
OWN_SIZE = 0  # the input size not chosen yet: the model's own (a checkpoint's, else 352)
MIN_MAP_SIZE = 96  # the smallest trained size whose last map has 3×3 cells (stride 32)


# --- models and cached results ------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def load_model(choice: str, stamp: float) -> tuple[nn.Module, dict]:
    """(model on the server's device, the CPU, in eval mode; info with classes/size/mean/std),
    one per server for every session; `stamp` changes when a checkpoint file is rewritten, so a
    retrained model is reloaded."""
    device = server_device()  # the server never initialises CUDA: the GPUs are the jobs'
    imagenet_stats = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    if choice == RANDOM:
        model = models.create_cnn("resnet34", data.PETS_BREEDS, seed=0).to(device).eval()
        classes = [f"class {i}" for i in range(data.PETS_BREEDS)]
        return model, {"classes": classes, "size": 352, **imagenet_stats}
    if choice == IMAGENET:
        model, classes = models.pretrained_classifier("resnet34")
        return model.to(device).eval(), {"classes": classes, "size": 224, **imagenet_stats}
    model, meta = models.load(choice.removeprefix(CKPT), device=device)
    return model, {
        "classes": list(meta["classes"]),
        "size": int(meta.get("size") or 224),
        "mean": list(meta.get("mean") or IMAGENET_MEAN),
        "std": list(meta.get("std") or IMAGENET_STD),
    }


@st.cache_data(show_spinner="Running the model…", max_entries=16)
def explain(
    _model: nn.Module,
    model_key: str,
    _img: Image.Image,
    img_key: str,
    size: int,
    stats: tuple,
    layer: str,
    class_idx: int | None,
) -> dict:
    """One hooked forward + backward; everything the views draw, on the CPU."""
    x, shown = hm.prepare(_img, size, stats[0], stats[1])
    c = hm.capture(_model, x, layer, class_idx)
    return {
        "key": f"{model_key}|{img_key}|{size}|{stats}|{layer}|{c.class_idx}",
        "x_shape": tuple(x.shape),
        "shown": shown,
        "acts": c.acts.float().cpu(),
        "grads": c.grads.float().cpu(),
        "logits": c.logits.float().cpu(),
        "class_idx": c.class_idx,
        "x": x.float().cpu(),
    }


@st.cache_data(show_spinner=False, max_entries=8)
def channel_payload(_res: dict, res_key: str, alpha: float, cmap: str, interp: str) -> dict:
    """The channel browser's data (sprite, picture, numbers), made once per result and look."""
    opts = {"alpha": alpha, "cmap": cmap, "interpolation": interp}
    return channels.channel_data(_res["shown"], _res["acts"], _res["grads"], opts, 0)


@st.cache_data(show_spinner=False, max_entries=8)
def cell_payload(
    _model: nn.Module, _res: dict, res_key: str, layer: str, which: str, opts: tuple
) -> dict:
    """The cell view's data: the chosen map's overlay and every cell's two boxes."""
    m = faith.the_map(_model, _res, which)
    shown = _res["shown"]
    map_hw = (int(m.shape[0]), int(m.shape[1]))
    regions = hm.cell_regions(_model, layer, (shown.height, shown.width), map_hw)
    picture = hm.overlay(shown, m, **dict(opts))
    return cellview.cell_data(picture, m, regions, (0, 0))


def image_key(name: str, img: Image.Image) -> str:
    return f"{name}:{img.size}:{hashlib.blake2b(img.tobytes(), digest_size=12).hexdigest()}"


def overlay_png(model: nn.Module, res: dict, which: str, opts: dict) -> bytes:
    """The chosen map's overlay as PNG bytes (for the download button)."""
    picture = hm.overlay(res["shown"], faith.the_map(model, res, which), **opts)
    return images.encode(picture, "PNG")


def clamp_state(key: str, lo: int, hi: int, default: int) -> None:
    """Keep a setting inside a range that changed with the layer (or give the default to a value
    still marked "not chosen"); the widget then takes its value from session_state only."""
    value = int(st.session_state.get(key, default))
    st.session_state[key] = default if value < lo and default >= lo else min(max(value, lo), hi)


# --- the model, layer and size ------------------------------------------------------------------


def model_options() -> dict[str, Any]:
    """The model picker's options, labels, default, checkpoint stamps and trained sizes."""
    checkpoints = models.list_checkpoints()
    good = [c for c in checkpoints if "error" not in c]
    cached = models.imagenet_weights_cached("resnet34")
    imagenet = "resnet34, ImageNet weights (torchvision)"
    if not cached:
        imagenet += f" — not downloaded: needs the network, ~{IMAGENET_MB} MB"
    labels = {CKPT + c["name"]: f"{c['name']} (your checkpoint)" for c in good}
    labels |= {CKPT + c["name"]: f"{c['name']} (unreadable)" for c in checkpoints if "error" in c}
    labels |= {IMAGENET: imagenet, RANDOM: f"resnet34, {RANDOM_LABEL}"}
    # The newest checkpoint whose maps have cells to tell apart (a smoke run's 32 px model makes
    # the last layer's map 1×1), else the newest at all.
    sharp = [c for c in good if int(c.get("size") or 224) >= MIN_MAP_SIZE]
    newest = (sharp or good)[0]["name"] if good else None
    default = CKPT + newest if newest else IMAGENET if cached else RANDOM
    return {
        "choices": [CKPT + c["name"] for c in checkpoints] + [IMAGENET, RANDOM],
        "labels": labels,
        "default": default,
        "cached": cached,
        "stamps": {CKPT + c["name"]: float(c.get("saved_at") or 0) for c in checkpoints},
        "sizes": {CKPT + c["name"]: int(c.get("size") or 224) for c in good},
    }


def _model_changed(sizes: dict[str, int]) -> None:
    # A new model opens at its own size (a checkpoint's, else the lesson's) and explains its own
    # predicted class. Done when a person picks it, so a link's size is not overridden.
    st.session_state["heatmap_size"] = sizes.get(st.session_state["heatmap_model"], 352)
    st.session_state["heatmap_class"] = PREDICTED


def model_section(opt: dict[str, Any]) -> tuple[str, str, int]:
    """Model, layer and input size pickers; returns (choice, layer, size)."""
    if st.session_state.get("heatmap_model") not in opt["choices"]:  # a checkpoint now gone
        st.session_state["heatmap_model"] = opt["default"]
    c1, c2, c3 = st.columns([3, 2, 1])
    choice = c1.selectbox(
        "Model",
        opt["choices"],
        format_func=opt["labels"].get,
        key="heatmap_model",
        on_change=_model_changed,
        args=(opt["sizes"],),
    )
    layer = c2.selectbox(
        "Layer", list(LAYERS), format_func=lambda k: LAYERS[k], key="heatmap_layer"
    )
    own = opt["sizes"].get(choice, 352)
    size_opts = sorted({224, 352, own})
    if st.session_state.get("heatmap_size") not in size_opts:  # OWN_SIZE, or another model's
        st.session_state["heatmap_size"] = own
    size = c3.selectbox(
        "Input size",
        size_opts,
        key="heatmap_size",
        help="224 px gives a 7×7 body map, 352 px (the lesson's) 11×11: the body divides by 32.",
    )
    if not opt["cached"]:
        c1.caption(
            "The ImageNet weights are not on this machine yet: choosing them downloads "
            f"about {IMAGENET_MB} MB from download.pytorch.org, so it needs "
            "the network (offline it says so within seconds)."
        )
    if choice == RANDOM:
        st.warning(
            f"resnet34 with {RANDOM_LABEL}. Train a model or go online for meaningful maps: "
            "offline, the Training page's **demo** recipe (synthetic shapes, ending at 96 px; "
            "about 15-25 minutes on 2 CPU cores) gives this page a model whose maps mean something."
        )
    if str(choice).startswith(CKPT) and choice in opt["sizes"] and int(size) != own:
        st.warning(
            f"This checkpoint was trained at {own} px. At {size} px every object looks "
            f"{'larger' if size > own else 'smaller'} to it than anything it learnt from, so its "
            f"predictions degrade (and may be confidently wrong); pick {own} px for its honest "
            "answer."
        )
    return str(choice), str(layer), int(size)


# --- predictions and shapes ---------------------------------------------------------------------


def untrained_note(res: dict, n_classes: int) -> str:
    """Why an untrained network is '100 % sure': say it with this image's own numbers."""
    p, lo, hi = hm.confidence(res["logits"])
    return (
        f"Random weights know nothing, yet softmax gives one class **{p:.1%}**. Nothing in an "
        "untrained network keeps its outputs small (its BatchNorm layers have never measured any "
        f"data, so they normalise nothing), so the logits here span **{lo:.0f} … {hi:.0f}**, and "
        "softmax turns gaps that large into false certainty. An honest know-nothing answer would "
        f"be 1/{n_classes} = {1 / n_classes:.1%} for every class; training is what makes these "
        "numbers mean something."
    )


def class_section(res0: dict, classes: list[str], untrained: bool) -> int:
    """The class to explain, beside the top-5 chart; returns the picked class or PREDICTED."""
    class_opts = [PREDICTED, *range(len(classes))]
    if st.session_state.get("heatmap_class") not in class_opts:
        st.session_state["heatmap_class"] = PREDICTED
    left, right = st.columns([2, 3])
    with left:
        cls = st.selectbox(
            "Explain class",
            class_opts,
            # The first option's label never changes: the browser keeps showing a stale label when
            # only the text of the selected option changes (a new image, a new prediction).
            format_func=lambda i: "the predicted class" if i == PREDICTED else f"{i}: {classes[i]}",
            key="heatmap_class",
            help="Grad-CAM differentiates this class's score; the mean activation ignores it.",
        )
        if untrained:
            st.caption(untrained_note(res0, len(classes)))
    with right:
        fig = plots.top5_chart(res0["logits"], classes, untrained)
        st.plotly_chart(fig, width="stretch", key="heatmap_top5")
    return int(cls)


def truth_text(res: dict, classes: list[str], known: dict | None) -> str | None:
    """True label vs prediction, when the sidebar knows the image's label."""
    if not known:
        return None
    (_, pred, p), true = hm.top_predictions(res["logits"], classes, 1)[0], str(known["label"])
    if true not in classes:
        return (
            f"True label **{true}** is not one of this model's {len(classes)} classes; it "
            f"predicts **{pred}** ({p:.1%})."
        )
    verdict = "right" if pred == true else "wrong"
    return f"True label **{true}** · predicted **{pred}** ({p:.1%}): **{verdict}**."


def shapes_text(res: dict) -> str:
    a, g = res["acts"], res["grads"]
    c, h, w = a.shape
    rows = [
        (
            "xb.shape",
            f"[{', '.join(map(str, res['x_shape']))}]",
            "the normalised mini-batch of one",
        ),
        ("preds.shape", f"[1, {res['logits'].numel()}]", "one score per class"),
        ("acts.shape", f"[{c}, {h}, {w}]", "the hooked layer's output"),
        ("avg_acts.shape", f"[{h}, {w}]", "acts.mean(0): the mean over channels"),
        ("grad.shape", f"[{c}, {h}, {w}]", "d preds[0, class] / d acts"),
        ("grad_chan.shape", f"[{c}]", "grad.mean(1).mean(1): one weight per channel"),
        ("mult.shape", f"[{h}, {w}]", "(acts * grad_chan[..., None, None]).mean(0)"),
    ]
    return (
        "\n".join(f"{n:<16} {'torch.Size(' + s + ')':<30}  # {why}" for n, s, why in rows)
        + f"\n# {g.numel():,} gradient values, none for parameters"
    )


def shapes_section(res: dict, name: str, size: int, layer: str, classes: list[str]) -> None:
    cls = classes[res["class_idx"]]
    st.markdown(f"**Shapes** for *{name}* at {size} px, layer `{layer}`, class *{cls}*:")
    st.code(shapes_text(res), language="python")
    map_h, map_w = res["acts"].shape[1:]
    if map_h * map_w <= 4:
        st.warning(
            f"At {size} px this layer's map is only {map_h}×{map_w}: too coarse to show where the "
            "network looks. Pick a larger input size or an earlier layer (layer1 or layer2)."
        )


# --- display settings and the view ----------------------------------------------------------------


def _map_changed() -> None:
    # The view follows the map picked for download, so what is shown is what is saved.
    view, which = st.session_state["heatmap_tab"], st.session_state["heatmap_map"]
    if which == "mean" and view == CAM_VIEW:
        st.session_state["heatmap_tab"] = MEAN_VIEW
    elif which != "mean" and view == MEAN_VIEW:
        st.session_state["heatmap_tab"] = CAM_VIEW


def sync_map_to_view() -> None:
    """The map to download follows the open view: the mean map on "Mean activation", a Grad-CAM
    variant on "Grad-CAM" (the download once saved the mean map while Grad-CAM was shown)."""
    view, which = st.session_state["heatmap_tab"], st.session_state["heatmap_map"]
    if view == MEAN_VIEW and which != "mean":
        st.session_state["heatmap_map"] = "mean"
    elif view == CAM_VIEW and which == "mean":
        st.session_state["heatmap_map"] = "lesson"


def display_section() -> tuple[dict, str, str]:
    """Opacity, colormap, interpolation, the map and the view; returns (opts, which, view)."""
    st.subheader("Display")
    d1, d2, d3, d4 = st.columns(4)
    alpha = d1.slider("Opacity (alpha)", 0.0, 1.0, step=0.05, key="heatmap_alpha")
    cmap = d2.selectbox("Colormap", hm.COLORMAPS, key="heatmap_cmap")
    interp = d3.radio("Interpolation", INTERPOLATIONS, horizontal=True, key="heatmap_interp")
    sync_map_to_view()
    which = d4.selectbox(
        "Map (CAM method) to explore and download",
        list(MAPS),
        format_func=lambda k: MAPS[k],
        key="heatmap_map",
        on_change=_map_changed,
    )
    view = st.segmented_control("View", VIEWS, required=True, key="heatmap_tab")
    return {"alpha": alpha, "cmap": cmap, "interpolation": interp}, str(which), str(view)


def page_settings(opt: dict[str, Any]) -> list[ui.state.Setting]:
    """Every setting of the page, declared once so a bad link gets one sentence. The size and
    class ranges depend on the model, so they are checked again once it is known."""
    n = ui.state.number
    sizes = sorted({OWN_SIZE, 224, 352, *opt["sizes"].values()})
    return [
        ui.state.choice("heatmap_model", opt["default"], opt["choices"]),
        ui.state.choice("heatmap_layer", "0", list(LAYERS)),
        ui.state.choice("heatmap_size", OWN_SIZE, sizes),
        n("heatmap_class", PREDICTED, PREDICTED, MAX_CLASSES, integer=True, name="class"),
        n("heatmap_alpha", 0.6, 0.0, 1.0),
        ui.state.choice("heatmap_cmap", "magma", hm.COLORMAPS),
        ui.state.choice("heatmap_interp", "bilinear", INTERPOLATIONS),
        ui.state.choice("heatmap_map", "mean", list(MAPS)),
        ui.state.choice("heatmap_tab", MEAN_VIEW, VIEWS, name="view"),
        ui.state.choice("heatmap_rank", hm.RANKINGS[0], hm.RANKINGS),
        n("heatmap_topk", 16, 1, 64, integer=True),
        n("heatmap_channel", 0, 0, 4095, integer=True),
        n("heatmap_row", CENTRE, CENTRE, MAX_CELLS, integer=True, name="row"),
        n("heatmap_col", CENTRE, CENTRE, MAX_CELLS, integer=True, name="col"),
        ui.state.flag(faith.FAITH_KEY, False, name="faith"),
        ui.state.flag("heatmap_compare", False, name="compare"),
        ui.state.flag("heatmap_compare_slow", False, name="compare_slow"),
        *runs.settings(opt),
    ]


# --- the views ------------------------------------------------------------------------------------


def mean_view(res: dict, opts: dict, size: int, model: nn.Module, classes: list[str]) -> None:
    avg = hm.heat(res["acts"], None, "mean")
    caption = f"avg_acts = acts.mean(0): {tuple(avg.shape)} stretched over {size}×{size}"
    faith.map_with_faithfulness(model, res, opts, "mean", caption, classes[res["class_idx"]])
    ui.show_code(hm.activations, hm.overlay, hm.faithfulness)


def cam_view(res: dict, opts: dict, which: str, model: nn.Module, classes: list[str]) -> None:
    if which in hm.METHOD_NOTES:
        st.markdown(hm.METHOD_NOTES[which])
    else:
        st.markdown(
            "**Lesson:** the mean over channels of activation × channel weight, negatives kept. "
            "**Library (fastai's `GradCAM`, `gradcam` here):** the sum instead of the mean, then "
            "ReLU, so only evidence *for* the class is left. Pick another method above."
        )
    m = faith.the_map(model, res, which)
    caption = f"{which}: range {float(m.min()):.3g} … {float(m.max()):.3g} · the one downloaded"
    faith.map_with_faithfulness(model, res, opts, which, caption, classes[res["class_idx"]])
    ui.show_code(hm.capture, hm.cam, hm.gradient_cam, hm.score_weights, hm.eigen_cam)


def _take_channel() -> None:
    ch = channels.chosen("heatmap_channels")
    if ch is not None:
        st.session_state["heatmap_channel"] = ch


@st.fragment
def channel_view(res: dict, opts: dict) -> None:
    """Any single channel, drawn in the browser from one sprite of all of them."""
    n = res["acts"].shape[0]
    clamp_state("heatmap_channel", 0, n - 1, 0)
    payload = channel_payload(res, res["key"], opts["alpha"], opts["cmap"], opts["interpolation"])
    data = {**payload, "channel": int(st.session_state["heatmap_channel"])}
    channels.channel_browser(data, key="heatmap_channels", on_channel=_take_channel)
    ui.state.write_url(PAGE)


@st.fragment
def grid_view(res: dict, opts: dict) -> None:
    """The top channels by the ranking picked."""
    acts, weights = res["acts"], hm.channel_weights(res["grads"])
    n = acts.shape[0]
    c1, c2 = st.columns(2)
    by = c1.radio("Rank channels by", hm.RANKINGS, horizontal=True, key="heatmap_rank")
    clamp_state("heatmap_topk", 1, min(64, n), 16)
    k = c2.slider("How many", 1, min(64, n), key="heatmap_topk")
    order = hm.rank_channels(acts, weights, by, k).tolist()
    small = res["shown"].resize((THUMB, THUMB), Image.Resampling.BILINEAR)
    st.image(
        [hm.overlay(small, acts[i], **opts) for i in order],
        caption=[f"#{i}" for i in order],
        width=THUMB,
    )
    ui.state.write_url(PAGE)


def weights_view(res: dict, opts: dict) -> None:
    weights = hm.channel_weights(res["grads"])
    top = hm.rank_channels(res["acts"], weights, "contribution", 8).tolist()
    st.plotly_chart(plots.weights_chart(weights, top), width="stretch", key="heatmap_weights")
    small = res["shown"].resize((THUMB, THUMB), Image.Resampling.BILINEAR)
    contrib = hm.contributions(res["acts"], weights)
    st.image(
        [hm.overlay(small, res["acts"][i], **opts) for i in top],
        caption=[f"#{i}: {float(contrib[i]):+.2e}" for i in top],
        width=THUMB,
    )
    st.caption("Contribution = weight × mean activation: each channel's share of the lesson's map.")
    ui.show_code(hm.channel_weights)


def _cell_clicked() -> None:
    cell = cellview.clicked("heatmap_cells")
    if cell is not None:
        st.session_state["heatmap_row"], st.session_state["heatmap_col"] = cell


def cell_text(region: hm.CellRegion, map_hw: tuple[int, int], value: float) -> str:
    (h, w), (cx0, cy0, cx1, cy1) = map_hw, region.cell_box
    fx0, fy0, fx1, fy1 = region.field_box
    return (
        f"**Cell ({region.row}, {region.col})** of the {h}×{w} map, value **{value:.4f}**.\n\n"
        f"**White box — its share of the picture:** x {cx0:.0f}–{cx1:.0f}, y {cy0:.0f}–{cy1:.0f} "
        f"({region.stride[1]} px between cells). The overlay stretches the map over the image, "
        "so this is where its colour lands.\n\n"
        f"**Dashed box — what it actually sees:** a receptive field of {region.field_size[1]}×"
        f"{region.field_size[0]} px, clipped to x {fx0:.0f}–{fx1:.0f}, y {fy0:.0f}–{fy1:.0f}. "
        "Every pixel inside can change this number; the convolutions below reach that far."
    )


@st.fragment
def cell_view(res: dict, opts: dict, model: nn.Module, layer: str, which: str) -> None:
    """Hover any cell for its region and receptive field (in the browser); click to keep it."""
    m = faith.the_map(model, res, which)
    h, w = m.shape
    clamp_state("heatmap_row", 0, h - 1, h // 2)
    clamp_state("heatmap_col", 0, w - 1, w // 2)
    left, right = st.columns([3, 2])
    with right:
        c1, c2 = st.columns(2)
        row = int(c1.number_input(f"Row (0–{h - 1})", 0, h - 1, key="heatmap_row"))
        col = int(c2.number_input(f"Column (0–{w - 1})", 0, w - 1, key="heatmap_col"))
        shown = res["shown"]
        region = hm.cell_region(model, layer, (shown.height, shown.width), (h, w), row, col)
        st.markdown(cell_text(region, (h, w), float(m[row, col])))
        st.caption("Hover over the picture to see any cell; click one (or type it) to keep it.")
    with left:
        look = tuple(sorted(opts.items()))
        payload = cell_payload(model, res, res["key"], layer, which, look)
        data = {**payload, "committed": [row, col]}
        cellview.cell_view(data, key="heatmap_cells", on_cell=_cell_clicked)
    ui.state.write_url(PAGE)


def download_section(
    model: nn.Module, res: dict, which: str, opts: dict, layer: str, size: int
) -> None:
    st.download_button(
        f"Download the {SAVED_AS[which].lower()} overlay (PNG)",
        # Made only when clicked: encoding a PNG on every rerun would slow every slider move.
        data=functools.partial(overlay_png, model, res, which, opts),
        file_name=f"heatmap-{which}-{layer}-{size}.png",
        mime="image/png",
        key="heatmap_download",
        on_click="ignore",
    )


def views_section(
    res: dict, model: nn.Module, layer: str, size: int, classes: list[str]
) -> tuple[dict, str]:
    """The display settings, the open view, and the download of the map it shows; returns the
    look and the map picked, for the sections below."""
    opts, which, view = display_section()
    with ui.user_errors(f"Drawing “{view}”"):
        if view == MEAN_VIEW:
            mean_view(res, opts, size, model, classes)
        elif view == CAM_VIEW:
            cam_view(res, opts, which, model, classes)
        elif view == CHANNEL_VIEW:
            st.markdown("Any single channel, then the top channels by the ranking you pick.")
            channel_view(res, opts)
            grid_view(res, opts)
            ui.show_code(hm.rank_channels, hm.channel_sprite)
        elif view == WEIGHTS_VIEW:
            weights_view(res, opts)
        else:
            cell_view(res, opts, model, layer, which)
            ui.show_code(hm.receptive_field, hm.cell_regions)
    download_section(model, res, which, opts, layer, size)
    return opts, which


# --- the page -------------------------------------------------------------------------------------


def main() -> None:
    st.title("Heatmap: where does the network look?")
    st.markdown(
        "The lesson hooks the output of the convolutional body `m[0]` (512 channels of 11×11 at "
        "352 px), averages the channels into one 11×11 map and lays it over the picture. Grad-CAM "
        "then weights each channel by how much the chosen class's score changes with it: the "
        "mean of that channel's gradient."
    )
    name, img = ui.current_image()
    known = ui.current_label()
    opt = model_options()
    ui.state.persist(PAGE, page_settings(opt))
    choice, layer, size = model_section(opt)
    stamp = opt["stamps"].get(choice, 0.0)
    loaded = None
    with ui.user_errors("Loading the model"):
        loaded = load_model(choice, stamp)
    if loaded is None:
        st.info("Pick another model: the untrained resnet34 always works, even offline.")
        return
    model, info = loaded
    key, stats = image_key(name, img), (tuple(info["mean"]), tuple(info["std"]))
    model_key = f"{choice}@{stamp}"
    res0 = res = None
    with ui.user_errors("Running the model"):
        res0 = explain(model, model_key, img, key, size, stats, layer, None)
    if res0 is None:
        return
    classes = info["classes"]
    truth = truth_text(res0, classes, known)
    if truth:
        st.markdown(truth)
    cls = class_section(res0, classes, untrained=choice == RANDOM)
    res = res0
    if cls not in (PREDICTED, res0["class_idx"]):
        with ui.user_errors("Computing the gradients for that class"):
            res = explain(model, model_key, img, key, size, stats, layer, cls)
    shapes_section(res, name, size, layer, classes)
    _, which = views_section(res, model, layer, size, classes)
    faith.compare_section(model, model_key, res, classes, layer, size, stats)
    runs.training_section(opt, choice, img, key, layer, which, explain_with)
    runs.interpret_section(layer, load_model)


def explain_with(choice: str, stamp: float, img: Image.Image, img_key: str, layer: str) -> tuple:
    """(result at the model's own size, info) for another model: the across-training row."""
    model, info = load_model(choice, stamp)
    stats = (tuple(info["mean"]), tuple(info["std"]))
    res = explain(model, f"{choice}@{stamp}", img, img_key, info["size"], stats, layer, None)
    return model, info, res


main()
