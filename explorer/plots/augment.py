"""Figures and value tables for the Augmentation page: the sampling lattice drawn over the photo,
and the composed matrices as text (a tile's value rows and the inert controls are backend logic:
explorer.augment.describe).

Pure functions of tensors, numbers and `AugParams`: no streamlit here.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch


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
