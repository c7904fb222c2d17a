"""The Heatmap page's maps that need more than one pass (Score-CAM), how faithful each map is
(deletion / insertion curves, Average Drop) and the table comparing every method on a model.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from torch import nn

import ui
from explorer import heatmap as hm
from explorer.plots import heatmap as plots
from explorer.shapes import SHAPE_CLASSES

FAITH_STEPS = 10  # points on each faithfulness curve, minus one (22 masked images per map)
# Masked images per forward pass. Measured at 352 px on resnet34 (1 thread, this 2-core machine):
# batches of 4 took 2.2 CPU-s against 2.6 for 32, and the measurement's peak memory fell from
# ~530 MB to ~300 MB, which the allocator keeps: with several sessions measuring at once that was
# most of the server's RSS growth.
FAITH_BATCH = 4


@st.cache_data(show_spinner="Score-CAM: one forward pass per channel…", max_entries=8)
def score_map(_model: nn.Module, _res: dict, res_key: str) -> Any:
    """Score-CAM's map (C masked forward passes, batched), once per result."""
    device = next(_model.parameters()).device
    # bfloat16 where the hardware has it (about 4x faster on this CPU; maps agree to ~1e-3).
    dtype = hm.fast_dtype(device)
    return hm.score_cam(_model, _res["x"], _res["acts"], _res["class_idx"], dtype=dtype).cpu()


def the_map(model: nn.Module, res: dict, which: str) -> Any:
    """The chosen map of this result: Score-CAM runs the model again, the others reuse the
    stored activations and gradients."""
    if which == "scorecam":
        return score_map(model, res, res["key"])
    return hm.heat(res["acts"], res["grads"], which)


@st.cache_data(show_spinner="Deleting and inserting pixels in the map's order…", max_entries=16)
def faithfulness_of(_model: nn.Module, _res: dict, res_key: str, which: str) -> hm.Faithfulness:
    """Deletion / insertion curves and Average Drop for one map (one batched pass)."""
    m = the_map(_model, _res, which)
    return hm.faithfulness(
        _model, _res["x"], m, _res["class_idx"], steps=FAITH_STEPS, batch_size=FAITH_BATCH
    )


def faithfulness_panel(f: hm.Faithfulness, class_name: str) -> None:
    """The deletion / insertion curves of a map and its Average Drop / Increase in Confidence."""
    st.plotly_chart(
        plots.faithfulness_chart(f.deletion, f.insertion, class_name),
        width="stretch",
        key="heatmap_faith_chart",
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Deletion area", f"{f.deletion.auc:.3f}", help="Lower: the map's pixels matter.")
    c2.metric("Insertion area", f"{f.insertion.auc:.3f}", help="Higher: they suffice.")
    c3.metric(
        "Average Drop",
        f"{100 * f.drop:.1f} %",
        help="How much P(class) falls on the image × the map (lower is better).",
    )
    st.caption(
        f"P({class_name}) is {f.prob:.1%} on the whole image and {f.masked_prob:.1%} on the image "
        f"× the map: confidence **{'increases' if f.increase else 'does not increase'}** "
        "(Increase in Confidence counts images where it does)."
    )


FAITH_KEY = "heatmap_faith"  # the page declares it (ui.state.flag, `faith=1` in the URL)


def map_with_faithfulness(
    model: nn.Module, res: dict, opts: dict, which: str, caption: str, class_name: str
) -> None:
    """A map beside how faithful it is to the model, once asked for.

    The measure runs the model on 22 masked copies of the picture (2-3 CPU-seconds at 352 px,
    against ~0.1 s for the map): on by default it made every layer switch of a class sharing one
    server wait for everyone's measures (bench/classroom.py), so a person turns it on, and the
    choice stays with the page and its URL.
    """
    left, right = st.columns([3, 2])
    left.image(
        hm.overlay(res["shown"], the_map(model, res, which), **opts),
        width="stretch",
        caption=caption,
    )
    with right:
        on = st.toggle(
            "How faithful is this map?",
            key=FAITH_KEY,
            help=f"Deletes, then inserts, the picture's pixels in the map's order and asks the "
            f"model each time: {2 * (FAITH_STEPS + 1)} more passes (a few seconds on a CPU).",
        )
        if on:
            faithfulness_panel(faithfulness_of(model, res, res["key"], which), class_name)
        else:
            st.caption(
                "Turn it on for the deletion and insertion curves: does P(class) fall when the "
                "map's brightest pixels go, and come back when only they are shown?"
            )


@st.cache_data(show_spinner="Scoring every method…", max_entries=4)
def compare_methods(
    _model: nn.Module,
    model_key: str,
    _res: dict,
    res_key: str,
    classes: tuple[str, ...],
    layer: str,
    size: int,
    stats: tuple,
    slow: bool,
) -> tuple[list[dict], str, bool]:
    """(table rows, the most faithful method, whether the pointing game was played): on fresh
    shapes (one of each class) for a shapes model, else on this image alone."""
    methods = ["lesson", *(m for m in hm.CAM_METHODS if slow or m not in hm.SLOW_METHODS)]
    shapes_model = set(classes) == set(SHAPE_CLASSES)
    if shapes_model:
        x, labels, boxes, names = hm.shapes_batch(size, stats[0], stats[1])
        labels = [classes.index(names[k]) for k in labels]
    else:
        x, labels, boxes = _res["x"], [_res["class_idx"]], None
    dtype = hm.fast_dtype(next(_model.parameters()).device)
    rows = hm.compare_methods(_model, x, labels, layer, classes, boxes, methods, 6, dtype)
    best = hm.most_faithful(rows, pointing=shapes_model)
    return hm.score_rows(rows, shapes_model), best, shapes_model


def compare_section(
    model: nn.Module,
    model_key: str,
    res: dict,
    classes: list[str],
    layer: str,
    size: int,
    stats: tuple,
) -> None:
    """A table of every method's faithfulness (and pointing game on shapes) on this model."""
    st.subheader("Which map is faithful to this model?")
    c1, c2 = st.columns([3, 2])
    on = c1.toggle(
        "Compare every method",
        key="heatmap_compare",
        help="A shapes model is scored on fresh shapes, one of each class, whose object box is "
        "known (the pointing game: does the map's peak land on the object?); any other model on "
        "this image.",
    )
    slow = c2.checkbox("Include Score-CAM (slow)", key="heatmap_compare_slow")
    if not on:
        return
    with ui.user_errors("Comparing the methods"):
        rows, best, pointing = compare_methods(
            model, model_key, res, res["key"], tuple(classes), layer, size, stats, slow
        )
        st.dataframe(rows, hide_index=True, key="heatmap_compare_table")
        rule = "the best pointing game, then" if pointing else "on this image,"
        st.success(
            f"Most faithful on this model: **{best}** ({rule} the largest insertion area minus "
            "deletion area)."
        )
        ui.show_code(hm.compare_methods, hm.pointing_hit, hm.most_faithful)
