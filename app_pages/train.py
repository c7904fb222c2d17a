"""Training page: set up the lesson's run (data, architecture, stages), start or stop the server's one
training job and watch it live. Everything shown is read back from runs/<id>/ by explorer.jobs, so a
refresh or a second tab reattaches to the same job.
"""

from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

import ui
from explorer import jobs, models
from explorer import train as tr

DATASETS = {
    "shapes": "Synthetic shapes (offline)",
    "pets": "Oxford-IIIT Pet (37 breeds)",
    "folder": "A folder of my images",
}
BATCH_SIZES = (1, 1024)  # the widgets' ranges
N_SHAPES = (100, 50_000)
PADDING_HELP = (
    "What augmentation shows where a rotated or zoomed-out picture leaves the frame: zeros = black, "
    "border = the edge pixel repeated, reflection = the picture mirrored (the lesson's default)."
)
LIVE_EVERY_S = 1.0  # refresh period of the live view while a job runs
IDLE_POLL_S = 5.0  # while idle, how often to look for a job another tab has started
LEGEND_ON_TOP = dict(orientation="h", yanchor="bottom", y=1.08, xanchor="left", x=0)
MAX_PLOT_POINTS = 3000  # batch curves are thinned beyond this so the browser stays responsive


# --- state -------------------------------------------------------------------------------------


def _apply_recipe() -> None:
    """Copy the chosen recipe's settings into the widgets (a callback, so it runs before them)."""
    st.session_state.pop("train_stage_rows", None)  # the recipe's own stages table
    _show_config(tr.recipe(st.session_state["train_recipe"]))


def _clamp(v: int, bounds: tuple[int, int]) -> int:
    return min(max(int(v), bounds[0]), bounds[1])


def _show_config(cfg: tr.TrainConfig) -> None:
    """Put a config's settings into the widgets' state (numbers clamped to the widgets' ranges: a
    job started from the CLI may use values the page does not offer)."""
    data = cfg.data if cfg.data in DATASETS else "folder"
    st.session_state.update(
        train_data=data,
        train_arch=cfg.arch,
        train_pretrained=cfg.pretrained,
        train_batch_size=_clamp(cfg.batch_size, BATCH_SIZES),
        train_padding=cfg.padding_mode,
        train_name=cfg.name,
        train_n_shapes=_clamp(cfg.n_shapes, N_SHAPES),
    )
    if data == "folder":
        st.session_state.update(
            train_folder=cfg.data.removeprefix("folder:"), train_label_regex=cfg.label_regex or ""
        )


def _request_start() -> None:
    """The Start button's callback: it runs even when this run draws the button disabled."""
    st.session_state["train_start_requested"] = True


def _running_config() -> tr.TrainConfig | None:
    """The running job's config, or None (no job, or one whose config cannot be read)."""
    try:
        run_id = jobs.current()
        return tr.TrainConfig.from_dict(jobs.status(run_id).config) if run_id else None
    except Exception:  # noqa: BLE001 - a page refresh must not fail on an odd job folder
        return None


def _init_state() -> None:
    if "train_recipe" not in st.session_state:
        running = _running_config()
        if running is not None:
            # A refresh or a new tab while a job runs: show the settings of the job people see
            # training below, not a default recipe.
            st.session_state["train_recipe"] = (
                running.recipe if running.recipe in tr.RECIPES else "lesson"
            )
            _show_config(running)
            st.session_state["train_stage_rows"] = tr.stage_rows(running.stages)
            if running.device == "cpu" or (running.device == "cuda" and torch.cuda.is_available()):
                st.session_state["train_device"] = running.device
            return
        # On a CPU the lesson's recipe would take hours: start people on the quick one.
        st.session_state["train_recipe"] = "lesson" if torch.cuda.is_available() else "quick"
        _apply_recipe()


# --- setup -------------------------------------------------------------------------------------


def pets_picker() -> bool:
    """Pet dataset state, with a download button when missing; True when it is ready."""
    from explorer import data

    with ui.user_errors("Checking the Pet dataset"):
        state = data.pets_status()
        if state["state"] == "ready":
            st.caption(f"Oxford-IIIT Pet: {state['n_images']} images in {state['path']}.")
            return True
        if state["state"] == "partial":
            st.warning(
                f"The Pet dataset looks half-extracted ({state['n_images']} of {state['expected']} "
                "images). Download it again to repair it."
            )
        else:
            st.info("The Oxford-IIIT Pet dataset is not on disk yet (about 800 MB to download).")
        if st.button("Download Oxford-IIIT Pet", key="train_pet_download"):
            slot = st.empty()
            bar = slot.progress(0.0, text="Starting the download")
            try:
                data.download_pets(
                    progress=lambda msg, frac: bar.progress(min(max(frac, 0.0), 1.0), text=msg)
                )
            except data.DatasetUnavailable as exc:
                slot.empty()  # no half-filled bar left behind
                st.error(str(exc))  # already one sentence that says what to do instead
                return False
            slot.empty()
            st.success("The Pet dataset is ready.")
            return True
    return False


def setup(running: bool) -> tr.TrainConfig | None:
    """All the run's settings; the config they describe, or None when they are not usable yet."""
    left, right = st.columns(2)
    with left:
        st.selectbox(
            "Recipe",
            list(tr.RECIPES),
            key="train_recipe",
            on_change=_apply_recipe,
            help="Loads a whole recipe into the settings below; edit anything afterwards.",
        )
        st.caption(tr.RECIPES[st.session_state["train_recipe"]])
        kind = st.radio(
            "Dataset", list(DATASETS), format_func=DATASETS.get, key="train_data", horizontal=True
        )
        data_spec, ready, label_regex = kind, True, None
        if kind == "pets":
            ready = pets_picker()
        elif kind == "folder":
            folder = st.text_input("Folder path", key="train_folder", placeholder="/path/to/images")
            label_regex = (
                st.text_input(
                    "Label regex on the file name (empty: sub-folder names are the labels)",
                    key="train_label_regex",
                    placeholder=r"([^/]+)_\d+.jpg$",
                ).strip()
                or None
            )
            data_spec, ready = f"folder:{folder.strip()}", bool(folder.strip())
            if ready:
                # Say what is wrong with the folder here, before a job is started and fails.
                try:
                    found = folder_classes(folder.strip(), label_regex)
                    st.caption(f"{len(found)} classes: {', '.join(found[:12])}"
                               + (" …" if len(found) > 12 else ""))  # fmt: skip
                except (ValueError, OSError) as exc:
                    st.error(f"This folder cannot be used yet: {exc}")
                    ready = False
        else:
            st.number_input("Number of synthetic images", *N_SHAPES, step=100, key="train_n_shapes")
        st.selectbox("Architecture", list(models.ARCHS), key="train_arch")
        st.checkbox(
            "Start from ImageNet weights (pretrained)",
            key="train_pretrained",
            help="Transfer learning as in the lesson; needs the weights cached or a network.",
        )
        if st.session_state["train_pretrained"] and not models.imagenet_weights_cached(
            st.session_state["train_arch"]
        ):
            st.caption(
                "These ImageNet weights are not cached: they download at the start if the network "
                "allows; otherwise untick to train from scratch."
            )
    with right:
        devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
        device = st.selectbox("Device", devices, key="train_device")
        if device == "cpu":
            st.caption(
                "No GPU here, so the run uses the CPU in fp32: the lesson's recipe would take hours, "
                "the quick recipe several minutes, the tiny one seconds."
            )
        else:
            st.caption("CUDA: bf16 autocast, channels_last, data and augmentation on the GPU.")
        st.number_input(
            "Batch size",
            *BATCH_SIZES,
            step=8,
            key="train_batch_size",
            help="The lesson uses 64. On a GPU, 256 trains about twice as many images per second "
            "(measured on an H200: 3,800 vs 8,300); lower it if a run says the GPU is out of memory.",
        )
        st.selectbox(
            "Padding mode",
            ["reflection", "border", "zeros"],
            key="train_padding",
            help=PADDING_HELP,
        )
        st.text_input("Checkpoint name", key="train_name", help="Saved as weights/NAME.safetensors")
    recipe = st.session_state["train_recipe"]
    restored = st.session_state.get("train_stage_rows")  # a running job's stages, after a refresh
    st.markdown(
        "**Stages** — one `fit_one_cycle` each. A single learning rate `x` means fastai's "
        "`slice(x)` (the head gets x, the body x/10); `lo:hi` means `slice(lo, hi)`, spread "
        "geometrically over the three layer groups."
    )
    rows = st.data_editor(
        pd.DataFrame(restored if restored else tr.stage_rows(tr.recipe(recipe).stages)),
        # a new recipe starts from its own table
        key=f"train_stages_{recipe}" + ("_job" if restored else ""),
        num_rows="dynamic",
        width="stretch",
        disabled=running,
        column_config={
            "epochs": st.column_config.NumberColumn("epochs", min_value=1, max_value=1000, step=1),
            "size": st.column_config.NumberColumn(
                "size (px)", min_value=16, max_value=2048, step=8
            ),
            "lr": st.column_config.TextColumn("learning rate", help="1e-2 or 1e-6:1e-3"),
            "frozen": st.column_config.CheckboxColumn("frozen", help="train only head + BatchNorm"),
            "pct_start": st.column_config.NumberColumn(
                "pct_start", min_value=0.0, max_value=1.0, step=0.05, help="warm-up share"
            ),
        },
    )
    with ui.user_errors("Reading the stages"):
        stages = tr.stages_from_rows(rows.to_dict("records"))
        if not ready:
            return None
        return tr.recipe(
            recipe,
            data=data_spec,
            arch=st.session_state["train_arch"],
            name=st.session_state["train_name"].strip() or "model",
            stages=stages,
            batch_size=int(st.session_state["train_batch_size"]),
            padding_mode=st.session_state["train_padding"],
            pretrained=bool(st.session_state["train_pretrained"]),
            n_shapes=int(st.session_state.get("train_n_shapes", 2000)),
            label_regex=label_regex,
            device=device,
        )
    return None


@st.cache_data(show_spinner="Tracing the model…", max_entries=8)
def model_summary(arch: str, n_classes: int, size: int, bn_final: bool) -> pd.DataFrame:
    """`learn.summary()` for the architecture (random weights: only the shapes matter here)."""
    model = models.create_cnn(arch, n_classes, pretrained=False, bn_final=bn_final, seed=0)
    rows = models.summary(model, size)
    return pd.DataFrame(
        {
            "layer": [r["layer"] for r in rows],
            "name": [r["name"] for r in rows],
            "output shape": [str(tuple(r["output_shape"])) for r in rows],
            "params": [r["params"] for r in rows],
            "trainable": [r["trainable"] for r in rows],
        }
    )


def n_classes(cfg: tr.TrainConfig) -> int:
    """How many classes the head will predict for this data."""
    from explorer import data

    if cfg.data == "shapes":
        return len(data.SHAPE_CLASSES)
    if cfg.data == "pets":
        return 37
    return len(folder_classes(cfg.data.removeprefix("folder:"), cfg.label_regex))


@st.cache_data(show_spinner=False, ttl=30)
def folder_classes(path: str, regex: str | None) -> list[str]:
    from explorer import data

    return list(data.folder_items(path, regex=regex).classes)


def show_summary(cfg: tr.TrainConfig, n_classes: int) -> None:
    size = cfg.stages[0].size
    with st.expander(f"Model summary: {cfg.arch} at {size} px, {n_classes} classes"):
        with ui.user_errors("Summarising the model"):
            df = model_summary(cfg.arch, n_classes, size, cfg.bn_final)
            st.caption(
                f"Input (1, 3, {size}, {size}) → logits (1, {n_classes}); "
                f"{int(df['params'].sum()):,} parameters. The first conv has stride 2, so every "
                "shape halves early, as the lesson's summary shows."
            )
            st.dataframe(df, width="stretch", hide_index=True, height=300)


# --- live view ---------------------------------------------------------------------------------


def _thin(rows: list[dict]) -> list[dict]:
    step = max(1, len(rows) // MAX_PLOT_POINTS)
    return rows[::step]


def curves_figure(job: jobs.JobStatus) -> go.Figure:
    """Training loss per batch (raw and smoothed), validation loss and error rate per epoch."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("loss", "error rate (validation)"), horizontal_spacing=0.1
    )
    b = _thin(job.batches)
    fig.add_scatter(
        x=[r["step"] for r in b], y=[r["loss"] for r in b], name="batch loss",
        line=dict(width=1, color="#9ecae1"), row=1, col=1,
    )  # fmt: skip
    fig.add_scatter(
        x=[r["step"] for r in b], y=[r["smooth_loss"] for r in b], name="train (smoothed)",
        line=dict(color="#1f77b4"), row=1, col=1,
    )  # fmt: skip
    if job.epochs:
        per_epoch = _epoch_end_steps(job)
        fig.add_scatter(
            x=per_epoch, y=[e["valid_loss"] for e in job.epochs], name="valid", mode="lines+markers",
            line=dict(color="#ff7f0e"), row=1, col=1,
        )  # fmt: skip
        fig.add_scatter(
            x=[e["epoch"] for e in job.epochs], y=[e["error_rate"] for e in job.epochs],
            name="error rate", mode="lines+markers", line=dict(color="#d62728"), row=1, col=2,
        )  # fmt: skip
    else:
        # Paper coordinates: an empty subplot draws no axes for "x2 domain" to refer to.
        x0, x1 = fig.layout.xaxis2.domain
        fig.add_annotation(
            text="measured on the validation set<br>at the end of each epoch", showarrow=False,
            xref="paper", yref="paper", x=(x0 + x1) / 2, y=0.5, font=dict(color="#7f7f7f"),
        )  # fmt: skip
    fig.update_xaxes(title_text="batch", row=1, col=1)
    fig.update_xaxes(title_text="epoch (as in the table)", dtick=1, row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND_ON_TOP)
    return fig


def _epoch_end_steps(job: jobs.JobStatus) -> list[int]:
    ends: dict[int, int] = {}
    for r in job.batches:
        ends[r["epoch"]] = r["step"]
    return [ends.get(e["epoch"], 0) for e in job.epochs]


def schedule_figure(job: jobs.JobStatus) -> go.Figure:
    """The head group's planned one-cycle LR and momentum (dashed), and what the run used so far."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    start = job.start or {}
    nbs = start.get("batches_per_epoch")
    if nbs:
        plan = _thin(tr.planned_schedule(tr.TrainConfig.from_dict(job.config), nbs))
        steps = [r["step"] for r in plan]
        fig.add_scatter(x=steps, y=[r["lr"] for r in plan], name="lr (plan)",
                        line=dict(dash="dot", color="#1f77b4"))  # fmt: skip
        fig.add_scatter(x=steps, y=[r["mom"] for r in plan], name="momentum (plan)",
                        line=dict(dash="dot", color="#ff7f0e"), secondary_y=True)  # fmt: skip
    b = _thin(job.batches)
    fig.add_scatter(x=[r["step"] for r in b], y=[r["lr"] for r in b], name="lr",
                    line=dict(color="#1f77b4"))  # fmt: skip
    fig.add_scatter(x=[r["step"] for r in b], y=[r["mom"] for r in b], name="momentum",
                    line=dict(color="#ff7f0e"), secondary_y=True)  # fmt: skip
    fig.update_yaxes(title_text="learning rate (head)", secondary_y=False)
    fig.update_yaxes(title_text="momentum (β1)", tickformat=".3f", secondary_y=True)
    fig.update_xaxes(title_text="batch")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND_ON_TOP)
    return fig


def epoch_table(job: jobs.JobStatus) -> pd.DataFrame:
    """The table fastai prints after each epoch."""
    return pd.DataFrame(
        {
            "epoch": [e["epoch"] for e in job.epochs],
            "train_loss": [e["train_loss"] for e in job.epochs],
            "valid_loss": [e["valid_loss"] for e in job.epochs],
            "error_rate": [e["error_rate"] for e in job.epochs],
            "time": [f"{int(e['time']) // 60:02d}:{int(e['time']) % 60:02d}" for e in job.epochs],
            "images/s": [round(e["images_per_s"]) for e in job.epochs],
        }
    )


def progress(job: jobs.JobStatus) -> None:
    """Progress bars for stage, epoch and batch, and the shapes the run works with."""
    n_stages = len(job.config.get("stages", [])) or 1
    total_epochs = sum(s["epochs"] for s in job.config.get("stages", [])) or 1
    stage = job.stages[-1] if job.stages else None
    last = job.batches[-1] if job.batches else None
    done_epochs = len(job.epochs)
    si = stage["stage"] if stage else 0
    st.progress(
        min(1.0, (si + (1 if job.state == "done" else 0)) / n_stages),
        text=f"stage {min(si + 1, n_stages)}/{n_stages}"
        + (f": {stage['size']} px, {'frozen' if stage['frozen'] else 'unfrozen'}" if stage else ""),
    )
    st.progress(min(1.0, done_epochs / total_epochs), text=f"epochs {done_epochs}/{total_epochs}")
    if last:
        st.progress(
            (last["batch"] + 1) / last["batches"],
            text=f"batch {last['batch'] + 1}/{last['batches']} of epoch {last['epoch'] + 1}",
        )
    if job.start:
        s = job.start
        bs = job.config.get("batch_size")
        size = stage["size"] if stage else job.config["stages"][0]["size"]
        st.caption(
            f"Shapes: cache {tuple(s['cache_shape'])} uint8 on {s['device']} · batch "
            f"({bs}, 3, {size}, {size}) float ({s['amp']}) · logits ({bs}, {len(s['classes'])}) · "
            f"{s['n_train']} train / {s['n_valid']} valid images"
            + (f" · {s['skipped']} unreadable images skipped" if s["skipped"] else "")
        )


def show_job(job: jobs.JobStatus) -> None:
    """Everything about one run, as read from disk."""
    name = job.config.get("name", "?")
    st.markdown(f"**Run `{job.run_id}`** · {job.config.get('arch')} on {job.config.get('data')} · "
                f"**{job.state}**")  # fmt: skip
    if job.state == "starting":
        st.info(f"Starting: {job.status_message or 'launching the training process'}…")
    progress(job)
    if job.epochs:
        last = job.epochs[-1]
        c1, c2, c3 = st.columns(3)
        c1.metric("error rate", f"{last['error_rate']:.3f}")
        c2.metric("valid loss", f"{last['valid_loss']:.4f}")
        c3.metric("images/s (training)", f"{last['images_per_s']:.0f}")
    if job.batches or job.epochs:
        st.plotly_chart(curves_figure(job), width="stretch", key="train_curves")
        st.plotly_chart(schedule_figure(job), width="stretch", key="train_schedule")
    if job.epochs:
        st.dataframe(epoch_table(job), width="stretch", hide_index=True)
    if job.state == "done":
        st.success(f"Finished: checkpoint **{job.checkpoint or name}** saved in weights/.")
        st.page_link(
            "app_pages/heatmap.py",
            label="Look inside it on the Heatmap page",
            icon=":material/local_fire_department:",
        )
    elif job.state == "stopped":
        saved = f"checkpoint **{job.checkpoint}** saved" if job.checkpoint else "nothing saved yet"
        st.warning(f"Stopped on request; {saved}.")
        if job.checkpoint:
            st.page_link(
                "app_pages/heatmap.py",
                label="Look inside it on the Heatmap page",
                icon=":material/local_fire_department:",
            )
    elif job.state == "failed":
        st.error(job.message or "The training job failed.")
        if job.log_tail:
            st.caption("The job's last output:")
            st.code("\n".join(job.log_tail), language=None, wrap_lines=True)


def live(was_running: bool) -> None:
    """Re-read the job from disk (every second while it runs); its end triggers one full rerun."""
    with ui.user_errors("Reading the training job"):
        view = st.session_state.get("train_view_run")
        job = jobs.status() if was_running or not view else jobs.status(view)
        if job is None:
            st.caption("No training runs yet.")
            return
        show_job(job)
        if was_running and not job.running:
            st.rerun(scope="app")  # re-enable Start, refresh the list of runs


def watch_for_a_job() -> None:
    """While idle: a job started from another tab reruns this page, which then follows it live.

    It draws nothing, so the charts of a finished run are not redrawn (and un-zoomed) each poll.
    """
    with ui.user_errors("Looking for a training job"):
        if jobs.current() is not None:
            st.rerun(scope="app")


def past_runs() -> None:
    runs = jobs.list_runs()
    if not runs:
        return
    st.subheader("Past runs")
    st.dataframe(pd.DataFrame(runs), width="stretch", hide_index=True)
    st.selectbox("Show run", [r["run_id"] for r in runs], key="train_view_run")


# --- page --------------------------------------------------------------------------------------

st.title("Training")
st.caption(
    "The lesson trains resnet34 on 37 pet breeds: 3 frozen epochs at 224 px, unfreeze, 2 more, then "
    "2 at 352 px. Here the same run (or a small one) trains in a separate process you can watch, "
    "stop and come back to."
)
_init_state()
with ui.user_errors("Checking for a running job"):
    running_id = jobs.current()
running = running_id is not None
config = setup(running)

start_col, stop_col, _ = st.columns([1, 1, 4])
start_col.button(
    "Start training",
    key="train_start",
    type="primary",
    disabled=running or config is None,
    on_click=_request_start,
)
# A click from a tab that has not yet seen another tab's job arrives here even though this run
# draws the button disabled: jobs.start refuses it and the person is told which job runs.
if st.session_state.pop("train_start_requested", False) and config is not None:
    with ui.user_errors("Starting the training job"):
        try:
            run_id = jobs.start(config)
        except jobs.JobBusy:
            # A double click: the second one meets the job the first one started here.
            if running_id is None or running_id != st.session_state.get("train_started_run"):
                raise
        else:
            st.session_state["train_view_run"] = st.session_state["train_started_run"] = run_id
            time.sleep(0.2)  # let the child write its first line before the live view reads it
            st.rerun()
if stop_col.button("Stop", key="train_stop", disabled=not running):
    with ui.user_errors("Stopping the training job"):
        if jobs.stop():
            st.toast("Stop requested: the job finishes its batch, saves a checkpoint and exits.")
if running:
    st.info(f"Job `{running_id}` is running for the whole server: every tab sees it here.")

if config is not None:
    with ui.user_errors("Counting the classes"):
        show_summary(config, n_classes(config))

st.subheader("Live")
if running:
    st.fragment(run_every=LIVE_EVERY_S)(live)(True)
else:
    live(False)
    st.fragment(run_every=IDLE_POLL_S)(watch_for_a_job)()
past_runs()
ui.show_code(
    tr.one_cycle,
    tr.make_optimizer,
    tr.set_schedule,
    tr.augment_batch,
    tr.train_step,
    tr.fit_stages,
    label="Show the code",
)
