"""The Heatmap page's two sections about training runs: the same image's map across checkpoints
(frozen 224 → unfrozen → 352), and after a run its confusion matrix, most confused pairs and top
losses with their Grad-CAM (explorer.interpret, cached in the run's folder).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st
from PIL import Image

import ui
import ui.state
from explorer import heatmap as hm
from explorer import interpret, jobs, paths
from explorer.plots import heatmap as plots

CKPT = "ckpt:"
MAX_ROW = 4  # checkpoints side by side
THUMB = 224  # pixels per side of a top-loss picture


def _checkpoints(opt: dict[str, Any]) -> list[str]:
    return [c for c in opt["choices"] if c.startswith(CKPT) and c in opt["sizes"]]


def _run_ids() -> list[str]:
    """Runs whose checkpoint is in weights/ (running or not: interpret checks it is theirs)."""
    from explorer import models

    names = {c["name"] for c in models.list_checkpoints() if "error" not in c}
    return [r["run_id"] for r in jobs.list_runs() if r.get("name") in names]


def settings(opt: dict[str, Any]) -> list[ui.state.Setting]:
    """This module's settings, declared with the page's (and kept in its URL)."""
    names = _checkpoints(opt)

    def parse(text: str) -> list[str]:
        picked = [t for t in text.split(",") if t]
        unknown = [t for t in picked if t not in names]
        if unknown or len(picked) > MAX_ROW:
            raise ValueError(f"{', '.join(unknown) or 'too many'} is not a checkpoint to compare")
        return picked

    ckpts = ui.state.Setting("heatmap_ckpts", [], parse, ",".join, name="ckpts")
    return [
        ckpts,
        ui.state.choice("heatmap_run", "", ["", *_run_ids()], name="run"),
        ui.state.flag("heatmap_interpret", False, name="interpret"),
    ]


def snapshots_of(choice: str, names: list[str]) -> list[str]:
    """A run's per-epoch snapshots (NAME-epochK, `--snapshots N`) in epoch order, at most
    MAX_ROW - 1 spread over the run, then the checkpoint itself: the default training row."""
    base = choice.removeprefix(CKPT)
    found = []
    for n in names:
        m = re.fullmatch(re.escape(base) + r"-epoch(\d+)", n.removeprefix(CKPT))
        if m:
            found.append((int(m.group(1)), n))
    snaps = [n for _, n in sorted(found)]
    if not snaps:
        return []
    keep = MAX_ROW - 1
    if len(snaps) > keep:
        snaps = [snaps[round(i * (len(snaps) - 1) / (keep - 1))] for i in range(keep)]
    return [*snaps, choice]


def _map_for(res: dict, which: str) -> tuple[Any, str]:
    # Score-CAM would run C forward passes per checkpoint: the row uses Grad-CAM instead.
    kind = "library" if which == "scorecam" else which
    return hm.heat(res["acts"], res["grads"], kind), kind


def training_section(
    opt: dict[str, Any],
    choice: str,
    img: Image.Image,
    img_key: str,
    layer: str,
    which: str,
    explain_with: Callable[..., tuple],
) -> None:
    """The same image's map from several checkpoints, each at the size it was trained at."""
    st.subheader("Across training")
    names = _checkpoints(opt)
    if not names:
        st.caption("Train a model (Training page) to compare its checkpoints here.")
        return
    kept = [n for n in st.session_state.get("heatmap_ckpts", []) if n in names]
    if not kept and st.session_state.get("heatmap_ckpts_auto") != choice:
        # Once per model: a run saved with --snapshots opens with its row already laid out.
        kept = snapshots_of(choice, names)
        st.session_state["heatmap_ckpts_auto"] = choice
    st.session_state["heatmap_ckpts"] = kept
    picked = st.multiselect(
        "Checkpoints, side by side (each at the size it was trained at)",
        names,
        format_func=lambda c: c.removeprefix(CKPT),
        max_selections=MAX_ROW,
        key="heatmap_ckpts",
        help="A run saves its checkpoint after every stage (frozen 224 px, unfrozen, 352 px) "
        "and, with --snapshots N, after each epoch as NAME-epochK: the row opens with those.",
    )
    if not picked:
        st.caption("Pick two or more checkpoints to see how the map changes over training.")
        return
    cols = st.columns(len(picked))
    for col, choice in zip(cols, picked, strict=True):
        with col, ui.user_errors(f"Loading {choice.removeprefix(CKPT)}"):
            stamp = opt["stamps"].get(choice, 0.0)
            _, info, res = explain_with(choice, stamp, img, img_key, layer)
            m, kind = _map_for(res, which)
            (_, pred, p) = hm.top_predictions(res["logits"], info["classes"], 1)[0]
            st.image(
                hm.overlay(res["shown"], m),
                width="stretch",
                caption=f"{choice.removeprefix(CKPT)} · {info['size']} px · {kind} · predicts "
                f"{pred} ({p:.0%})",
            )


@st.cache_data(show_spinner="Interpreting the run (once; then read from its folder)…")
def _interpretation(run_id: str, layer: str, stamp: float) -> interpret.Interpretation:
    return interpret.interpret_run(paths.runs_dir() / run_id, layer=layer)


def _stamp(run_id: str) -> float:
    """Changes when the run's config or its checkpoint is rewritten (the cache's key)."""
    import json

    from explorer import models

    cfg_path = paths.runs_dir() / run_id / "config.json"
    name = json.loads(cfg_path.read_text()).get("name")
    saved = [float(c.get("saved_at") or 0) for c in models.list_checkpoints() if c["name"] == name]
    return cfg_path.stat().st_mtime + sum(saved)


def _top_loss_pictures(it: interpret.Interpretation, run_id: str) -> list[Image.Image]:
    import json

    config = json.loads((paths.runs_dir() / run_id / "config.json").read_text())
    vs: Any = ui._validation(json.dumps(config, sort_keys=True))
    out = []
    for t, m in zip(it.top, it.maps, strict=True):
        _, shown = hm.prepare(vs.image(t.index), it.size, (0.5,) * 3, (0.25,) * 3)
        out.append(hm.overlay(shown.resize((THUMB, THUMB)), m, alpha=0.5))
    return out


def _run_label(run_id: str) -> str:
    if not run_id:
        return "(pick a run)"
    return run_id


def interpret_section(layer: str, load_model: Callable[..., Any]) -> None:
    """After a run: confusion matrix, most confused pairs and top losses with their Grad-CAM."""
    st.subheader("After a run: what does the model get wrong?")
    ids = _run_ids()
    if not ids:
        st.caption("No finished training run yet: train one on the Training page.")
        return
    if st.session_state.get("heatmap_run") not in ["", *ids]:
        st.session_state["heatmap_run"] = ""
    c1, c2 = st.columns([3, 2])
    run_id = c1.selectbox("Run", ["", *ids], format_func=_run_label, key="heatmap_run")
    on = c2.toggle(
        "Interpret it",
        key="heatmap_interpret",
        help="Runs the checkpoint on the run's own "
        "validation set once and keeps the result in the run's folder.",
    )
    if not (run_id and on):
        return
    with ui.user_errors("Interpreting the run"):
        it = _interpretation(run_id, layer, _stamp(run_id))
        st.markdown(
            f"Checkpoint **{it.checkpoint}** on its run's **{len(it.labels)}** validation images "
            f"at {it.size} px: accuracy **{it.accuracy:.1%}**."
        )
        left, right = st.columns([3, 2])
        left.plotly_chart(plots.confusion_chart(it.confusion, it.classes), key="heatmap_confusion")
        pairs = interpret.most_confused(it.confusion, it.classes)[:10]
        right.markdown("**Most confused** (actual → predicted, count)")
        right.dataframe(
            [{"actual": a, "predicted": p, "count": n} for a, p, n in pairs],
            hide_index=True,
            key="heatmap_most_confused",
        )
        st.markdown(
            "**Top losses** — prediction / actual / loss / probability of the actual class, each "
            "with the Grad-CAM of what it predicted:"
        )
        captions = [
            f"{it.classes[t.pred]} / {it.classes[t.label]} / {t.loss:.2f} / {t.prob:.2f}"
            for t in it.top
        ]
        st.image(_top_loss_pictures(it, run_id), caption=captions, width=THUMB)
        ui.show_code(interpret.top_losses, interpret.most_confused, interpret.validation_set)
