"""Figures and value tables for the Augmentation page: the sampling lattice drawn over the photo,
and the composed matrices as text (a tile's value rows and the inert controls are backend logic:
explorer.augment.describe).

Pure functions of tensors, numbers and `AugParams`: no streamlit here.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from explorer.augment import Curve, Sweep


def lattice_figure(source: tuple[str, int, int], pts: torch.Tensor) -> go.Figure:
    """The photo with a tile's sampling lattice drawn over it (rows red, columns yellow).

    Args:
        source: the photo as (image URL, width, height); a data URL keeps plotly from re-encoding.
        pts: where the lattice's points fall on the photo, in pixels (x, y).

    Shape:
        pts: (lines, lines, 2)
    """
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


def matrix_table(m: torch.Tensor) -> list[list[str]]:
    """A matrix as rows of signed 4-decimal text, for st.table.

    Shape:
        m: (rows, cols)
    """
    return [[f"{v:+.4f}" for v in row] for row in m.tolist()]


def lighting_figure(x: torch.Tensor, curves: Sequence[Curve]) -> go.Figure:
    """Transfer functions (output grey against input grey) of `lighting_curves`: ours in logit
    space (solid) against torchvision ColorJitter's linear ones (dotted), brightness and contrast
    side by side, each at both ends of the magnitude.

    Shape:
        x: (n,); each curve's y: (n,)
    """
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("brightness", "contrast"), shared_yaxes=True
    )
    xs = x.tolist()
    colours = ("#1f77b4", "#d62728")  # low end, high end
    seen: dict[tuple[str, str], int] = {}
    for c in curves:
        end = seen.get((c.library, c.kind), 0)
        seen[(c.library, c.kind)] = end + 1
        dash = "solid" if c.library == "ours" else "dot"
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=c.y.tolist(),
                mode="lines",
                name=f"{c.library} {c.kind} {c.factor:.3g}",
                line=dict(color=colours[end], dash=dash, width=2),
            ),
            row=1,
            col=1 if c.kind == "brightness" else 2,
        )
    for col in (1, 2):  # the identity, for reference
        fig.add_trace(
            go.Scatter(
                x=[0, 1], y=[0, 1], mode="lines", line=dict(color="grey", width=1), showlegend=False
            ),
            row=1,
            col=col,
        )
    fig.update_xaxes(title_text="input grey", range=[0, 1])
    fig.update_yaxes(title_text="output grey", range=[0, 1], col=1)
    fig.update_layout(height=300, margin=dict(l=0, r=0, t=30, b=0), legend=dict(font_size=10))
    return fig


def robustness_figure(sweep: Sweep, unit: str) -> go.Figure:
    """Accuracy (%) and mean top-1 confidence against one transform's magnitude, with the
    magnitude where accuracy has dropped 5 points marked."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(x=sweep.magnitudes, y=sweep.accuracy, name="accuracy (%)", mode="lines+markers")
    )
    fig.add_trace(
        go.Scatter(
            x=sweep.magnitudes,
            y=[100 * c for c in sweep.confidence],
            name="mean confidence (%)",
            mode="lines+markers",
            line=dict(dash="dot"),
        ),
        secondary_y=True,
    )
    if sweep.drop_at is not None:
        fig.add_vline(
            x=sweep.drop_at,
            line=dict(color="red", dash="dash"),
            annotation_text=f"−5 points at {sweep.drop_at:.3g}",
        )
    fig.update_xaxes(title_text=f"{sweep.name}: {unit}")
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 105], secondary_y=False)
    fig.update_yaxes(title_text="confidence (%)", range=[0, 105], secondary_y=True)
    fig.update_layout(height=320, margin=dict(l=0, r=0, t=30, b=0))
    return fig
