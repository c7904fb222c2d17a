"""Figures of the Training page: loss and error-rate curves, the one-cycle schedule.

Pure functions of a run's events (explorer.train.events) returning plotly figures; no streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.train.events import BatchEvent, EpochEvent
from explorer.train.schedule import PlannedStep

MAX_POINTS = 3000  # batch curves are thinned beyond this so the browser stays responsive
LEGEND_ON_TOP: dict[str, Any] = dict(orientation="h", yanchor="bottom", y=1.08, xanchor="left", x=0)
_T = TypeVar("_T")


def thin(rows: Sequence[_T], max_points: int = MAX_POINTS) -> list[_T]:
    """Every k-th row, k chosen so about `max_points` remain (the last one may be dropped)."""
    step = max(1, len(rows) // max_points)
    return list(rows[::step])


def epoch_end_steps(batches: Sequence[BatchEvent], epochs: Sequence[EpochEvent]) -> list[int]:
    """The run-wide step of each epoch's last batch: where its validation loss is plotted."""
    ends: dict[int, int] = {}
    for b in batches:
        ends[b["epoch"]] = b["step"]
    return [ends.get(e["epoch"], 0) for e in epochs]


def curves_figure(batches: Sequence[BatchEvent], epochs: Sequence[EpochEvent]) -> go.Figure:
    """Training loss per batch (raw and smoothed), validation loss and error rate per epoch."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("loss", "error rate (validation)"), horizontal_spacing=0.1
    )
    b = thin(batches)
    steps = [r["step"] for r in b]
    fig.add_scatter(
        x=steps,
        y=[r["loss"] for r in b],
        name="batch loss",
        line=dict(width=1, color="#9ecae1"),
        row=1,
        col=1,
    )
    fig.add_scatter(
        x=steps,
        y=[r["smooth_loss"] for r in b],
        name="train (smoothed)",
        line=dict(color="#1f77b4"),
        row=1,
        col=1,
    )
    if epochs:
        fig.add_scatter(
            x=epoch_end_steps(batches, epochs),
            y=[e["valid_loss"] for e in epochs],
            name="valid",
            mode="lines+markers",
            line=dict(color="#ff7f0e"),
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=[e["epoch"] for e in epochs],
            y=[e["error_rate"] for e in epochs],
            name="error rate",
            mode="lines+markers",
            line=dict(color="#d62728"),
            row=1,
            col=2,
        )
    else:
        # Paper coordinates: an empty subplot draws no axes for "x2 domain" to refer to.
        x0, x1 = fig.layout.xaxis2.domain
        fig.add_annotation(
            text="measured on the validation set<br>at the end of each epoch",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=(x0 + x1) / 2,
            y=0.5,
            font=dict(color="#7f7f7f"),
        )
    fig.update_xaxes(title_text="batch", row=1, col=1)
    fig.update_xaxes(title_text="epoch (as in the table)", dtick=1, row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND_ON_TOP)
    return fig


def schedule_figure(plan: Sequence[PlannedStep], batches: Sequence[BatchEvent]) -> go.Figure:
    """The head group's planned one-cycle LR and momentum (dotted), and what the run used so far."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    p = thin(plan)
    if p:
        steps = [r["step"] for r in p]
        fig.add_scatter(
            x=steps,
            y=[r["lr"] for r in p],
            name="lr (plan)",
            line=dict(dash="dot", color="#1f77b4"),
        )
        fig.add_scatter(
            x=steps,
            y=[r["mom"] for r in p],
            name="momentum (plan)",
            line=dict(dash="dot", color="#ff7f0e"),
            secondary_y=True,
        )
    b = thin(batches)
    steps = [r["step"] for r in b]
    fig.add_scatter(x=steps, y=[r["lr"] for r in b], name="lr", line=dict(color="#1f77b4"))
    fig.add_scatter(
        x=steps,
        y=[r["mom"] for r in b],
        name="momentum",
        line=dict(color="#ff7f0e"),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="learning rate (head)", secondary_y=False)
    fig.update_yaxes(title_text="momentum (β1)", tickformat=".3f", secondary_y=True)
    fig.update_xaxes(title_text="batch")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND_ON_TOP)
    return fig
