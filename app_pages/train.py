"""Training page: set up the lesson's run (data, architecture, stages), start, queue, stop or
cancel the server's training jobs and watch them live. Everything shown is read back from
runs/<id>/ by explorer.jobs, so a refresh or a second tab reattaches to the same job. Every setting
of the form survives a page switch and lives in the URL (ui.state).

Each browser session owns the jobs it submits (a random token in its session state); with
EXPLORER_ADMIN_TOKEN set on the server only the owner, or whoever types that token, may stop or
cancel a job. The server never touches CUDA: jobs.gpu_count() asks a child process.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
import ui.state
from app_pages import train_jobs
from explorer import data, jobs, models, roots
from explorer import train as tr
from explorer.errors import UserError
from explorer.padding import PADDING_HELP, PADDING_MODES
from explorer.plots import train as plots
from explorer.train.config import BATCH_SIZE_RANGE as BATCH_SIZES
from explorer.train.config import EPOCHS_RANGE as EPOCHS
from explorer.train.config import N_SHAPES_RANGE as N_SHAPES
from explorer.train.config import SIZE_RANGE as SIZES

PAGE = "train"  # the page's url_path
DATASETS = {
    "shapes": "Synthetic shapes (offline)",
    "pets": f"Oxford-IIIT Pet ({data.PETS_BREEDS} breeds)",
    "folder": "A folder of my images",
}
LIVE_EVERY_S = 1.0  # refresh period of the live view while a job runs
IDLE_POLL_S = 5.0  # while idle, how often to look for a job another tab has started
EDITOR = "train_stages_editor"  # the stages table's widget key
STAGES = "train_stages"  # the stages as text (tr.stages_to_text): a setting, not a widget
STAGES_BASE = "train_stages_base"  # the stages the editor started from (its edits apply on top)


# --- settings ----------------------------------------------------------------------------------


def default_recipe() -> str:
    """On a CPU the lesson's recipe would take hours: start people on the quick one."""
    return "lesson" if jobs.gpu_count() > 0 else "quick"


def devices() -> list[str]:
    return ["cuda", "cpu"] if jobs.gpu_count() > 0 else ["cpu"]


def _clamp(v: int, bounds: tuple[int, int]) -> int:
    return min(max(int(v), bounds[0]), bounds[1])


def form_values(cfg: tr.TrainConfig) -> dict[str, object]:
    """A config's settings as the form's widget values (numbers clamped to the widgets' ranges: a
    job started from the CLI may use values the page does not offer)."""
    kind = cfg.data if cfg.data in DATASETS else "folder"
    values: dict[str, object] = dict(
        train_recipe=cfg.recipe if cfg.recipe in tr.RECIPES else "lesson",
        train_data=kind,
        train_arch=cfg.arch,
        train_pretrained=cfg.pretrained,
        train_batch_size=_clamp(cfg.batch_size, BATCH_SIZES),
        train_padding=cfg.padding_mode,
        train_name=cfg.name,
        train_n_shapes=_clamp(cfg.n_shapes, N_SHAPES),
        train_stages=tr.stages_to_text(cfg.stages),
    )
    if kind == "folder":
        values.update(
            train_folder=cfg.data.removeprefix("folder:"), train_label_regex=cfg.label_regex or ""
        )
    if cfg.device in devices():
        values["train_device"] = cfg.device
    return values


def _stages_text(text: str) -> str:
    return tr.stages_to_text(tr.stages_from_text(text))  # raises ConfigError for a bad URL


def settings() -> list[ui.state.Setting]:
    """Every setting of the form. The defaults are the lesson's on every machine, so a link opens
    the same form anywhere; a CPU machine starts people on the quick recipe (see init_state)."""
    d = tr.recipe("lesson")
    s = ui.state
    return [
        s.choice("train_recipe", d.recipe, list(tr.RECIPES)),
        s.choice("train_data", d.data, list(DATASETS)),
        s.text("train_folder", "", max_len=500),
        s.text("train_label_regex", "", max_len=200),
        s.number("train_n_shapes", _clamp(d.n_shapes, N_SHAPES), *N_SHAPES, integer=True),
        s.choice("train_arch", d.arch, models.ARCHS),
        s.flag("train_pretrained", d.pretrained),
        s.choice("train_device", devices()[0], devices()),
        s.number("train_batch_size", d.batch_size, *BATCH_SIZES, integer=True),
        s.choice("train_padding", d.padding_mode, PADDING_MODES),
        s.text("train_name", d.name),
        s.Setting(STAGES, tr.stages_to_text(d.stages), _stages_text),
    ]


def set_form(values: dict[str, object]) -> None:
    """Put values into the form, the stages table included (its editor starts afresh)."""
    st.session_state.update(values)
    st.session_state[STAGES_BASE] = st.session_state[STAGES]


def _apply_recipe() -> None:
    """Copy the chosen recipe's settings into the widgets (a callback, so it runs before them)."""
    set_form(form_values(tr.recipe(st.session_state["train_recipe"])))


def _running_config(run_id: str | None) -> tr.TrainConfig | None:
    """The running job's config, or None (no job, or one whose config cannot be read)."""
    if run_id is None:
        return None
    try:
        job = jobs.status(run_id)
        return tr.TrainConfig.from_dict(job.config) if job else None
    except UserError:  # gone meanwhile (NoSuchRun), or a config this version cannot use
        return None


def init_state(running_id: str | None) -> None:
    """Give every setting its value: the link, the person's last choice, or the default.

    On a session's first visit, the form shows the running job's settings if there is one (the
    job people see training below), else, unless a link set the form, the default recipe.
    """
    first = not st.session_state.get("train_visited")
    from_link = first and bool(st.query_params.to_dict())
    ui.state.persist(PAGE, settings())
    if not first:
        return
    st.session_state["train_visited"] = True
    running = _running_config(running_id)
    if running is not None:
        set_form(form_values(running))
    elif not from_link:
        set_form(form_values(tr.recipe(default_recipe())))
    ui.state.write_url(PAGE)


# --- setup sections ----------------------------------------------------------------------------


def pets_picker() -> bool:
    """Pet dataset state, with a download button when missing; True when it is ready."""
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
        st.info(
            f"The Oxford-IIIT Pet dataset is not on disk yet (about {data.PETS_DOWNLOAD_MB} MB to "
            "download)."
        )
    if not st.button("Download Oxford-IIIT Pet", key="train_pet_download"):
        return False
    slot = st.empty()
    bar = slot.progress(0.0, text="Starting the download")

    def report(msg: str, frac: float) -> None:
        bar.progress(min(max(frac, 0.0), 1.0), text=msg)

    try:
        data.download_pets(progress=report)
    except data.DatasetUnavailable as exc:
        slot.empty()  # no half-filled bar left behind
        st.error(str(exc))  # already one sentence that says what to do instead
        return False
    slot.empty()
    st.success("The Pet dataset is ready.")
    return True


@st.cache_data(show_spinner=False, ttl=30)
def folder_classes(path: str, regex: str | None) -> list[str]:
    """The classes of a folder below the server's data roots (explorer.roots)."""
    return list(data.folder_items(roots.check_folder(path), regex=regex).classes)


def folder_picker() -> tuple[str, bool, str | None]:
    """A folder and how to label it; (data spec, usable, label regex)."""
    folder = st.text_input("Folder path", key="train_folder", placeholder="/path/to/images").strip()
    label_regex = (
        st.text_input(
            "Label regex on the file name (empty: sub-folder names are the labels)",
            key="train_label_regex",
            placeholder=data.PET_REGEX,
        ).strip()
        or None
    )
    if not folder:
        return "folder:", False, label_regex
    try:  # say what is wrong with the folder here, before a job is started and fails
        found = folder_classes(folder, label_regex)
    except UserError as exc:  # a FolderError, or a folder outside the server's data roots
        st.error(f"This folder cannot be used yet: {exc}")
        return f"folder:{folder}", False, label_regex
    more = " …" if len(found) > 12 else ""
    st.caption(f"{len(found)} classes: {', '.join(found[:12])}{more}")
    return f"folder:{folder}", True, label_regex


def data_section() -> tuple[str, bool, str | None]:
    """The recipe and the dataset; (data spec, ready to train on, label regex)."""
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
    if kind == "pets":
        with ui.user_errors("Checking the Pet dataset"):
            return "pets", pets_picker(), None
        return "pets", False, None
    if kind == "folder":
        return folder_picker()
    st.number_input("Number of synthetic images", *N_SHAPES, step=100, key="train_n_shapes")
    return "shapes", True, None


def model_section(arch: str, pretrained: bool) -> None:
    """Architecture and whether to start from ImageNet weights (saying what they cost first)."""
    st.selectbox("Architecture", list(models.ARCHS), key="train_arch")
    st.checkbox(
        "Start from ImageNet weights (pretrained)",
        key="train_pretrained",
        help="Transfer learning as in the lesson; needs the weights cached or a network.",
    )
    if pretrained and not models.imagenet_weights_cached(arch):
        st.caption(
            f"The ImageNet weights for {arch} are not cached: the run downloads them first, which "
            f"needs the network and about {models.IMAGENET_DOWNLOAD_MB[arch]} MB; offline, untick "
            "to train from scratch."
        )


def run_section() -> tuple[str, int]:
    """Device, processes, batch size, padding and checkpoint name; returns (device, processes)."""
    device = st.selectbox("Device", devices(), key="train_device")
    nprocs = 1
    if device == "cuda" and jobs.gpu_count() > 1:  # the field only exists with several GPUs
        nprocs = int(
            st.number_input(
                "Processes (one per GPU)",
                1,
                jobs.gpu_count(),
                key="train_nprocs",
                help="More than 1 trains with torchrun and DistributedDataParallel: each process "
                "takes its share of every batch, so the batch size below is the global one and "
                "the learning rates stay as they are.",
            )
        )
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
        list(PADDING_MODES),
        key="train_padding",
        help="What augmentation shows where a rotated or zoomed-out picture leaves the frame: "
        + "; ".join(f"{m} = {PADDING_HELP[m]}" for m in PADDING_MODES)
        + ". The lesson uses reflection.",
    )
    st.text_input("Checkpoint name", key="train_name", help="Saved as weights/NAME.safetensors")
    return str(device), nprocs


STAGE_COLUMNS = {
    "epochs": st.column_config.NumberColumn(
        "epochs", min_value=EPOCHS[0], max_value=EPOCHS[1], step=1
    ),
    "size": st.column_config.NumberColumn(
        "size (px)", min_value=SIZES[0], max_value=SIZES[1], step=8
    ),
    "lr": st.column_config.TextColumn("learning rate", help="1e-2 or 1e-6:1e-3"),
    "frozen": st.column_config.CheckboxColumn("frozen", help="train only head + BatchNorm"),
    "pct_start": st.column_config.NumberColumn(
        "pct_start", min_value=0.0, max_value=1.0, step=0.05, help="warm-up share"
    ),
}


def stages_section(running: bool) -> list[tr.Stage] | None:
    """The stages table; its rows as stages, or None (with one sentence) when a cell is unusable.

    The editor keeps its edits on top of the rows it started from; when Streamlit has dropped its
    state (a page switch) or redraws it (a job starts or ends), it starts again from the stages
    last read from it, so nothing typed is lost.
    """
    st.markdown(
        "**Stages** — one `fit_one_cycle` each. A single learning rate `x` means fastai's "
        "`slice(x)` (the head gets x, the body x/10); `lo:hi` means `slice(lo, hi)`, spread "
        "geometrically over the three layer groups."
    )
    if EDITOR not in st.session_state or st.session_state.get("train_editor_running") != running:
        st.session_state[STAGES_BASE] = st.session_state[STAGES]
    st.session_state["train_editor_running"] = running
    base = tr.stages_from_text(st.session_state[STAGES_BASE])
    rows = st.data_editor(
        pd.DataFrame(tr.stage_rows(base)),
        key=EDITOR,
        num_rows="dynamic",
        width="stretch",
        disabled=running,
        column_config=STAGE_COLUMNS,
    )
    with ui.user_errors("Reading the stages"):
        stages = tr.stages_from_rows(rows.to_dict("records"))
        st.session_state[STAGES] = tr.stages_to_text(stages)
        return stages
    return None


def build_config(
    data_spec: str, label_regex: str | None, device: str, stages: list[tr.Stage]
) -> tr.TrainConfig | None:
    """The run the form describes, or None (with one sentence) when a setting cannot work."""
    s = st.session_state
    with ui.user_errors("Checking the settings"):
        return tr.recipe(
            s["train_recipe"],
            data=data_spec,
            arch=s["train_arch"],
            name=s["train_name"].strip() or "model",
            stages=stages,
            batch_size=int(s["train_batch_size"]),
            padding_mode=s["train_padding"],
            pretrained=bool(s["train_pretrained"]),
            n_shapes=int(s["train_n_shapes"]),
            label_regex=label_regex,
            device=device,
        )
    return None


def setup(running: bool) -> tuple[tr.TrainConfig | None, int]:
    """All the run's settings; (the config they describe or None when they are not usable yet,
    the number of training processes)."""
    left, right = st.columns(2)
    with left:
        data_spec, ready, label_regex = data_section()
        model_section(st.session_state["train_arch"], bool(st.session_state["train_pretrained"]))
    with right:
        device, nprocs = run_section()
    stages = stages_section(running)
    ui.state.write_url(PAGE)  # the stages table's rows became a setting after persist() ran
    if stages is None or not ready:
        return None, nprocs
    return build_config(data_spec, label_regex, device, stages), nprocs


# --- start / stop ------------------------------------------------------------------------------


def n_classes(cfg: tr.TrainConfig) -> int:
    """How many classes the head will predict for this data."""
    if cfg.data == "shapes":
        return len(data.SHAPE_CLASSES)
    if cfg.data == "pets":
        return data.PETS_BREEDS
    return len(folder_classes(cfg.data.removeprefix("folder:"), cfg.label_regex))


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


def summary_section(cfg: tr.TrainConfig) -> None:
    """The model the run will train, layer by layer, with its shapes."""
    with ui.user_errors("Counting the classes"):
        classes = n_classes(cfg)
        size = cfg.stages[0].size
        with st.expander(f"Model summary: {cfg.arch} at {size} px, {classes} classes"):
            df = model_summary(cfg.arch, classes, size, cfg.bn_final)
            st.caption(
                f"Input (1, 3, {size}, {size}) → logits (1, {classes}); "
                f"{int(df['params'].sum()):,} parameters. The first conv has stride 2, so every "
                "shape halves early, as the lesson's summary shows."
            )
            st.dataframe(df, width="stretch", hide_index=True, height=300)


# --- live view ---------------------------------------------------------------------------------


def heatmap_link() -> None:
    st.page_link(
        "app_pages/heatmap.py",
        label="Look inside it on the Heatmap page",
        icon=":material/local_fire_department:",
    )


def show_job(job: jobs.JobStatus) -> None:
    """Everything about one run, as read from disk."""
    cfg = job.config
    st.markdown(
        f"**Run `{job.run_id}`** · {cfg.get('arch')} on {cfg.get('data')} · **{job.state}**"
    )
    if job.state == "starting":
        st.info(f"Starting: {job.status_message or 'launching the training process'}…")
    for bar in jobs.progress_bars(job):
        st.progress(bar.fraction, text=bar.text)
    shapes = jobs.shapes_line(job)
    if shapes:
        st.caption(shapes)
    if job.epochs:
        last = job.epochs[-1]
        c1, c2, c3 = st.columns(3)
        c1.metric("error rate", f"{last['error_rate']:.3f}")
        c2.metric("valid loss", f"{last['valid_loss']:.4f}")
        c3.metric("images/s (training)", f"{last['images_per_s']:.0f}")
    if job.batches or job.epochs:
        curves = plots.curves_figure(job.batches, job.epochs)
        st.plotly_chart(curves, width="stretch", key="train_curves")
        plan: list[tr.PlannedStep] = []
        if job.start is not None:
            plan = tr.planned_schedule(
                tr.TrainConfig.from_dict(cfg), job.start["batches_per_epoch"]
            )
        schedule = plots.schedule_figure(plan, job.batches)
        st.plotly_chart(schedule, width="stretch", key="train_schedule")
    if job.epochs:
        st.dataframe(pd.DataFrame(jobs.epoch_table(job)), width="stretch", hide_index=True)
    if job.state == "done":
        st.success(
            f"Finished: checkpoint **{job.checkpoint or cfg.get('name')}** saved in weights/."
        )
        heatmap_link()
    elif job.state == "stopped":
        saved = f"checkpoint **{job.checkpoint}** saved" if job.checkpoint else "nothing saved yet"
        st.warning(f"Stopped on request; {saved}.")
        if job.checkpoint:
            heatmap_link()
    elif job.state == "failed":
        st.error(job.message or "The training job failed.")
        if job.log_tail:
            st.caption("The job's last output:")
            st.code("\n".join(job.log_tail), language=None, wrap_lines=True)


def live(was_running: bool) -> None:
    """Re-read the job from disk (every second while it runs); its end triggers one full rerun."""
    train_jobs.queue_section(train_jobs.owner_token(), train_jobs.admin_token())
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
    if jobs.current() is not None:
        st.rerun(scope="app")


def past_runs() -> None:
    runs = jobs.list_runs()
    if not runs:
        return
    st.subheader("Past runs")
    st.dataframe(pd.DataFrame(runs), width="stretch", hide_index=True)
    # Queued and cancelled runs have not trained: nothing to show in the live view.
    shown = [r["run_id"] for r in runs if r["state"] not in ("queued", "cancelled")]
    if shown:
        st.selectbox("Show run", shown, key="train_view_run")


# --- page --------------------------------------------------------------------------------------


def page() -> None:
    st.title("Training")
    st.caption(
        f"The lesson trains resnet34 on {data.PETS_BREEDS} pet breeds: 3 frozen epochs at 224 px, "
        "unfreeze, 2 more, then 2 at 352 px. Here the same run (or a small one) trains in a "
        "separate process you can watch, stop and come back to."
    )
    running_id = jobs.current()
    init_state(running_id)
    config, nprocs = setup(running_id is not None)
    train_jobs.admin_field()
    train_jobs.controls(config, nprocs, running_id)
    if config is not None:
        summary_section(config)
    st.subheader("Live")
    if running_id is not None:
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
        tr.train_epoch,
        tr.fit_stages,
        label="Show the code",
    )


page()
