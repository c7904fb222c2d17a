"""Plotly figures of the Heatmap page: the top-5 predictions and the channel weights."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from torch import Tensor

from explorer.heatmap import top_predictions

PINK, GREY = "#cd4071", "#9e9e9e"


def top5_chart(logits: Tensor, classes: Sequence[str], untrained: bool = False) -> go.Figure:
    """Horizontal bars of the five most probable classes (softmax of `logits`), best on top.

    Args:
        logits: the model's output for one image.
        classes: the class names, indexed like the logits.
        untrained: grey bars and a title saying the numbers mean nothing (random weights).

    Shape:
        logits: (n_classes,)
    """
    top = top_predictions(logits, classes, k=5)
    fig = go.Figure(
        go.Bar(
            x=[p for _, _, p in top][::-1],
            y=[n for _, n, _ in top][::-1],
            orientation="h",
            text=[f"{p:.1%}" for _, _, p in top][::-1],
            marker_color=GREY if untrained else PINK,
        )
    )
    title = (
        "Top-5 “predictions” of random weights: meaningless"
        if untrained
        else "Top-5 predictions (softmax of the logits)"
    )
    fig.update_layout(
        height=230,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title=title,
        xaxis={"range": [0, 1], "tickformat": ".0%"},
    )
    return fig


def weights_chart(weights: Tensor, highlight: Sequence[int]) -> go.Figure:
    """One bar per channel: its Grad-CAM weight (mean gradient), `highlight`ed ones in pink.

    Shape:
        weights: (C,)
    """
    marked = set(int(i) for i in highlight)
    colors = [PINK if i in marked else "#7f7f7f" for i in range(weights.numel())]
    fig = go.Figure(go.Bar(x=list(range(weights.numel())), y=weights.tolist(), marker_color=colors))
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title=f"grad_chan: each channel's mean gradient (top {len(marked)} contributors in pink)",
        xaxis_title="channel",
        yaxis_title="weight",
    )
    return fig
