"""Convolution page: a 3×3 kernel walked across a small version of the sidebar photo (like setosa's
"Image Kernels"), then the whole photo, an RGB kernel, padding & stride, conv as a matrix multiply,
and the first-layer filters a network learned. One function per section; every setting lives in
`st.session_state` and the URL (ui.state).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

import ui
import ui.state
import ui.stepper
from explorer import conv_matrix as cmx
from explorer import convolve as cv
from explorer import filters, images, models
from explorer.plots import convolve as plots

PAGE = "convolve"
CELL_KEYS = [f"convolve_k{r}{c}" for r in range(3) for c in range(3)]
PADDINGS = ["none", *cv.PADDING_MODES]
SCALES = {"0–255 (setosa)": 255.0, "0–1 (fastai)": 1.0}
RANGES = {
    "auto (symmetric for edge kernels)": "auto",
    "clip to the input's range (setosa)": "clip",
    "symmetric around 0": "symmetric",
    "1st–99th percentile": "percentile",
}
SPEEDS = [10, 15, 20, 30, 60]  # Play: output pixels per second, one per frame (≥ 10 fps)
PRESENTER_GRID = 12  # presenter mode: fewer, bigger cells
WHOLE_MAX_SIDE = 1024  # the whole-image demo shrinks bigger photos so a rerun stays quick
IMAGENET = filters.IMAGENET
IMAGENET_MB = models.IMAGENET_DOWNLOAD_MB["resnet34"]  # torchvision's resnet34-b627a593.pth
RGB_CHOICES = ["the lesson's bottom-right edge kernel", "the stepper's kernel on every channel"]
MM_CHOICES = ["3×3 image, 2×2 kernel", "4×4 image, 3×3 kernel"]
STEPPER_KEY = "convolve_stepper"
NOTE_KEY = "convolve_kernel_note"  # the sentence saying a typed weight was changed


def page_settings() -> list[ui.state.Setting]:
    """Every page-wide setting: kernel (preset + 9 weights), stepper, position, sections."""
    default = cv.preset_kernel(cv.DEFAULT_PRESET).flatten().tolist()
    lim = cv.KERNEL_LIMIT
    return [
        ui.state.choice("convolve_preset", cv.DEFAULT_PRESET, [*cv.PRESETS, cv.CUSTOM]),
        *(ui.state.number(k, float(v), -lim, lim) for k, v in zip(CELL_KEYS, default, strict=True)),
        ui.state.number("convolve_grid_size", 24, 16, 48, integer=True),
        ui.state.choice("convolve_colour", "grey", ["grey", "rgb"]),
        ui.state.choice("convolve_scale", next(iter(SCALES)), list(SCALES)),
        ui.state.choice("convolve_range", next(iter(RANGES)), list(RANGES)),
        ui.state.choice("convolve_padding", "zeros", PADDINGS),
        ui.state.choice("convolve_stride", 1, [1, 2]),
        ui.state.number("convolve_row", 0, 0, 255, integer=True),
        ui.state.number("convolve_col", 0, 0, 255, integer=True),
        ui.state.flag("convolve_presenter", False),
        ui.state.choice("convolve_speed", 20, SPEEDS),
        ui.state.flag("convolve_per_channel", False),
        ui.state.choice("convolve_rgb_kernel", RGB_CHOICES[0], RGB_CHOICES),
        ui.state.choice("convolve_mm", MM_CHOICES[0], MM_CHOICES),
        ui.state.number("convolve_mm_seed", 0, 0, 10_000, integer=True),
    ]


@dataclass(frozen=True)
class Settings:
    """What the controls chose; the sections below take it as their explicit argument."""

    preset: str
    kernel2d: torch.Tensor  # the 3×3 cells
    kernel: torch.Tensor  # what is applied: the cells, or the lesson's 3×3×3 on an RGB grid
    grid_size: int
    colour: str
    scale: float
    scale_name: str
    method: str  # display range of the output
    padding: int
    mode: str
    stride: int


# --- state callbacks (run before the script, so they may set other widgets' values) -------------


def _preset_cells(name: str) -> list[float]:
    k = cv.preset_kernel(name)
    return (k if k.ndim == 2 else k[0]).flatten().tolist()


def _load_preset() -> None:
    name = st.session_state["convolve_preset"]
    if name != cv.CUSTOM:
        for key, v in zip(CELL_KEYS, _preset_cells(name), strict=True):
            st.session_state[key] = float(v)


def _edited(key: str) -> None:
    """A typed weight: switch to custom, and bring it into range saying so (never a silent no)."""
    st.session_state["convolve_preset"] = cv.CUSTOM
    used, why = cv.clamp_weight(st.session_state[key])
    if why:
        st.session_state[key] = used
        st.session_state[NOTE_KEY] = f"Weight {key[-2]},{key[-1]}: {why}"


def _commit() -> None:
    """A click on the stepper: its position becomes the committed one (sliders, code panel)."""
    pos = ui.stepper.committed(STEPPER_KEY)
    if pos is not None:
        st.session_state["convolve_row"], st.session_state["convolve_col"] = pos


def _keep_preset_consistent() -> None:
    """A hand-made link may name a preset but other weights: the preset's weights win."""
    name = st.session_state["convolve_preset"]
    cells = [float(st.session_state[k]) for k in CELL_KEYS]
    if name != cv.CUSTOM and cells != _preset_cells(name):
        _load_preset()


# --- cached per-image work ------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def _grid(photo: images.Image.Image, size: int, colour: str, scale: float) -> torch.Tensor:
    return cv.stepper_grid(photo, size, colour, scale)


@st.cache_data(show_spinner=False, max_entries=16)
def _stepper_data(
    photo: images.Image.Image,
    size: int,
    colour: str,
    scale: float,
    kernel_values: list,
    padding: int,
    mode: str,
    stride: int,
    method: str,
) -> dict:
    """The stepper's data, once per change of image, kernel, padding or stride (cached)."""
    grid = _grid(photo, size, colour, scale)
    kernel = torch.tensor(kernel_values)  # passed as a list: cache_data cannot hash tensors
    return cv.stepper_data(grid, kernel, padding, mode, stride, scale, method)


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
    k = torch.tensor(kernel_values)
    out, lo, hi = cv.whole_output(x, k, padding, mode, stride, per_channel, method)
    shown = images.to_image(cv.rescale(out, lo, hi))
    return images.to_image(x), shown, tuple(x.shape), tuple(out.shape), (lo, hi)


@st.cache_data(show_spinner=False, max_entries=8)
def _padding_previews(
    photo: images.Image.Image, size: int, colour: str, scale: float, pad: int
) -> list[images.Image.Image | str]:
    return plots.padding_previews(_grid(photo, size, colour, scale), pad, scale)


@st.cache_data(show_spinner=False, max_entries=4)
def _learned(name: str, stamp: float) -> tuple[torch.Tensor, tuple, tuple]:
    """`stamp` is the checkpoint's saved_at time, so a re-trained checkpoint is read again."""
    return filters.first_layer(name)


def _image(where, img: images.Image.Image, caption: str, shape: tuple) -> None:
    """st.image at a bounded height; a narrow picture gets its caption below at full width (an
    image's own caption wraps at the image's width: one letter per line for a thin strip)."""
    width = plots.display_width(shape)
    if width == "stretch":
        where.image(img, caption=caption, width="stretch")
    else:
        where.image(img, width=width)
        where.caption(caption)


# --- sections -------------------------------------------------------------------------------------


def controls() -> Settings:
    """The kernel and grid settings shared by the stepper, the whole image and padding."""
    st.header("Stepper")
    c1, c2, c3 = st.columns([1.2, 1.2, 1.0])
    with c1:
        preset = st.selectbox(
            "Kernel",
            [*cv.PRESETS, cv.CUSTOM],
            key="convolve_preset",
            on_change=_load_preset,
            help="Editing any weight switches to custom.",
        )
        st.caption(f"Weights (edit any cell; values beyond ±{cv.KERNEL_LIMIT:g} are clamped):")
        for r in range(3):
            cols = st.columns(3)
            for c in range(3):
                key = CELL_KEYS[r * 3 + c]
                cols[c].number_input(
                    f"w{r}{c}",
                    step=0.1,
                    format="%.4g",
                    key=key,
                    on_change=_edited,
                    args=(key,),
                    label_visibility="collapsed",
                )
        note = st.session_state.pop(NOTE_KEY, None)
        if note:
            st.warning(note)
    with c2:
        grid_size = st.slider("Grid size (pixels, long side)", 16, 48, key="convolve_grid_size")
        colour = st.radio("Colour", ["grey", "rgb"], horizontal=True, key="convolve_colour")
        scale_name = st.radio("Pixel values", list(SCALES), horizontal=True, key="convolve_scale")
        range_name = st.selectbox("Output display range", list(RANGES), key="convolve_range")
    with c3:
        padding_mode = st.selectbox(
            "Padding", PADDINGS, key="convolve_padding", help="none = no padding"
        )
        st.radio("Stride", [1, 2], horizontal=True, key="convolve_stride")
        if padding_mode == "none":
            st.caption("No padding: the output is one pixel smaller on every side.")
        else:
            st.caption(f"{padding_mode}: {cv.PADDING_HELP[padding_mode]}.")
    kernel2d = torch.tensor([float(st.session_state[k]) for k in CELL_KEYS]).view(3, 3)
    lesson_rgb = preset == cv.LESSON_PRESET and colour == "rgb"
    kernel = cv.preset_kernel(cv.LESSON_PRESET) if lesson_rgb else kernel2d
    method = RANGES[range_name]
    if preset == cv.LESSON_PRESET:
        st.caption(
            "The lesson's kernel is 3×3×3: the same 3×3 slice (shown) for red, green and blue. On "
            "a grey grid only one slice applies; switch to rgb to sum all three like `F.conv2d`."
        )
    return Settings(
        preset=preset,
        kernel2d=kernel2d,
        kernel=kernel,
        grid_size=int(grid_size),
        colour=colour,
        scale=SCALES[scale_name],
        scale_name=scale_name,
        method=cv.auto_display_method(kernel) if method == "auto" else method,
        padding=0 if padding_mode == "none" else 1,
        mode="zeros" if padding_mode == "none" else padding_mode,
        stride=int(st.session_state["convolve_stride"]),
    )


def _position_sliders(oh: int, ow: int) -> tuple[int, int]:
    """The committed position (a click on the stepper sets it too), already clamped."""
    s1, s2 = st.columns(2)
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
    return int(st.session_state["convolve_row"]), int(st.session_state["convolve_col"])


def stepper_section(photo: images.Image.Image, s: Settings) -> None:
    """The scrubbed part: the browser component, then the committed position's code and shapes.

    A fragment, so a click (commit) or a presenter/speed change reruns only this.
    """
    stride = s.stride
    t1, t2 = st.columns([1, 2])
    presenter = t1.toggle(
        "Presenter mode",
        key="convolve_presenter",
        help=f"Large digits for a projector, on a {PRESENTER_GRID}-pixel grid.",
    )
    speed = t2.select_slider("Play speed (output pixels per second)", SPEEDS, key="convolve_speed")
    size = PRESENTER_GRID if presenter else s.grid_size
    with ui.user_errors("The stepper"):
        data = _stepper_data(
            photo, size, s.colour, s.scale, s.kernel.tolist(), s.padding, s.mode, stride, s.method
        )
        oh, ow = data["oh"], data["ow"]
        for key, n in (("convolve_row", oh), ("convolve_col", ow)):
            st.session_state[key] = min(max(int(st.session_state.get(key, 0)), 0), n - 1)
        ui.stepper.stepper(
            data,
            st.session_state["convolve_row"],
            st.session_state["convolve_col"],
            key=STEPPER_KEY,
            on_commit=_commit,
            presenter=presenter,
            speed=int(speed),
        )
        st.caption("Committed position (a click on either picture sets it):")
        row, col = _position_sliders(oh, ow)
        grid = _grid(photo, size, s.colour, s.scale)
        step = cv.step(grid, s.kernel, row, col, s.padding, s.mode, stride)
        st.metric(f"Output at row {row}, column {col}", data["out_text"][row * ow + col])
        h, w = grid.shape[-2:]
        st.caption(
            f"Shapes: input {tuple(grid.shape)} · kernel {tuple(s.kernel.shape)} · padded input "
            f"{tuple(grid.shape[:-2]) + (h + 2 * s.padding, w + 2 * s.padding)} · window "
            f"{tuple(step.window.shape)} · output {(oh, ow)} = "
            f"(⌊({h} + 2·{s.padding} − 3)/{stride}⌋ + 1, ⌊({w} + 2·{s.padding} − 3)/{stride}⌋ + 1)."
        )
        ui.show_code(cv.step, cv.stepper_data, cv.source_index, cv.convolve, cv.output_size)
    ui.state.write_url(PAGE)


def whole_image_section(photo_name: str, photo: images.Image.Image, s: Settings) -> None:
    """The same kernel on the whole photo, with the output-size formula."""
    st.header("Whole image")
    stride = s.stride
    per_channel = False
    if s.kernel.ndim == 2 and s.colour == "rgb":
        per_channel = st.checkbox(
            "Apply to each colour channel separately (like a photo editor) instead of summing them",
            key="convolve_per_channel",
        )
    with ui.user_errors("The whole-image convolution"):
        x_img, out_img, x_shape, out_shape, (lo, hi) = _whole(
            photo, s.colour, s.kernel.tolist(), s.padding, s.mode, stride, per_channel, s.method
        )
        h, w = x_shape[-2:]
        a, b = st.columns(2)
        _image(a, x_img, f"{photo_name}: input {x_shape}", x_shape)
        # The photo is convolved in 0–1 units; the range is given in the stepper's units (0–255 or
        # 0–1) so the numbers match the ones above.
        _image(
            b,
            out_img,
            f"output {out_shape}, shown from {cv.fmt(lo * s.scale)} (black) to "
            f"{cv.fmt(hi * s.scale)} (white), in {s.scale_name.split(' ')[0]} pixel units",
            out_shape,
        )
        oh, ow = cv.output_size(h, w, 3, s.padding, stride)
        for name, n, n_out in (("H", h, oh), ("W", w, ow)):
            st.latex(
                rf"{name}' = \left\lfloor \frac{{{name} + 2p - k}}{{s}} \right\rfloor + 1 = "
                rf"\left\lfloor \frac{{{n} + 2\cdot{s.padding} - 3}}{{{stride}}} \right\rfloor + 1"
                rf" = {n_out}"
            )
        if max(photo.size) > WHOLE_MAX_SIDE:
            st.caption(
                f"The photo was shrunk to {WHOLE_MAX_SIDE} px on its long side to stay quick."
            )
        ui.show_code(cv.whole_output, cv.convolve, cv.convolve_channels, cv.display_range)


def rgb_stepper(grid: torch.Tensor, k: torch.Tensor) -> None:
    """Per-channel products at one position of an RGB grid (its own fragment)."""
    with ui.user_errors("The RGB step"):
        oh, ow = cv.output_size(*grid.shape[-2:], 3, 0, 1)
        ui.state.persist(
            PAGE,
            [
                ui.state.number("convolve_rgb_row", oh // 2, 0, 255, integer=True),
                ui.state.number("convolve_rgb_col", ow // 2, 0, 255, integer=True),
            ],
        )
        for key, n in (("convolve_rgb_row", oh), ("convolve_rgb_col", ow)):
            st.session_state[key] = min(max(int(st.session_state[key]), 0), n - 1)
        r1, r2 = st.columns(2)
        row = r1.slider("Row", 0, oh - 1, key="convolve_rgb_row") if oh > 1 else 0
        col = r2.slider("Column", 0, ow - 1, key="convolve_rgb_col") if ow > 1 else 0
        for line in plots.equation_tex(cv.step(grid, k, row, col), k):
            st.latex(line)
    ui.state.write_url(PAGE)


def rgb_section(photo_name: str, photo: images.Image.Image, s: Settings) -> None:
    """The lesson's 3×3×3 kernel: per-channel products, shapes and the whole photo."""
    st.header("RGB: a 3×3×3 kernel")
    st.caption(
        "A colour image has three channels, so the kernel gets a third axis: one 3×3 slice per "
        "channel. All 27 products are added into one number, so the output has one channel."
    )
    choice = st.radio("RGB kernel", RGB_CHOICES, key="convolve_rgb_kernel")
    rgb_kernel = (
        cv.preset_kernel(cv.LESSON_PRESET)
        if choice == RGB_CHOICES[0]
        else s.kernel2d.expand(3, -1, -1).clone()
    )
    with ui.user_errors("The RGB demo"):
        rgb_grid = _grid(photo, s.grid_size, "rgb", s.scale)
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
        k_shape = tuple(rgb_kernel[None].shape)
        st.code(
            f"k.shape                     # {k_shape}: 1 kernel, 3 channels, 3×3\n"
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


def padding_section(photo: images.Image.Image, s: Settings) -> None:
    """The three padding modes side by side, and the output size for each padding and stride."""
    st.header("Padding & stride")
    st.caption(
        "Without padding a 3×3 kernel cannot centre on an edge pixel, so the output loses one "
        "pixel on every side. Padding adds made-up pixels first; the three modes make them up "
        "differently. Stride 2 moves the kernel two pixels at a time and halves the output."
    )
    pad_demo = 3
    with ui.user_errors("The padding comparison"):
        previews = _padding_previews(photo, s.grid_size, s.colour, s.scale, pad_demo)
        for col_, m, big in zip(st.columns(3), cv.PADDING_MODES, previews, strict=True):
            if isinstance(big, str):  # this mode cannot pad so thin a grid: say why
                col_.info(f"{m}: {big}")
            else:
                _image(col_, big, f"{m}: {cv.PADDING_HELP[m]}", (big.height, big.width))
        h, w = _grid(photo, s.grid_size, s.colour, s.scale).shape[-2:]
        rows = []
        for p, name in ((0, "none"), (1, "1 pixel")):
            for stride in (1, 2):
                try:
                    oh, ow = cv.output_size(h, w, 3, p, stride)
                    shape = f"{oh}×{ow}"
                except cv.ConvolveError:  # a grid thinner than the kernel
                    shape = "none: the 3×3 kernel does not fit"
                rows.append(
                    {"padding": name, "stride": stride, "input": f"{h}×{w}", "output": shape}
                )
        st.dataframe(rows, hide_index=True)
        st.caption(
            f"Each grid above is padded by {pad_demo} pixels so the modes are easy to tell apart."
        )
        ui.show_code(cv.pad, cv.output_size)


def matmul_section() -> None:
    """The lesson's "a convolution is a matrix multiply", checked against F.conv2d."""
    st.header("Convolution as a matrix multiply")
    st.caption(
        "Each output pixel is a weighted sum of input pixels, so the whole convolution is one "
        "matrix times the flattened image. Every row holds the same kernel weights (tied), "
        "shifted; all other cells are always zero."
    )
    choice = st.radio("Sizes", MM_CHOICES, horizontal=True, key="convolve_mm")
    seed = st.number_input("Random image seed", 0, 10_000, key="convolve_mm_seed")
    with ui.user_errors("The matrix multiply"):
        n, kk = (3, 2) if choice == MM_CHOICES[0] else (4, 3)
        img, kernel = cmx.matmul_example(n, kk, int(seed))
        check = cmx.conv_as_matmul(img, kernel)
        cm, product = check.cm, check.product
        a, b = st.columns([3, 1])
        a.plotly_chart(plots.conv_matrix_figure(cm), width="stretch", key="convolve_mm_plot")
        with b:
            st.latex(r"\text{kernel } " + plots.matrix_tex(kernel))
            st.latex(r"\text{image } " + plots.matrix_tex(img))
        st.latex(
            plots.matrix_tex(cm.matrix)
            + plots.matrix_tex(img.flatten()[:, None])
            + "="
            + plots.matrix_tex(product.flatten()[:, None])
            + r"\;\to\;"
            + plots.matrix_tex(product)
        )
        msg = f"matrix {tuple(cm.matrix.shape)} @ image {(img.numel(),)} → {tuple(product.shape)}"
        if check.equal:
            st.success(f"{msg} equals F.conv2d: {check.reference.tolist()}")
        else:
            st.error(f"{msg} differs from F.conv2d: {check.reference.tolist()}")
        ui.show_code(cmx.conv_matrix, cmx.conv_as_matmul, cmx.matmul_example)


def _imagenet_download() -> None:
    """Offer ImageNet's weights, saying first what the click costs (network, ~83 MB)."""
    st.caption(
        f"ImageNet resnet34's learned filters need torchvision's weights: about {IMAGENET_MB} MB "
        "downloaded from download.pytorch.org, so this needs the network (offline it fails within "
        "seconds with a sentence)."
    )
    label = f"Download ImageNet resnet34 weights (~{IMAGENET_MB} MB, needs the network)"
    if st.button(label, key="convolve_fetch_imagenet"):
        with ui.user_errors("The download"), st.spinner("Downloading resnet34 weights…"):
            _learned(IMAGENET, 0.0)
            st.rerun()


def _filters(photo: images.Image.Image, weight: torch.Tensor, mean: tuple, std: tuple) -> None:
    n = weight.shape[0]
    ui.state.persist(PAGE, [ui.state.number("convolve_filter", 0, 0, 4095, integer=True)])
    st.session_state["convolve_filter"] = min(int(st.session_state["convolve_filter"]), n - 1)
    idx = st.slider("Filter", 0, n - 1, key="convolve_filter")
    a, b, c = st.columns([2, 1, 2])
    a.image(
        images.to_image(filters.filter_grid(weight)),
        caption=f"all {n} filters, weight {tuple(weight.shape)}",
        width="stretch",
    )
    b.image(
        images.to_image(filters.filter_grid(weight[idx : idx + 1], cols=1, zoom=20)),
        caption=f"filter {idx}: {tuple(weight[idx].shape)}",
        width="stretch",
    )
    resp = filters.apply_filter(_photo_tensor(photo, "rgb"), weight[idx], mean, std)
    rlo, rhi = cv.display_range(resp, "symmetric")
    _image(
        c,
        images.to_image(cv.rescale(resp, rlo, rhi)),
        f"filter {idx} on the photo: {tuple(resp.shape)} (stride 1; the network uses stride 2)",
        tuple(resp.shape),
    )
    ui.show_code(filters.first_conv, filters.filter_images, filters.apply_filter)


def learned_section(photo: images.Image.Image) -> None:
    """The first-layer filters of a checkpoint (or ImageNet resnet34), one applied to the photo."""
    st.header("Learned kernels")
    st.caption(
        "A trained network's first layer is 64 kernels of 3×7×7, learned from data rather than "
        "designed. Many end up as edge, colour and texture detectors like the presets above."
    )
    from explorer import models

    with ui.user_errors("Listing the models"):
        ckpts = [c for c in models.list_checkpoints() if "error" not in c]
        sources = [c["name"] for c in ckpts]
        cached = models.imagenet_weights_cached("resnet34")
        if cached:
            sources.append(IMAGENET)
        if not sources:
            st.info(
                "No weights yet: train a model on the Training page (it saves a checkpoint in "
                "weights/), or download torchvision's ImageNet resnet34 weights below."
            )
            _imagenet_download()
            return
        ui.state.persist(PAGE, [ui.state.choice("convolve_model", sources[0], sources)])
        if st.session_state["convolve_model"] not in sources:  # deleted since it was chosen
            st.session_state["convolve_model"] = sources[0]
        source = st.selectbox("Model", sources, key="convolve_model")
        if not cached:
            with st.expander("Also show ImageNet resnet34's filters"):
                _imagenet_download()
    stamp = next((float(c.get("saved_at", 0)) for c in ckpts if c["name"] == source), 0.0)
    with ui.user_errors("Loading the model"):
        weight, mean, std = _learned(source, stamp)
        _filters(photo, weight, mean, std)


# --- page ---------------------------------------------------------------------------------------

st.title("Convolution")
st.caption(
    "A convolution slides a small grid of weights (the kernel) over an image: at each position it "
    "multiplies the pixels under the kernel by the weights and adds them up into one output pixel."
)
photo_name, photo = ui.current_image()
ui.state.persist(PAGE, page_settings())
_keep_preset_consistent()
settings = controls()
st.fragment(stepper_section)(photo, settings)
whole_image_section(photo_name, photo, settings)
rgb_section(photo_name, photo, settings)
padding_section(photo, settings)
matmul_section()
learned_section(photo)
