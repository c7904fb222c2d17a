"""Convolution page: a 3×3 kernel walked across a small version of the sidebar photo (like setosa's
"Image Kernels"), then the whole photo, an RGB kernel, padding & stride, conv as a matrix multiply,
and the first-layer filters a network learned.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

import ui
from explorer import convolve as cv
from explorer import images

CELL_KEYS = [f"convolve_k{r}{c}" for r in range(3) for c in range(3)]
PADDINGS = ["none", *cv.PADDING_MODES]
SCALES = {"0–255 (setosa)": 255.0, "0–1 (fastai)": 1.0}
RANGES = {
    "auto (symmetric for edge kernels)": "auto",
    "clip to the input's range (setosa)": "clip",
    "symmetric around 0": "symmetric",
    "1st–99th percentile": "percentile",
}
MAX_TEXT_CELLS = 26  # above this many columns, values no longer fit inside the cells
WHOLE_MAX_SIDE = 1024  # the whole-image demo shrinks bigger photos so a rerun stays quick
PLAY_TICK_S = 0.25
PLAY_TICKS = {"slow": 120, "medium": 50, "fast": 20}  # ticks per full sweep
IMAGENET = "ImageNet resnet34"
# Weights are float32 tensors: 1e300 typed into a cell would become inf. ±1000 keeps every sum
# (27 products of at most 255) exact enough and far from overflow.
KERNEL_LIMIT = 1000.0


# --- state callbacks (run before the script, so they may set other widgets' values) -------------


def _load_preset() -> None:
    name = st.session_state["convolve_preset"]
    if name == cv.CUSTOM:
        return
    k = cv.preset_kernel(name)
    for key, v in zip(CELL_KEYS, (k if k.ndim == 2 else k[0]).flatten().tolist(), strict=True):
        st.session_state[key] = float(v)


def _to_custom() -> None:
    st.session_state["convolve_preset"] = cv.CUSTOM


def _move(delta: int, oh: int, ow: int) -> None:
    """Next/previous output pixel in reading order, wrapping at the ends."""
    i = st.session_state.get("convolve_row", 0) * ow + st.session_state.get("convolve_col", 0)
    i = (i + delta) % (oh * ow)
    st.session_state["convolve_row"], st.session_state["convolve_col"] = divmod(i, ow)


def _clicked(chart_key: str, padding: int, stride: int, oh: int, ow: int, on_input: bool) -> None:
    """A click on the input centres the window on that pixel; on the output, selects it."""
    points = st.session_state[chart_key]["selection"]["points"]
    if not points:
        return
    x, y = round(points[0]["x"]), round(points[0]["y"])
    if on_input:
        # The window centred on input (y, x) starts at y − 1, i.e. output row (y − 1 + p) / s.
        y, x = round((y - 1 + padding) / stride), round((x - 1 + padding) / stride)
    st.session_state["convolve_row"] = min(max(y, 0), oh - 1)
    st.session_state["convolve_col"] = min(max(x, 0), ow - 1)
    # A fresh chart key drops the old selection, which would otherwise be re-applied after
    # prev/next and make the window jump back to the clicked pixel.
    st.session_state["convolve_clicks"] = st.session_state.get("convolve_clicks", 0) + 1


# --- cached per-image work ------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def _grid(photo: images.Image.Image, size: int, colour: str, scale: float) -> torch.Tensor:
    return cv.stepper_grid(photo, size, colour, scale)


@st.cache_data(show_spinner=False, max_entries=8)
def _photo_tensor(photo: images.Image.Image, colour: str) -> torch.Tensor:
    t = images.to_tensor(cv.shrink(photo, WHOLE_MAX_SIDE))
    return t if colour == "rgb" else images.to_tensor(images.to_image(t).convert("L"))[0]


@st.cache_data(show_spinner=False, max_entries=8)
def _whole(
    photo: images.Image.Image,
    colour: str,
    kernel_values: list,
    padding: int,
    mode: str,
    stride: int,
    per_channel: bool,
    method: str,
) -> tuple[images.Image.Image, images.Image.Image, tuple, tuple, tuple[float, float]]:
    """Input and output as ready-to-show images (cached, so a rerun does not redraw them), their
    tensor shapes and the display range."""
    x = _photo_tensor(photo, colour)
    kernel = torch.tensor(kernel_values)  # passed as a list: cache_data cannot hash tensors
    if per_channel:
        out = cv.convolve_channels(x, kernel, padding, mode, stride)
        summed = 1
    else:
        out = cv.convolve(x, kernel, padding, mode, stride)
        summed = x.shape[0] if x.ndim == 3 else 1
    lo, hi = cv.display_range(out, method, clip=(0.0, float(summed)))
    shown = images.to_image(cv.rescale(out, lo, hi))
    return images.to_image(x), shown, tuple(x.shape), tuple(out.shape), (lo, hi)


@st.cache_data(show_spinner=False, max_entries=8)
def _padding_previews(
    photo: images.Image.Image, size: int, colour: str, scale: float, pad: int, zoom: int = 8
) -> list[images.Image.Image | str]:
    """The stepper grid padded by each mode, enlarged with sharp pixel edges, or why it can't be."""
    grid = _grid(photo, size, colour, scale)
    out: list[images.Image.Image | str] = []
    for mode in cv.PADDING_MODES:
        try:
            small = images.to_image(cv.pad(grid, pad, mode) / scale)
        except ValueError as exc:  # reflection needs more pixels than it pads
            out.append(str(exc))
            continue
        out.append(
            small.resize((small.width * zoom, small.height * zoom), images.Image.Resampling.NEAREST)
        )
    return out


@st.cache_data(show_spinner=False, max_entries=4)
def _learned(name: str, stamp: float) -> tuple[torch.Tensor, tuple, tuple]:
    """First-layer weights and normalisation stats of a checkpoint or of ImageNet resnet34.

    `stamp` is the checkpoint's saved_at time, so a re-trained checkpoint is read again.
    """
    from explorer import models

    if name == IMAGENET:
        model, _ = models.pretrained_classifier("resnet34")
        meta = {}
    else:
        model, meta = models.load(name)
    weight = cv.first_conv(model).weight.detach().cpu().clone()
    mean = tuple(meta.get("mean", images.IMAGENET_MEAN))
    std = tuple(meta.get("std", images.IMAGENET_STD))
    return weight, mean, std


def _width(shape: tuple, max_height: int = 560) -> int | str:
    """st.image width for a (…, H, W) picture: the column's width unless that would make it taller
    than `max_height` px (a 1-pixel-wide strip stretched to the column would be metres tall)."""
    h, w = shape[-2:]
    fit = max_height * w / h
    return "stretch" if fit >= 600 else max(1, round(fit))


def _image(where, img: images.Image.Image, caption: str, shape: tuple) -> None:
    """st.image at a bounded height; a narrow picture gets its caption below at full width (an
    image's own caption wraps at the image's width: one letter per line for a thin strip)."""
    width = _width(shape)
    if width == "stretch":
        where.image(img, caption=caption, width="stretch")
    else:
        where.image(img, width=width)
        where.caption(caption)


# --- figures ------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    if v == 0:
        return "0"  # never "-0" (a zero weight times a pixel)
    return f"{v:.4g}" if abs(v) >= 1e-4 else f"{v:.1e}"


def _cell(v: float) -> str:
    """A value short enough to sit inside a pixel: whole numbers from 100 up, else 3 digits."""
    return f"{v:.0f}" if abs(v) >= 100 else _fmt(float(f"{v:.3g}"))


def _rect(top: float, left: float, kh: int, kw: int, **style) -> dict:
    """A plotly rectangle around cells [top, top + kh) × [left, left + kw)."""
    return dict(
        type="rect", x0=left - 0.5, x1=left + kw - 0.5, y0=top - 0.5, y1=top + kh - 0.5, **style
    )


def _figure(traces: list, shapes: list[dict], h: int, w: int, pad: int, title: str) -> go.Figure:
    """Pixels as square cells, row 0 at the top; built in one call (plotly validates once)."""
    axis = dict(showgrid=False, zeroline=False, constrain="domain")
    layout = dict(
        title=dict(text=title, font=dict(size=13)),
        xaxis=dict(axis, range=[-pad - 0.5, w + pad - 0.5]),
        yaxis=dict(axis, range=[h + pad - 0.5, -pad - 0.5], scaleanchor="x"),
        shapes=shapes,
        height=430,
        margin=dict(l=10, r=10, t=30, b=10),
        dragmode=False,
        clickmode="event+select",
        showlegend=False,
        plot_bgcolor="white",
    )
    return go.Figure(data=traces, layout=layout)


def _click_layer(h: int, w: int, pad: int, hover: str) -> go.Scatter:
    """Invisible markers on every cell: plotly reports clicks on points, not on heatmap cells."""
    ys, xs = np.mgrid[-pad : h + pad, -pad : w + pad]
    return go.Scatter(
        x=xs.ravel(),
        y=ys.ravel(),
        mode="markers",
        marker=dict(size=6, opacity=0),
        selected=dict(marker=dict(opacity=0)),
        unselected=dict(marker=dict(opacity=0)),
        hovertemplate=hover,
        name="",
    )


def _heatmap(z: np.ndarray, lo: float, hi: float, text: list | None, **kw) -> go.Heatmap:
    return go.Heatmap(
        z=z,
        colorscale="gray",
        zmin=lo,
        zmax=hi,
        showscale=False,
        text=text,
        texttemplate="%{text}" if text else None,
        textfont=dict(size=9),
        hoverinfo="skip",
        **kw,
    )


def _input_figure(grid: torch.Tensor, pad: int, mode: str, s: cv.Step, vmax: float) -> go.Figure:
    """The grid drawn as pixels, padding included (shaded), with the window outlined."""
    shown = cv.pad(grid, pad, mode)
    h, w = grid.shape[-2:]
    if shown.ndim == 2:
        text = [[_cell(v) for v in row] for row in shown.tolist()] if w <= MAX_TEXT_CELLS else None
        pixels = _heatmap(shown.numpy(), 0, vmax, text, x0=-pad, y0=-pad)
    else:
        rgb = np.asarray(images.to_image(shown / vmax))
        pixels = go.Image(z=rgb, x0=-pad, y0=-pad, hoverinfo="skip")
    shade = dict(line=dict(width=0), fillcolor="rgba(255,165,0,0.35)")
    shapes = []
    if pad:
        shapes += [
            _rect(-pad, -pad, pad, w + 2 * pad, **shade),
            _rect(h, -pad, pad, w + 2 * pad, **shade),
            _rect(0, -pad, h, pad, **shade),
            _rect(0, w, h, pad, **shade),
        ]
    shapes.append(_rect(0, 0, h, w, line=dict(color="royalblue", width=2, dash="dot")))
    shapes.append(_rect(s.top, s.left, *s.inside.shape, line=dict(color="red", width=3)))
    click = _click_layer(h, w, pad, "input row %{y}, col %{x}<extra></extra>")
    return _figure([pixels, click], shapes, h, w, pad, "input (orange = padding)")


def _output_figure(out: torch.Tensor, row: int, col: int, lo: float, hi: float) -> go.Figure:
    """The output filled in reading order up to (row, col); the rest stays blank."""
    oh, ow = out.shape
    z = cv.filled_until(out, row, col).numpy()
    text = None
    if ow <= MAX_TEXT_CELLS:
        text = [["" if np.isnan(v) else _cell(v) for v in r] for r in z.tolist()]
    click = _click_layer(oh, ow, 0, "output row %{y}, col %{x}<extra></extra>")
    box = _rect(row, col, 1, 1, line=dict(color="red", width=3))
    return _figure([_heatmap(z, lo, hi, text), click], [box], oh, ow, 0, "output")


def _matrix_tex(t: torch.Tensor, live: torch.Tensor | None = None) -> str:
    """A 2-D tensor as a KaTeX bmatrix; cells that come from padding are orange."""
    rows = []
    for i, r in enumerate(t.tolist()):
        cells = []
        for j, v in enumerate(r):
            cell = _fmt(v)
            if live is not None and not bool(live[i, j]):
                cell = r"\color{orange}{" + cell + "}"
            cells.append(cell)
        rows.append(" & ".join(cells))
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def _equation(s: cv.Step, kernel: torch.Tensor) -> None:
    """window ⊙ kernel = products, then their sum, per channel when there are several."""
    window = s.window if s.window.ndim == 3 else s.window[None]
    products = s.products if s.products.ndim == 3 else s.products[None]
    k = kernel if kernel.ndim == 3 else kernel[None].expand(window.shape[0], -1, -1)
    names = ["R", "G", "B"] if window.shape[0] == 3 else [""]
    sums = s.channel_sums
    for c, (name, total) in enumerate(zip(names, sums, strict=True)):
        terms = " + ".join(_fmt(v) for v in products[c].flatten().tolist())
        label = rf"\text{{{name}: }}" if name else ""
        st.latex(
            label
            + _matrix_tex(window[c], s.inside)
            + r"\odot"
            + _matrix_tex(k[c])
            + "="
            + _matrix_tex(products[c])
        )
        st.latex(r"\textstyle " + terms.replace("+ -", "- ") + " = " + _fmt(total))
    if len(sums) > 1:
        st.latex(" + ".join(_fmt(v) for v in sums).replace("+ -", "- ") + " = " + _fmt(s.value))


# --- page ---------------------------------------------------------------------------------------

st.title("Convolution")
st.caption(
    "A convolution slides a small grid of weights (the kernel) over an image: at each position it "
    "multiplies the pixels under the kernel by the weights and adds them up into one output pixel."
)
photo_name, photo = ui.current_image()

if CELL_KEYS[0] not in st.session_state:
    st.session_state.setdefault("convolve_preset", cv.DEFAULT_PRESET)
    _load_preset()

# -- controls shared by the stepper, the whole image and the padding section --
st.header("Stepper")
c1, c2, c3 = st.columns([1.2, 1.2, 1.0])
with c1:
    preset = st.selectbox(
        "Kernel",
        [*cv.PRESETS, cv.CUSTOM],
        index=list(cv.PRESETS).index(cv.DEFAULT_PRESET),
        key="convolve_preset",
        on_change=_load_preset,
        help="Editing any weight switches to custom.",
    )
    st.caption(f"Weights (edit any cell, ±{KERNEL_LIMIT:g} at most):")
    for r in range(3):
        cols = st.columns(3)
        for c in range(3):
            cols[c].number_input(
                f"w{r}{c}",
                min_value=-KERNEL_LIMIT,
                max_value=KERNEL_LIMIT,
                step=0.1,
                format="%.4g",
                key=CELL_KEYS[r * 3 + c],
                on_change=_to_custom,
                label_visibility="collapsed",
            )
with c2:
    grid_size = st.slider("Grid size (pixels, long side)", 16, 48, 24, key="convolve_grid_size")
    colour = st.radio("Colour", ["grey", "rgb"], horizontal=True, key="convolve_colour")
    scale_name = st.radio("Pixel values", list(SCALES), horizontal=True, key="convolve_scale")
    range_name = st.selectbox("Output display range", list(RANGES), key="convolve_range")
with c3:
    padding_mode = st.selectbox(
        "Padding", PADDINGS, index=1, key="convolve_padding", help="none = no padding"
    )
    stride = st.radio("Stride", [1, 2], horizontal=True, key="convolve_stride")
    playing = st.toggle("Play the sweep", key="convolve_play")
    speed = st.select_slider("Speed", list(PLAY_TICKS), "medium", key="convolve_speed")
    if padding_mode == "none":
        st.caption("No padding: the output is one pixel smaller on every side.")
    else:
        st.caption(f"{padding_mode}: {cv.PADDING_HELP[padding_mode]}.")

padding = 0 if padding_mode == "none" else 1
mode = "zeros" if padding_mode == "none" else padding_mode
scale = SCALES[scale_name]
method = RANGES[range_name]
kernel2d = torch.tensor([float(st.session_state[k]) for k in CELL_KEYS]).view(3, 3)
lesson_rgb = preset == cv.LESSON_PRESET and colour == "rgb"
kernel = cv.preset_kernel(cv.LESSON_PRESET) if lesson_rgb else kernel2d
if method == "auto":
    method = cv.auto_display_method(kernel)
if preset == cv.LESSON_PRESET:
    st.caption(
        "The lesson's kernel is 3×3×3: the same 3×3 slice (shown) for red, green and blue. On a "
        "grey grid only one slice applies; switch to rgb to sum all three like `F.conv2d` does."
    )


def stepper(grid: torch.Tensor, out: torch.Tensor, kernel: torch.Tensor, tick: int) -> None:
    """The scrubbed part of the page; a fragment, so moving the window reruns only this."""
    oh, ow = out.shape
    for key, n in (("convolve_row", oh), ("convolve_col", ow)):
        st.session_state[key] = min(int(st.session_state.get(key, 0)), n - 1)
    if tick:
        _move(tick, oh, ow)
    b1, b2, s1, s2 = st.columns([0.6, 0.6, 2, 2])
    b1.button("◀ prev", key="convolve_prev", on_click=_move, args=(-1, oh, ow))
    b2.button("next ▶", key="convolve_next", on_click=_move, args=(1, oh, ow))
    with s1:
        if oh > 1:
            st.slider("Output row", 0, oh - 1, key="convolve_row")
        else:
            st.caption("Output row 0 (the only one)")
    with s2:
        if ow > 1:
            st.slider("Output column", 0, ow - 1, key="convolve_col")
        else:
            st.caption("Output column 0 (the only one)")
    row, col = st.session_state["convolve_row"], st.session_state["convolve_col"]
    clicks = st.session_state.get("convolve_clicks", 0)
    in_key, out_key = f"convolve_input_plot_{clicks}", f"convolve_output_plot_{clicks}"
    with ui.user_errors("The step"):
        s = cv.step(grid, kernel, row, col, padding, mode, stride)
        lo, hi = cv.display_range(out, method, clip=(0.0, scale * (3 if grid.ndim == 3 else 1)))
        left, right = st.columns(2)
        with left:
            st.plotly_chart(
                _input_figure(grid, padding, mode, s, scale),
                key=in_key,
                on_select=partial(_clicked, in_key, padding, stride, oh, ow, True),
                selection_mode="points",
                width="stretch",
            )
        with right:
            st.plotly_chart(
                _output_figure(out, row, col, lo, hi),
                key=out_key,
                on_select=partial(_clicked, out_key, padding, stride, oh, ow, False),
                selection_mode="points",
                width="stretch",
            )
        st.metric(f"Output at row {row}, column {col}", _fmt(s.value))
        _equation(s, kernel)
        h, w = grid.shape[-2:]
        k_shape = tuple(kernel.shape)
        st.caption(
            f"Shapes: input {tuple(grid.shape)} · kernel {k_shape} · padded input "
            f"{tuple(grid.shape[:-2]) + (h + 2 * padding, w + 2 * padding)} · window "
            f"{tuple(s.window.shape)} · output {tuple(out.shape)} = "
            f"(⌊({h} + 2·{padding} − 3)/{stride}⌋ + 1, ⌊({w} + 2·{padding} − 3)/{stride}⌋ + 1). "
            "Click a pixel of either picture to move the window there."
        )


with ui.user_errors("The stepper"):
    grid = _grid(photo, grid_size, colour, scale)
    out = cv.convolve(grid, kernel, padding, mode, stride)
    n_out = out.numel()
    tick = max(1, n_out // PLAY_TICKS[speed]) if playing else 0
    st.fragment(stepper, run_every=PLAY_TICK_S if playing else None)(grid, out, kernel, tick)
    ui.show_code(cv.step, cv.source_index, cv.convolve, cv.output_size)

# -- whole image --
st.header("Whole image")
per_channel = False
if kernel.ndim == 2 and colour == "rgb":
    per_channel = st.checkbox(
        "Apply to each colour channel separately (like a photo editor) instead of summing them",
        key="convolve_per_channel",
    )
with ui.user_errors("The whole-image convolution"):
    x_img, out_img, x_shape, out_shape, (lo, hi) = _whole(
        photo, colour, kernel.tolist(), padding, mode, stride, per_channel, method
    )
    h, w = x_shape[-2:]
    a, b = st.columns(2)
    _image(a, x_img, f"{photo_name}: input {x_shape}", x_shape)
    # The photo is convolved in 0–1 units; the range is given in the stepper's units (0–255 or 0–1)
    # so the numbers match the ones above.
    _image(
        b,
        out_img,
        f"output {out_shape}, shown from {_fmt(lo * scale)} (black) to "
        f"{_fmt(hi * scale)} (white), in {scale_name.split(' ')[0]} pixel units",
        out_shape,
    )
    oh, ow = cv.output_size(h, w, 3, padding, stride)
    for name, n, n_out in (("H", h, oh), ("W", w, ow)):
        st.latex(
            rf"{name}' = \left\lfloor \frac{{{name} + 2p - k}}{{s}} \right\rfloor + 1 = "
            rf"\left\lfloor \frac{{{n} + 2\cdot{padding} - 3}}{{{stride}}} \right\rfloor + 1"
            rf" = {n_out}"
        )
    if max(photo.size) > WHOLE_MAX_SIDE:
        st.caption(f"The photo was shrunk to {WHOLE_MAX_SIDE} px on its long side to stay quick.")
    ui.show_code(cv.convolve, cv.convolve_channels, cv.display_range)


# -- RGB --
st.header("RGB: a 3×3×3 kernel")
st.caption(
    "A colour image has three channels, so the kernel gets a third axis: one 3×3 slice per "
    "channel. All 27 products are added into one number, so the output has one channel."
)
rgb_choice = st.radio(
    "RGB kernel",
    ["the lesson's bottom-right edge kernel", "the stepper's kernel on every channel"],
    key="convolve_rgb_kernel",
)
rgb_kernel = (
    cv.preset_kernel(cv.LESSON_PRESET)
    if rgb_choice.startswith("the lesson")
    else kernel2d.expand(3, -1, -1).clone()
)


def rgb_stepper(grid: torch.Tensor, k: torch.Tensor) -> None:
    """Per-channel products at one position of an RGB grid (its own fragment)."""
    with ui.user_errors("The RGB step"):
        h, w = grid.shape[-2:]
        oh, ow = cv.output_size(h, w, 3, 0, 1)
        r1, r2 = st.columns(2)
        row = r1.slider("Row", 0, oh - 1, oh // 2, key="convolve_rgb_row") if oh > 1 else 0
        col = r2.slider("Column", 0, ow - 1, ow // 2, key="convolve_rgb_col") if ow > 1 else 0
        _equation(cv.step(grid, k, row, col), k)


def rgb_section() -> None:
    """The lesson's 3×3×3 kernel: per-channel products, shapes and the whole photo."""
    with ui.user_errors("The RGB demo"):
        rgb_grid = _grid(photo, grid_size, "rgb", scale)
        small = min(*rgb_grid.shape[-2:], *_photo_tensor(photo, "rgb").shape[-2:])
        if small < 3:
            st.info(
                "This part needs a picture at least 3 pixels on each side (the lesson uses no "
                f"padding); {photo_name} becomes {small} pixel(s) on its short side here."
            )
            return
        st.fragment(rgb_stepper)(rgb_grid, rgb_kernel)
        t_img, edge_img, t_shape, edge_shape, _ = _whole(
            photo, "rgb", rgb_kernel.tolist(), 0, "zeros", 1, False, "symmetric"
        )
        st.code(
            f"k.shape                     # {tuple(rgb_kernel[None].shape)}: 1 kernel, 3 channels, 3×3\n"
            f"t.shape                     # {t_shape}: channels, height, width\n"
            f"t[None].shape               # {(1, *t_shape)}: a mini-batch of one\n"
            f"F.conv2d(t[None], k).shape  # {(1, 1, *edge_shape)}: one channel, 1 px lost per side",
            language="python",
        )
        a, b = st.columns(2)
        _image(a, t_img, f"t: {photo_name}", t_shape)
        _image(
            b,
            edge_img,
            "F.conv2d(t[None], k)[0, 0], shown symmetric around 0 (grey = 0)",
            edge_shape,
        )
        ui.show_code(cv.Preset, cv.step, cv.convolve)


rgb_section()


# -- padding & stride --
st.header("Padding & stride")
st.caption(
    "Without padding a 3×3 kernel cannot centre on an edge pixel, so the output loses one pixel on "
    "every side. Padding adds made-up pixels first; the three modes make them up differently. "
    "Stride 2 moves the kernel two pixels at a time and halves the output."
)
with ui.user_errors("The padding comparison"):
    pad_demo = 3
    previews = _padding_previews(photo, grid_size, colour, scale, pad_demo)
    for col_, m, big in zip(st.columns(3), cv.PADDING_MODES, previews, strict=True):
        if isinstance(big, str):  # this mode cannot pad so thin a grid: say why
            col_.info(f"{m}: {big}")
        else:
            _image(col_, big, f"{m}: {cv.PADDING_HELP[m]}", (big.height, big.width))
    h, w = grid.shape[-2:]
    rows = []
    for p, name in ((0, "none"), (1, "1 pixel")):
        for s_ in (1, 2):
            try:
                oh, ow = cv.output_size(h, w, 3, p, s_)
                shape = f"{oh}×{ow}"
            except ValueError:  # a grid thinner than the kernel
                shape = "none: the 3×3 kernel does not fit"
            rows.append({"padding": name, "stride": s_, "input": f"{h}×{w}", "output": shape})
    st.dataframe(rows, hide_index=True)
    st.caption(
        f"Each grid above is padded by {pad_demo} pixels so the modes are easy to tell apart."
    )
    ui.show_code(cv.pad, cv.output_size)


# -- conv as matrix multiply --
st.header("Convolution as a matrix multiply")
st.caption(
    "Each output pixel is a weighted sum of input pixels, so the whole convolution is one matrix "
    "times the flattened image. Every row holds the same kernel weights (tied), shifted; all "
    "other cells are always zero."
)
mm_choice = st.radio(
    "Sizes", ["3×3 image, 2×2 kernel", "4×4 image, 3×3 kernel"], horizontal=True, key="convolve_mm"
)
mm_seed = st.number_input("Random image seed", 0, 10_000, 0, key="convolve_mm_seed")
with ui.user_errors("The matrix multiply"):
    n, kk = (3, 2) if mm_choice.startswith("3") else (4, 3)
    mm_img, mm_kernel = cv.matmul_example(n, kk, int(mm_seed))
    check = cv.conv_as_matmul(mm_img, mm_kernel)
    cm, product, reference = check.cm, check.product, check.reference
    tying = cm.tying.numpy()
    palette = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf",
               "#17becf", "#bcbd22"]  # fmt: skip
    colorscale = [[0.0, "#dddddd"], [1 / (kk * kk + 1), "#dddddd"]]
    for i in range(kk * kk):
        lo_, hi_ = (i + 1) / (kk * kk + 1), (i + 2) / (kk * kk + 1)
        colorscale += [[lo_, palette[i]], [hi_, palette[i]]]
    fig = go.Figure(
        go.Heatmap(
            z=tying + 1,
            zmin=0,
            zmax=kk * kk + 1,
            colorscale=colorscale,
            showscale=False,
            text=[[_fmt(v) if v else "0" for v in r] for r in cm.matrix.tolist()],
            texttemplate="%{text}",
            hovertemplate="row %{y}, col %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="output pixel")
    fig.update_xaxes(title="input pixel", side="top")
    fig.update_layout(height=160 + 22 * cm.matrix.shape[0], margin=dict(l=10, r=10, t=40, b=10))
    a, b = st.columns([3, 1])
    a.plotly_chart(fig, width="stretch", key="convolve_mm_plot")
    with b:
        st.latex(r"\text{kernel } " + _matrix_tex(mm_kernel))
        st.latex(r"\text{image } " + _matrix_tex(mm_img))
    st.latex(
        _matrix_tex(cm.matrix)
        + _matrix_tex(mm_img.flatten()[:, None])
        + "="
        + _matrix_tex(product.flatten()[:, None])
        + r"\;\to\;"
        + _matrix_tex(product)
    )
    msg = f"matrix {tuple(cm.matrix.shape)} @ image {(mm_img.numel(),)} → {tuple(product.shape)}"
    if check.equal:
        st.success(f"{msg} equals F.conv2d: {reference.tolist()}")
    else:
        st.error(f"{msg} differs from F.conv2d: {reference.tolist()}")
    ui.show_code(cv.conv_matrix, cv.conv_as_matmul, cv.matmul_example)


# -- learned kernels --
st.header("Learned kernels")
st.caption(
    "A trained network's first layer is 64 kernels of 3×7×7, learned from data rather than "
    "designed. Many end up as edge, colour and texture detectors like the presets above."
)
with ui.user_errors("Listing the models"):
    from explorer import models

    ckpts = [c for c in models.list_checkpoints() if "error" not in c]
    sources = [c["name"] for c in ckpts]
    if models.imagenet_weights_cached("resnet34"):
        sources.append(IMAGENET)
    if not sources:
        st.info(
            "No weights yet: train a model on the Training page (it saves a checkpoint in "
            "weights/), or download torchvision's ImageNet resnet34 weights (≈85 MB) here."
        )
        if st.button("Download ImageNet resnet34 weights", key="convolve_fetch_imagenet"):
            with ui.user_errors("The download"), st.spinner("Downloading resnet34 weights…"):
                _learned(IMAGENET, 0.0)
                st.rerun()
    else:
        source = st.selectbox("Model", sources, key="convolve_model")
        stamp = next((float(c.get("saved_at", 0)) for c in ckpts if c["name"] == source), 0.0)
        with ui.user_errors("Loading the model"):
            weight, mean, std = _learned(source, stamp)
            idx = st.slider("Filter", 0, weight.shape[0] - 1, 0, key="convolve_filter")
            a, b, c = st.columns([2, 1, 2])
            a.image(
                images.to_image(cv.filter_grid(weight)),
                caption=f"all {weight.shape[0]} filters, weight {tuple(weight.shape)}",
                width="stretch",
            )
            b.image(
                images.to_image(cv.filter_grid(weight[idx : idx + 1], cols=1, zoom=20)),
                caption=f"filter {idx}: {tuple(weight[idx].shape)}",
                width="stretch",
            )
            x_rgb = _photo_tensor(photo, "rgb")
            resp = cv.apply_filter(x_rgb, weight[idx], mean, std)
            rlo, rhi = cv.display_range(resp, "symmetric")
            _image(
                c,
                images.to_image(cv.rescale(resp, rlo, rhi)),
                f"filter {idx} on the photo: {tuple(resp.shape)} (stride 1; the network "
                "uses stride 2)",
                tuple(resp.shape),
            )
            ui.show_code(cv.first_conv, cv.filter_images, cv.apply_filter)
