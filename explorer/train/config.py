"""What a training run is: its stages (one `fit_one_cycle` each) and every hyper-parameter, in one
dataclass checked when it is made, plus the named recipes and the text forms a person types.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from explorer.errors import UserError
from explorer.padding import PADDING_MODES

LR = float | tuple[float, float]
AUGMENTS = ("lesson", "none")  # "lesson" = the notebook's get_transforms(max_rotate=20, ...)
# The ranges a person may set (the page's widgets and the URL use the same ones).
EPOCHS_RANGE = (1, 1000)
SIZE_RANGE = (16, 2048)
BATCH_SIZE_RANGE = (1, 1024)
N_SHAPES_RANGE = (100, 50_000)


class ConfigError(UserError):
    """A setting of a run that cannot work (a bad learning rate, stage, batch size, ...)."""


@dataclass
class Stage:
    """One `fit_one_cycle` call of the lesson."""

    epochs: int  # passes over the training set in this cycle
    size: int  # side (px) of the square training and validation images in this stage
    lr: LR  # peak LR: x = slice(x) (head x, body x/10), (lo, hi) = slice(lo, hi) spread over groups
    frozen: bool  # True: train only the head and the BatchNorm layers (fastai's freeze())
    pct_start: float = 0.3  # fraction of the cycle's steps spent warming the LR up


def _lesson_stages() -> list[Stage]:
    return [
        Stage(epochs=3, size=224, lr=1e-2, frozen=True, pct_start=0.8),
        Stage(epochs=2, size=224, lr=(1e-6, 1e-3), frozen=False, pct_start=0.8),
        Stage(epochs=2, size=352, lr=(1e-6, 1e-4), frozen=False, pct_start=0.3),
    ]


@dataclass
class TrainConfig:
    """Everything a run needs; the defaults are the lesson's recipe (see `recipe`).

    Raises:
        ConfigError: from `__post_init__`, naming the first field a run could not work with.
    """

    data: str = "pets"  # "pets", "shapes" or "folder:PATH"
    arch: str = "resnet34"  # a name in explorer.models.ARCHS
    name: str = "352"  # checkpoint name: weights/NAME.safetensors + NAME.json
    stages: list[Stage] = field(default_factory=_lesson_stages)  # the fits, in order
    batch_size: int = 64  # images per training step (the lesson's bs)
    padding_mode: str = "reflection"  # what augmentation shows outside the image (PADDING_MODES)
    augment: str = "lesson"  # one of AUGMENTS
    pretrained: bool = True  # start from ImageNet weights (needs them cached or a network)
    bn_final: bool = True  # BatchNorm on the logits, as the lesson's create_cnn(bn_final=True)
    wd: float = 1e-2  # AdamW's decoupled weight decay (fastai's default)
    moms: tuple[float, float] = (0.95, 0.85)  # momentum (Adam's beta1) goes high -> low -> high
    beta2: float = 0.99  # Adam's second-moment decay (fastai's default)
    div_factor: float = 25.0  # the cycle starts at lr_max / div_factor
    final_div: float | None = None  # ends near lr_max / final_div; None = div_factor * 1e4
    valid_pct: float = 0.2  # share of the items held out for validation
    seed: int = 2  # split, initialisation, shuffling and augmentation seed (the lesson's split)
    recipe: str = ""  # the named recipe this config started from ("" = none); for the page
    presize_scale: float = 1.15  # the cache holds images this much larger than a stage's size
    n_shapes: int = 2000  # number of synthetic images when data == "shapes"
    label_regex: str | None = None  # folder data: regex on the file name, None = sub-folder names
    device: str | None = None  # "cpu" or "cuda"; None = CUDA when present
    workers: int = 0  # decoding threads for the one-time presize; 0 = one per CPU core
    cpu_threads: int = 0  # torch CPU threads for the CLI process; 0 = torch's default (all cores)
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the global batch
    compile: bool | None = None  # capture the step with torch.compile; None = on CUDA only
    snapshots: int = 0  # keep the last N per-epoch checkpoints as NAME-epochK (0 = none)
    ps: float = 0.5  # the head's dropout, fastai's ps (ps/2 before the first Linear, ps at the end)

    def __post_init__(self) -> None:
        check_config(self)

    @property
    def total_epochs(self) -> int:
        return sum(s.epochs for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (round-trips through `TrainConfig.from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Rebuild a config from `to_dict` output (e.g. a run's config.json).

        Raises:
            ConfigError: unknown keys, a malformed stage or an unusable value.
        """
        d = dict(d)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"Unknown config field(s): {', '.join(sorted(unknown))}.")
        try:
            stages = [_stage_from_dict(s) for s in d.pop("stages", [])]
            if "moms" in d:
                d["moms"] = tuple(d["moms"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"The config's stages cannot be read ({exc!r}).") from None
        if stages:
            d["stages"] = stages
        try:
            return cls(**d)
        except TypeError as exc:  # e.g. "batch_size": "64" compared with a number
            raise ConfigError(f"The config has a value of the wrong type ({exc}).") from None


def _stage_from_dict(s: Mapping[str, Any]) -> Stage:
    lr = s["lr"]
    lr = (float(lr[0]), float(lr[1])) if isinstance(lr, list | tuple) else float(lr)
    return Stage(
        epochs=int(s["epochs"]),
        size=int(s["size"]),
        lr=lr,
        frozen=bool(s["frozen"]),
        pct_start=float(s.get("pct_start", 0.3)),
    )


def _check_stage(i: int, s: Stage) -> None:
    where = f"Stage {i}"
    if not EPOCHS_RANGE[0] <= s.epochs <= EPOCHS_RANGE[1]:
        raise ConfigError(
            f"{where}: epochs must be between {EPOCHS_RANGE[0]} and {EPOCHS_RANGE[1]}."
        )
    if not SIZE_RANGE[0] <= s.size <= SIZE_RANGE[1]:
        raise ConfigError(f"{where}: size must be between {SIZE_RANGE[0]} and {SIZE_RANGE[1]} px.")
    if not 0.0 <= s.pct_start <= 1.0:
        raise ConfigError(f"{where}: pct_start must be between 0 and 1.")
    try:
        parse_lr(format_lr(s.lr))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_config(cfg: TrainConfig) -> None:
    """Refuse a config no run could use, with a sentence naming the field.

    Raises:
        ConfigError: the first unusable field.
        explorer.models.CheckpointError: a name that cannot be a checkpoint's file name.
    """
    from explorer.models import check_name  # the rule for file names lives with the checkpoints

    check_name(cfg.name)
    if not cfg.stages:
        raise ConfigError("The recipe needs at least one stage.")
    for i, s in enumerate(cfg.stages, start=1):
        _check_stage(i, s)
    if not (cfg.data in ("pets", "shapes") or cfg.data.startswith("folder:")):
        raise ConfigError(f"Unknown data {cfg.data!r}; use pets, shapes or folder:PATH.")
    if cfg.augment not in AUGMENTS:  # a typo must not silently train unaugmented
        raise ConfigError(f"Unknown augment {cfg.augment!r}; use {' or '.join(AUGMENTS)}.")
    if cfg.padding_mode not in PADDING_MODES:
        raise ConfigError(
            f"Unknown padding mode {cfg.padding_mode!r}; use {', '.join(PADDING_MODES)}."
        )
    if cfg.batch_size < 1:
        raise ConfigError(f"The batch size must be at least 1, got {cfg.batch_size}.")
    if not 0.0 < cfg.valid_pct < 1.0:
        raise ConfigError(f"valid_pct must be between 0 and 1 (exclusive), got {cfg.valid_pct}.")
    if cfg.n_shapes < 1:
        raise ConfigError(f"The number of shapes must be at least 1, got {cfg.n_shapes}.")
    if not 0.0 <= cfg.ps < 1.0:
        raise ConfigError(f"The dropout ps must be between 0 and 1, got {cfg.ps}.")
    if not 0 <= cfg.snapshots <= EPOCHS_RANGE[1]:
        raise ConfigError(
            f"snapshots must be between 0 and {EPOCHS_RANGE[1]}, got {cfg.snapshots}."
        )
    if cfg.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", str(cfg.device)):
        raise ConfigError(f"Unknown device {cfg.device!r}; use cpu or cuda.")


RECIPES: dict[str, str] = {
    "lesson": "The notebook: resnet34 on Oxford-IIIT Pet, 3 frozen + 2 unfrozen epochs at 224 px, "
    "then 2 at 352 px.",
    "quick": "CPU-sized: resnet18 from scratch on 10000 synthetic shapes at 32 px, 8 epochs.",
    "tiny": "Seconds: one epoch on a few hundred 32 px shapes (for tests and a smoke check).",
    "demo": "The offline demo model for the Heatmap page: resnet18 from scratch on 10000 shapes, "
    "5 epochs at 64 px then 2 at 96 px (progressive resizing; 0 % validation error at 96 px in "
    "three runs, about 14 CPU-minutes).",
}


def _recipe_fields(name: str) -> dict[str, Any]:
    if name == "lesson":
        return {}
    if name == "quick":
        return dict(
            data="shapes",
            arch="resnet18",
            name="shapes-quick",
            # From scratch, many distinct shapes at 32 px beat more epochs or pixels for the same
            # CPU time: 2400 training shapes for 15 epochs were memorised (train loss 0.13, 56 %
            # error). From scratch the drop from chance comes at a run-dependent epoch (6 epochs
            # ended at 0.7 %, 9.6 % and 15 % in three runs); 8 epochs measured 9.6 % error after
            # epoch 5 and 0.35 % at the end, ~4.5 min on 2 cores.
            stages=[Stage(epochs=8, size=32, lr=(3e-3, 3e-3), frozen=False, pct_start=0.3)],
            batch_size=32,
            augment="none",  # generated data is plentiful; zoom 1.3 + warp can crop the shape out
            pretrained=False,
            bn_final=False,
            n_shapes=10000,
            cpu_threads=2,  # both cores: a shared machine's load only stretches the minutes
        )
    if name == "demo":
        return dict(
            data="shapes",
            arch="resnet18",
            name="shapes-demo",
            # Trained where the maps mean something: 64 px, then 96 px (a 3x3 body map, 6x6 at
            # layer3). On this CPU a 64 px image costs only ~1.3x a 32 px one (small images are
            # per-op overhead, not arithmetic), and from 32 px the 3x scale shift did not
            # transfer (8 epochs at 32 px: 0.05 % error, then one epoch at 96 px and 1e-4: 14 %).
            # From 64 px the step is 1.5x, and 1e-3 with the one-cycle warm-up absorbs it.
            # Measured on the 2 shared cores, error after each epoch (64 px x5 | 96 px x2):
            # seed 2, 1 thread, load 4-11: 69.5 29.6 1.6 0 0 | 1.5 0 %, 31 min wall, ~14 CPU-min;
            # seed 3, 1 thread, load 1-3: 74.7 55.6 5.4 0.25 0 | 17.7 0 %, 14.9 min, 13.4 CPU-min;
            # this recipe (seed 2, 2 threads), load 3-8: 74.2 63.7 5.6 0.65 0.05 | 4.0 0 %, 22.7
            # min wall. The first 96 px epoch ends just past the cycle's peak LR (1.5-18 % there):
            # only the stage's end counts.
            stages=[
                Stage(epochs=5, size=64, lr=(3e-3, 3e-3), frozen=False, pct_start=0.3),
                Stage(epochs=2, size=96, lr=(1e-3, 1e-3), frozen=False, pct_start=0.3),
            ],
            batch_size=32,
            augment="none",
            pretrained=False,
            bn_final=False,
            n_shapes=10000,
            cpu_threads=2,
        )
    if name == "tiny":
        return dict(
            data="shapes",
            arch="resnet18",
            name="shapes-tiny",
            stages=[Stage(epochs=1, size=32, lr=(3e-3, 3e-3), frozen=False, pct_start=0.3)],
            batch_size=32,
            pretrained=False,
            bn_final=False,
            n_shapes=240,
            cpu_threads=1,  # seconds even on a busy machine, where one thread beats two
        )
    raise ConfigError(f"Unknown recipe {name!r}; choose one of {', '.join(RECIPES)}.")


def recipe(name: str, /, **overrides: Any) -> TrainConfig:
    """A named recipe (`RECIPES`) as a config, with any field overridden.

    Args:
        name: "lesson", "quick" or "tiny".
        **overrides: TrainConfig fields to replace.

    Raises:
        ConfigError: for an unknown recipe or field, or a value no run can use.
    """
    fields = _recipe_fields(name)
    bad = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if bad:
        raise ConfigError(f"Unknown config field(s): {', '.join(sorted(bad))}.")
    return TrainConfig(**{**fields, "recipe": name, **overrides})


# --------------------------------------------------------------------------- text forms


def parse_lr(text: str) -> LR:
    """Read a learning rate as a person types it: "1e-2", or "1e-6:1e-3" for slice(1e-6, 1e-3).

    Raises:
        ConfigError: when it is not one or two positive numbers with lo <= hi.
    """
    parts = [p.strip() for p in str(text).replace("..", ":").split(":")]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"Learning rate {text!r} is not a number like 1e-3 or a range like 1e-6:1e-3."
        ) from None
    if len(vals) not in (1, 2) or not all(math.isfinite(v) and v > 0 for v in vals):
        raise ConfigError(f"Learning rate {text!r} must be one or two positive numbers.")
    if len(vals) == 1:
        return vals[0]
    if vals[0] > vals[1]:
        raise ConfigError(f"Learning-rate range {text!r} must go from low to high.")
    return (vals[0], vals[1])


def format_lr(lr: LR | Sequence[float]) -> str:
    """The inverse of `parse_lr`, in the lesson's notation: 1e-02, 1e-06:1e-03."""
    if isinstance(lr, tuple | list):
        return f"{_sci(lr[0])}:{_sci(lr[1])}"
    return _sci(float(lr))  # type: ignore[arg-type]


def _sci(v: float) -> str:
    mantissa, exp = f"{v:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exp}"


class StageRow(TypedDict):
    """One row of the stages table a person edits (lr as text, see `parse_lr`)."""

    epochs: int
    size: int
    lr: str
    frozen: bool
    pct_start: float


def stage_rows(stages: Sequence[Stage]) -> list[StageRow]:
    """Stages as table rows for an editor (lr as text, see `parse_lr`)."""
    return [
        StageRow(
            epochs=s.epochs,
            size=s.size,
            lr=format_lr(s.lr),
            frozen=s.frozen,
            pct_start=s.pct_start,
        )
        for s in stages
    ]


def _cell(row: Mapping[str, Any], i: int, key: str, lo: float, hi: float) -> float:
    try:
        v = float(row.get(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = math.nan
    if not lo <= v <= hi:  # also catches NaN from an empty cell
        raise ConfigError(f"Stage {i}: {key} must be between {lo:g} and {hi:g}.")
    return v


def _is_empty(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def stages_from_rows(rows: Sequence[Mapping[str, Any]]) -> list[Stage]:
    """The inverse of `stage_rows`, checking every cell.

    Raises:
        ConfigError: naming the stage and the cell that is empty or out of range.
    """
    stages = []
    for i, row in enumerate(rows, start=1):
        lr = row.get("lr")
        if _is_empty(lr) or not str(lr).strip():
            raise ConfigError(f"Stage {i}: the learning rate is empty.")
        try:
            parsed = parse_lr(str(lr))
        except ConfigError as exc:
            raise ConfigError(f"Stage {i}: {exc}") from None
        frozen = row.get("frozen")
        stages.append(
            Stage(
                epochs=int(_cell(row, i, "epochs", *EPOCHS_RANGE)),
                size=int(_cell(row, i, "size", *SIZE_RANGE)),
                lr=parsed,
                frozen=False if _is_empty(frozen) else bool(frozen),  # a row just added
                pct_start=_cell(row, i, "pct_start", 0.0, 1.0),
            )
        )
    if not stages:
        raise ConfigError("The recipe needs at least one stage.")
    return stages


def stages_to_text(stages: Sequence[Stage]) -> str:
    """Stages in one line (for a URL): "epochs,size,lr,frozen,pct_start" joined by ";".

    E.g. the lesson: "3,224,1e-02,1,0.8;2,224,1e-06:1e-03,0,0.8;2,352,1e-06:1e-04,0,0.3".
    """
    return ";".join(
        f"{s.epochs},{s.size},{format_lr(s.lr)},{int(s.frozen)},{s.pct_start:g}" for s in stages
    )


def stages_from_text(text: str) -> list[Stage]:
    """The inverse of `stages_to_text`, checking every field as `stages_from_rows` does.

    Raises:
        ConfigError: a stage without its five fields, or a field out of range.
    """
    rows = []
    for i, part in enumerate(str(text).split(";"), start=1):
        cells = part.split(",")
        if len(cells) != 5:
            raise ConfigError(
                f"Stage {i} ({part[:40]!r}) needs five fields: epochs,size,lr,frozen,pct_start."
            )
        epochs, size, lr, frozen, pct = cells
        if frozen not in ("0", "1"):
            raise ConfigError(f"Stage {i}: frozen must be 0 or 1, got {frozen[:10]!r}.")
        rows.append(
            {"epochs": epochs, "size": size, "lr": lr, "frozen": frozen == "1", "pct_start": pct}
        )
    for i, row in enumerate(rows, start=1):  # whole numbers, as the table's cells are
        for key in ("epochs", "size"):
            if not str(row[key]).strip().isdigit():
                raise ConfigError(f"Stage {i}: {key} must be a whole number.")
    return stages_from_rows(rows)
