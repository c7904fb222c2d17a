"""Plotly figures of the Heatmap page: top-5 predictions, channel weights, faithfulness curves and
the confusion matrix of a run."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from torch import Tensor

from explorer.heatmap import Curve, top_predictions

PINK, GREY, BLUE = "#cd4071", "#9e9e9e", "#3b6fb6"


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


def faithfulness_chart(deletion: Curve, insertion: Curve, class_name: str) -> go.Figure:
    """The deletion and insertion curves of one map: the class's probability as its top pixels are
    removed (falls fast when the map is faithful) or revealed (rises fast)."""
    fig = go.Figure()
    for curve, name, color in ((deletion, "deletion", PINK), (insertion, "insertion", BLUE)):
        fig.add_trace(
            go.Scatter(
                x=curve.fractions,
                y=curve.probs,
                mode="lines+markers",
                name=f"{name} (area {curve.auc:.3f})",
                line={"color": color},
                fill="tozeroy",
            )
        )
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title=f"P({class_name}) as the map's top pixels go / come",
        xaxis={"title": "share of pixels removed / revealed", "tickformat": ".0%"},
        yaxis={"title": "probability", "range": [0, 1]},
        legend={"orientation": "h", "y": -0.35},
    )
    return fig


def confusion_chart(matrix: Tensor, classes: Sequence[str]) -> go.Figure:
    """The confusion matrix as a heatmap: rows the true class, columns the prediction.

    Shape:
        matrix: (n_classes, n_classes) counts
    """
    names = [str(c) for c in classes]
    fig = go.Figure(
        go.Heatmap(
            z=matrix.tolist(),
            x=names,
            y=names,
            colorscale="Magma",
            reversescale=True,
            text=matrix.tolist(),
            texttemplate="%{text}" if len(names) <= 12 else None,
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(300, 22 * len(names) + 120),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Confusion matrix (validation set)",
        xaxis={"title": "predicted"},
        yaxis={"title": "actual", "autorange": "reversed"},
    )
    return fig
