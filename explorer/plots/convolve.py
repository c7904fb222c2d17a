"""Figures of the Convolution page: the conv-as-matmul matrix (plotly) and the KaTeX matrices of
one step. The stepper itself is drawn in the browser (ui/stepper.js) from `stepper_data`.
"""

from __future__ import annotations

import plotly.graph_objects as go
from PIL import Image
from torch import Tensor

from explorer import images
from explorer.conv_matrix import ConvMatrix
from explorer.convolve import PADDING_MODES, ConvolveError, Step, fmt, pad

# One colour per kernel weight, so the tied (shared) weights of the matrix are easy to follow.
PALETTE = (
    "#e41a1c",
    "#377eb8",
    "#4daf4a",
    "#984ea3",
    "#ff7f00",
    "#a65628",
    "#f781bf",
    "#17becf",
    "#bcbd22",
)


def conv_matrix_figure(cm: ConvMatrix) -> go.Figure:
    """The convolution matrix as coloured cells: each kernel weight has its colour, zeros are grey.

    Args:
        cm: `conv_matrix(...)` of a kernel with at most 9 weights.

    Shape:
        cm.matrix (H'·W', C·H·W) -> one heatmap cell per matrix entry.
    """
    n = int(cm.tying.max()) + 1  # how many distinct kernel weights
    if n > len(PALETTE):
        raise ValueError(f"conv_matrix_figure colours at most {len(PALETTE)} weights, not {n}.")
    colorscale: list[list[float | str]] = [[0.0, "#dddddd"], [1 / (n + 1), "#dddddd"]]
    for i in range(n):
        lo, hi = (i + 1) / (n + 1), (i + 2) / (n + 1)
        colorscale += [[lo, PALETTE[i]], [hi, PALETTE[i]]]
    fig = go.Figure(
        go.Heatmap(
            z=(cm.tying + 1).numpy(),
            zmin=0,
            zmax=n + 1,
            colorscale=colorscale,
            showscale=False,
            text=[[fmt(v) for v in r] for r in cm.matrix.tolist()],
            texttemplate="%{text}",
            hovertemplate="row %{y}, col %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="output pixel")
    fig.update_xaxes(title="input pixel", side="top")
    fig.update_layout(height=160 + 22 * cm.matrix.shape[0], margin=dict(l=10, r=10, t=40, b=10))
    return fig


def matrix_tex(t: Tensor, live: Tensor | None = None) -> str:
    """A 2-D tensor as a KaTeX bmatrix; cells where `live` is False (padding) are orange.

    Shape:
        t (R, C), live (R, C) booleans or None.
    """
    rows = []
    for i, r in enumerate(t.tolist()):
        cells = []
        for j, v in enumerate(r):
            cell = fmt(v)
            if live is not None and not bool(live[i, j]):
                cell = r"\color{orange}{" + cell + "}"
            cells.append(cell)
        rows.append(" & ".join(cells))
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def _sum_tex(values: list[float], total: float) -> str:
    return " + ".join(fmt(v) for v in values).replace("+ -", "- ") + " = " + fmt(total)


def equation_tex(s: Step, kernel: Tensor) -> list[str]:
    """KaTeX lines for one step: window ⊙ kernel = products and their sum, per channel, then the
    channel sums added up when there are several.

    Shape:
        s.window (kh, kw) or (C, kh, kw); kernel (kh, kw) or (C, kh, kw).
    """
    window = s.window if s.window.ndim == 3 else s.window[None]
    products = s.products if s.products.ndim == 3 else s.products[None]
    k = kernel if kernel.ndim == 3 else kernel[None].expand(window.shape[0], -1, -1)
    names = ["R", "G", "B"] if window.shape[0] == 3 else [""]
    sums = s.channel_sums
    lines = []
    for c, (name, total) in enumerate(zip(names, sums, strict=True)):
        label = rf"\text{{{name}: }}" if name else ""
        lines.append(
            label
            + matrix_tex(window[c], s.inside)
            + r"\odot"
            + matrix_tex(k[c])
            + "="
            + matrix_tex(products[c])
        )
        lines.append(r"\textstyle " + _sum_tex(products[c].flatten().tolist(), total))
    if len(sums) > 1:
        lines.append(_sum_tex(list(sums), s.value))
    return lines


def display_width(shape: tuple, max_height: int = 560) -> int | str:
    """st.image width for a (…, H, W) picture: "stretch" (the column's width) unless that would
    make it taller than `max_height` px (a 1-pixel-wide strip stretched would be metres tall)."""
    h, w = shape[-2:]
    fit = max_height * w / h
    return "stretch" if fit >= 600 else max(1, round(fit))


def padding_previews(
    grid: Tensor, padding: int, scale: float, zoom: int = 8
) -> list[Image.Image | str]:
    """`grid` padded by each mode of PADDING_MODES, enlarged with sharp pixel edges, or the
    sentence saying why that mode cannot pad it.

    Shape:
        grid (H, W) or (3, H, W) -> pictures of (H + 2p)·zoom × (W + 2p)·zoom pixels.
    """
    out: list[Image.Image | str] = []
    for mode in PADDING_MODES:
        try:
            small = images.to_image(pad(grid, padding, mode) / scale)
        except ConvolveError as exc:  # reflection needs more pixels than it pads
            out.append(str(exc))
            continue
        size = (small.width * zoom, small.height * zoom)
        out.append(small.resize(size, Image.Resampling.NEAREST))
    return out
