"""Heatmap: where a CNN looks. The lesson's mean-activation map, each channel, and Grad-CAM.

Reads widgets, calls explorer.heatmap, renders. The model runs once per (image, model, layer,
size, class); scrubbing channels or clicking cells only re-draws cached tensors.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io

import plotly.graph_objects as go
import streamlit as st
from PIL import Image

import ui
from explorer import heatmap as hm
from explorer import models
from explorer.device import default_device
from explorer.images import IMAGENET_MEAN, IMAGENET_STD

RANDOM, IMAGENET, CKPT = "random", "imagenet", "ckpt:"
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
    "library": "Grad-CAM, library variant",
}
PREDICTED = -1  # the class picker's "predicted class" (None would show as an empty box)
THUMB = 128  # pixels per side of the small channel maps


# --- models ------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def load_model(choice: str, stamp: float) -> tuple[object, dict]:
    """(model on the default device in eval mode, info with classes/size/mean/std); `stamp`
    changes when a checkpoint file is rewritten, so a retrained model is reloaded."""
    device = default_device()
    imagenet_stats = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    if choice == RANDOM:
        model = models.create_cnn("resnet34", 37, seed=0).to(device).eval()
        classes = [f"class {i}" for i in range(37)]
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
    _model,
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
        "x_shape": tuple(x.shape),
        "shown": shown,
        "acts": c.acts.float().cpu(),
        "grads": c.grads.float().cpu(),
        "logits": c.logits.float().cpu(),
        "class_idx": c.class_idx,
    }


def image_key(name: str, img: Image.Image) -> str:
    return f"{name}:{img.size}:{hashlib.blake2b(img.tobytes(), digest_size=12).hexdigest()}"


def overlay_png(res: dict, which: str, opts: dict) -> bytes:
    """The chosen map's overlay as PNG bytes (for the download button)."""
    return png_bytes(hm.overlay(res["shown"], hm.heat(res["acts"], res["grads"], which), **opts))


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def clamp_state(key: str, lo: int, hi: int, default: int) -> None:
    """Give a scrubbed widget its default, or keep its value inside a range that changed with the
    layer (the widget then takes its value from session_state only, so it is never passed one)."""
    st.session_state[key] = min(max(int(st.session_state.get(key, default)), lo), hi)


# --- views ----------------------------------------------------------------------------------------


def top5_chart(res: dict, classes: list[str], untrained: bool = False) -> go.Figure:
    top = hm.top_predictions(res["logits"], classes, k=5)
    fig = go.Figure(
        go.Bar(
            x=[p for _, _, p in top][::-1],
            y=[n for _, n, _ in top][::-1],
            orientation="h",
            text=[f"{p:.1%}" for _, _, p in top][::-1],
            marker_color="#9e9e9e" if untrained else "#cd4071",
        )
    )
    fig.update_layout(
        height=230,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Top-5 “predictions” of random weights: meaningless"
        if untrained
        else "Top-5 predictions (softmax of the logits)",
        xaxis={"range": [0, 1], "tickformat": ".0%"},
    )
    return fig


def untrained_note(res: dict, n_classes: int) -> str:
    """Why an untrained network is '100 % sure': say it with this image's own numbers."""
    logits = res["logits"]
    p = float(logits.softmax(-1).max())
    return (
        f"Random weights know nothing, yet softmax gives one class **{p:.1%}**. Nothing in an "
        "untrained network keeps its outputs small (its BatchNorm layers have never measured any data, so they normalise nothing), so "
        f"the logits here span **{float(logits.min()):.0f} … {float(logits.max()):.0f}**, and "
        "softmax turns gaps that large into false certainty. An honest know-nothing answer would be "
        f"1/{n_classes} = {1 / n_classes:.1%} for every class; training is what makes these "
        "numbers mean something."
    )


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


def image_figure(img: Image.Image, h: int, w: int, region: hm.CellRegion) -> go.Figure:
    """The overlay with one clickable dot per map cell and the chosen cell's two boxes."""
    W, H = img.size
    src = "data:image/png;base64," + base64.b64encode(png_bytes(img)).decode()
    fig = go.Figure(go.Image(source=src, hoverinfo="skip"))
    xs, ys, cd = [], [], []
    for r in range(h):
        for c in range(w):
            xs.append((c + 0.5) * W / w)
            ys.append((r + 0.5) * H / h)
            cd.append((r, c))
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            customdata=cd,
            marker={"size": max(4, min(14, 300 // max(h, w))), "color": "rgba(255,255,255,0.35)"},
            hovertemplate="cell (%{customdata[0]}, %{customdata[1]})<extra></extra>",
        )
    )
    x0, y0, x1, y1 = region.field_box
    fig.add_shape(
        type="rect",
        x0=x0,
        y0=y0,
        x1=x1,
        y1=y1,
        line={"color": "#35b779", "dash": "dash", "width": 2},
    )
    x0, y0, x1, y1 = region.cell_box
    fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line={"color": "white", "width": 3})
    fig.update_layout(
        height=520,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        xaxis={"visible": False, "range": [0, W]},
        yaxis={"visible": False, "range": [H, 0]},
    )
    return fig


def _cell_clicked() -> None:
    points = st.session_state.get("heatmap_cellplot", {}).get("selection", {}).get("points", [])
    if points and points[0].get("customdata") is not None:
        r, c = points[0]["customdata"][:2]
        st.session_state["heatmap_row"], st.session_state["heatmap_col"] = int(r), int(c)


def _channel_view(res: dict, opts: dict) -> None:
    acts = res["acts"]
    n = acts.shape[0]
    clamp_state("heatmap_channel", 0, n - 1, 0)
    ch = st.slider(f"Channel (0–{n - 1})", 0, n - 1, key="heatmap_channel")
    a = acts[ch]
    left, right = st.columns([3, 2])
    with left:
        st.image(hm.overlay(res["shown"], a, **opts), width="stretch", caption=f"acts[{ch}]")
    with right:
        w = hm.channel_weights(res["grads"])[ch]
        st.markdown(
            f"**Channel {ch}** · map `{tuple(a.shape)}`  \nmean activation **{float(a.mean()):.4f}**, "
            f"max **{float(a.max()):.4f}**  \nGrad-CAM weight (mean gradient) **{float(w):.3e}**"
        )
        st.caption("Each channel is scaled to its own minimum and maximum before colouring.")


def _grid_view(res: dict, opts: dict) -> None:
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


def _cell_view(res: dict, opts: dict, model, layer: str, which: str) -> None:
    m = hm.heat(res["acts"], res["grads"], which)
    h, w = m.shape
    clamp_state("heatmap_row", 0, h - 1, h // 2)
    clamp_state("heatmap_col", 0, w - 1, w // 2)
    c1, c2 = st.columns(2)
    row = c1.number_input(f"Row (0–{h - 1})", 0, h - 1, key="heatmap_row")
    col = c2.number_input(f"Column (0–{w - 1})", 0, w - 1, key="heatmap_col")
    shown = res["shown"]
    region = hm.cell_region(model, layer, (shown.height, shown.width), (h, w), int(row), int(col))
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(
            image_figure(hm.overlay(shown, m, **opts), h, w, region),
            key="heatmap_cellplot",
            on_select=_cell_clicked,
            selection_mode="points",
            width="stretch",
        )
    with right:
        (cx0, cy0, cx1, cy1), (fx0, fy0, fx1, fy1) = region.cell_box, region.field_box
        st.markdown(
            f"**Cell ({region.row}, {region.col})** of the {h}×{w} map, value **{float(m[row, col]):.4f}**.\n\n"
            f"**White box — its share of the picture:** x {cx0:.0f}–{cx1:.0f}, y {cy0:.0f}–{cy1:.0f} "
            f"({region.stride[1]} px between cells). The overlay stretches the map over the image, so "
            "this is where its colour lands.\n\n"
            f"**Dashed box — what it actually sees:** a receptive field of {region.field_size[1]}×"
            f"{region.field_size[0]} px, clipped to x {fx0:.0f}–{fx1:.0f}, y {fy0:.0f}–{fy1:.0f}. "
            "Every pixel inside can change this number; the convolutions below reach that far."
        )
        st.caption("Click a dot on the picture, or type a row and column.")


# Fragments re-run on their own when their widgets change, outside the page's `with` blocks, so
# each catches its own errors.


@st.fragment
def channel_view(res: dict, opts: dict) -> None:
    with ui.user_errors("Drawing the channel"):
        _channel_view(res, opts)


@st.fragment
def grid_view(res: dict, opts: dict) -> None:
    with ui.user_errors("Drawing the top channels"):
        _grid_view(res, opts)


@st.fragment
def cell_view(res: dict, opts: dict, model, layer: str, which: str) -> None:
    with ui.user_errors("Locating the cell"):
        _cell_view(res, opts, model, layer, which)


# --- the page -------------------------------------------------------------------------------------

st.title("Heatmap: where does the network look?")
st.markdown(
    "The lesson hooks the output of the convolutional body `m[0]` (512 channels of 11×11 at 352 px), "
    "averages the channels into one 11×11 map and lays it over the picture. Grad-CAM then weights "
    "each channel by how much the chosen class's score changes with it: the mean of that channel's "
    "gradient."
)
name, img = ui.current_image()

checkpoints = models.list_checkpoints()
good = [c for c in checkpoints if "error" not in c]
choices = [CKPT + c["name"] for c in checkpoints] + [IMAGENET, RANDOM]
labels = {CKPT + c["name"]: f"{c['name']} (your checkpoint)" for c in good}
labels |= {CKPT + c["name"]: f"{c['name']} (unreadable)" for c in checkpoints if "error" in c}
labels |= {
    IMAGENET: "resnet34, ImageNet weights (torchvision)",
    RANDOM: f"resnet34, {RANDOM_LABEL}",
}
if good:
    default = CKPT + good[0]["name"]
elif models.imagenet_weights_cached("resnet34"):
    default = IMAGENET
else:
    default = RANDOM
stamps = {CKPT + c["name"]: float(c.get("saved_at") or 0) for c in checkpoints}

c1, c2, c3 = st.columns([3, 2, 1])
choice = c1.selectbox(
    "Model", choices, index=choices.index(default), format_func=labels.get, key="heatmap_model"
)
layer = c2.selectbox("Layer", list(LAYERS), format_func=LAYERS.get, key="heatmap_layer")
sizes = {CKPT + c["name"]: int(c.get("size") or 224) for c in good}
size_opts = sorted({224, 352, sizes.get(choice, 352)})
if st.session_state.get("heatmap_for_model") != choice:
    # A new model opens at its own size (a checkpoint's, else the lesson's) and explains its own
    # predicted class. Set through session_state, not popped: a widget whose state is merely
    # dropped keeps showing its old value in the browser while the page uses another.
    st.session_state["heatmap_for_model"] = choice
    st.session_state["heatmap_size"] = sizes.get(choice, 352)
    st.session_state["heatmap_class"] = PREDICTED
size = c3.selectbox(
    "Input size",
    size_opts,
    key="heatmap_size",
    help="224 px gives a 7×7 body map, 352 px (the lesson's) 11×11: the body divides by 32.",
)
if choice == RANDOM:
    st.warning(f"resnet34 with {RANDOM_LABEL}. Train a model or go online for meaningful maps.")

model = info = None
with ui.user_errors("Loading the model"):
    model, info = load_model(choice, stamps.get(choice, 0.0))
if model is None:
    st.info("Pick another model: the untrained resnet34 always works, even offline.")
    st.stop()

res0 = None
key = image_key(name, img)
stats = (tuple(info["mean"]), tuple(info["std"]))
with ui.user_errors("Running the model"):
    res0 = explain(model, f"{choice}@{stamps.get(choice, 0.0)}", img, key, size, stats, layer, None)
if res0 is None:
    st.stop()

classes = info["classes"]
class_opts = [PREDICTED, *range(len(classes))]
if st.session_state.get("heatmap_class") not in class_opts:
    st.session_state["heatmap_class"] = PREDICTED
pred = res0["class_idx"]

untrained = choice == RANDOM
left, right = st.columns([2, 3])
with left:
    cls = st.selectbox(
        "Explain class",
        class_opts,
        # The first option's label never changes: the browser keeps showing a stale label when
        # only the text of the selected option changes (a new image, a new prediction).
        format_func=lambda i: "the predicted class" if i == PREDICTED else f"{i}: {classes[i]}",
        key="heatmap_class",
        help="Grad-CAM differentiates this class's score; the mean activation ignores the class.",
    )
    if untrained:
        st.caption(untrained_note(res0, len(classes)))
with right:
    st.plotly_chart(top5_chart(res0, classes, untrained), width="stretch", key="heatmap_top5")
res = res0
if cls != PREDICTED and cls != pred:
    with ui.user_errors("Computing the gradients for that class"):
        res = explain(
            model, f"{choice}@{stamps.get(choice, 0.0)}", img, key, size, stats, layer, cls
        )
st.markdown(
    f"**Shapes** for *{name}* at {size} px, layer `{layer}`, class *{classes[res['class_idx']]}*:"
)
st.code(shapes_text(res), language="python")
map_h, map_w = res["acts"].shape[1:]
if map_h * map_w <= 4:
    st.warning(
        f"At {size} px this layer's map is only {map_h}×{map_w}: too coarse to show where the "
        "network looks. Pick a larger input size or an earlier layer (layer1 or layer2)."
    )

st.subheader("Display")
d1, d2, d3, d4 = st.columns(4)
alpha = d1.slider("Opacity (alpha)", 0.0, 1.0, 0.6, 0.05, key="heatmap_alpha")
cmap = d2.selectbox("Colormap", hm.COLORMAPS, key="heatmap_cmap")
interp = d3.radio("Interpolation", ["bilinear", "nearest"], horizontal=True, key="heatmap_interp")
which = d4.selectbox(
    "Map to explore and download", list(MAPS), format_func=MAPS.get, key="heatmap_map"
)
opts = {"alpha": alpha, "cmap": cmap, "interpolation": interp}

# Only the open tab is drawn (its overlays are the slow part of a rerun); switching tabs reruns.
tab_mean, tab_cam, tab_ch, tab_w, tab_cell = st.tabs(
    ["Mean activation", "Grad-CAM", "Channels", "Channel weights", "What a cell sees"],
    key="heatmap_tab",
    on_change="rerun",
)

if tab_mean.open:
    with tab_mean, ui.user_errors("Drawing the mean activation"):
        avg = hm.heat(res["acts"], None, "mean")
        st.image(
            hm.overlay(res["shown"], avg, **opts),
            width="stretch",
            caption=f"avg_acts = acts.mean(0): {tuple(avg.shape)} stretched over {size}×{size}",
        )
        ui.show_code(hm.activations, hm.overlay)

if tab_cam.open:
    with tab_cam, ui.user_errors("Drawing Grad-CAM"):
        st.markdown(
            "**Lesson:** the mean over channels of activation × channel weight, negatives kept. "
            "**Library (fastai's `GradCAM`):** the sum instead of the mean, then ReLU, so only "
            "evidence *for* the class is left."
        )
        cols = st.columns(2)
        for col, variant in zip(cols, hm.VARIANTS, strict=True):
            m = hm.cam(res["acts"], res["grads"], variant)
            col.image(
                hm.overlay(res["shown"], m, **opts),
                width="stretch",
                caption=f"{variant}: range {float(m.min()):.3g} … {float(m.max()):.3g}",
            )
        ui.show_code(hm.capture, hm.hooked, hm.cam)

if tab_ch.open:
    with tab_ch, ui.user_errors("Drawing the channels"):
        st.markdown("Any single channel, then the top channels by the ranking you pick.")
        channel_view(res, opts)
        grid_view(res, opts)
        ui.show_code(hm.rank_channels)

if tab_w.open:
    with tab_w, ui.user_errors("Drawing the channel weights"):
        weights = hm.channel_weights(res["grads"])
        top = hm.rank_channels(res["acts"], weights, "contribution", 8).tolist()
        colors = ["#cd4071" if i in top else "#7f7f7f" for i in range(weights.numel())]
        fig = go.Figure(
            go.Bar(x=list(range(weights.numel())), y=weights.tolist(), marker_color=colors)
        )
        fig.update_layout(
            height=260,
            margin={"l": 10, "r": 10, "t": 30, "b": 10},
            title="grad_chan: each channel's mean gradient (top 8 contributors in pink)",
            xaxis_title="channel",
            yaxis_title="weight",
        )
        st.plotly_chart(fig, width="stretch", key="heatmap_weights")
        small = res["shown"].resize((THUMB, THUMB), Image.Resampling.BILINEAR)
        contrib = hm.contributions(res["acts"], weights)
        st.image(
            [hm.overlay(small, res["acts"][i], **opts) for i in top],
            caption=[f"#{i}: {float(contrib[i]):+.2e}" for i in top],
            width=THUMB,
        )
        st.caption(
            "Contribution = weight × mean activation: each channel's share of the lesson's map."
        )
        ui.show_code(hm.channel_weights)

if tab_cell.open:
    with tab_cell, ui.user_errors("Locating the cell"):
        cell_view(res, opts, model, layer, which)
        ui.show_code(hm.receptive_field, hm.cell_region)

with ui.user_errors("Preparing the download"):
    st.download_button(
        f"Download the {MAPS[which].lower()} overlay (PNG)",
        # Made only when clicked: encoding a PNG on every rerun would slow every slider move.
        data=functools.partial(overlay_png, res, which, opts),
        file_name=f"heatmap-{which}-{layer}-{size}.png",
        mime="image/png",
        key="heatmap_download",
        on_click="ignore",
    )
