"""The lesson's CNN: a torchvision ResNet body plus fastai's head, layer groups and checkpoints.

Checkpoints are safetensors + a JSON sidecar written atomically into weights/; nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import socket
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import Tensor, nn

from explorer import paths, procs
from explorer.errors import UserError

if TYPE_CHECKING:
    import torchvision

ARCHS = ("resnet18", "resnet34", "resnet50")

# A checkpoint name becomes a file name: plain characters only, and it must not start with a dot
# (hidden files, "." and ".." are refused, and our own temp files start with one).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TMP_SUFFIX = ".tmp"
# A temp file whose writer is gone, or that is older than this, is left over from a crash.
_STALE_TMP_S = 3600.0
# Where the JSON meta is also stored inside the safetensors header, so weights and meta that
# load() returns always come from the same atomic write.
_META_KEY = "explorer_meta"


class WeightsUnavailable(UserError, RuntimeError):
    """ImageNet weights are neither in the torch hub cache nor downloadable."""


class CheckpointError(UserError):
    """A checkpoint is missing, corrupt, not safetensors, or does not fit its architecture."""


class AdaptiveConcatPool2d(nn.Module):
    """Max and average pooling side by side (fastai): twice the features of either alone.

    Shape:
        (B, C, H, W) -> (B, 2C, 1, 1), max-pooled channels first.
    """

    def __init__(self, size: int = 1) -> None:
        super().__init__()
        self.mp = nn.AdaptiveMaxPool2d(size)
        self.ap = nn.AdaptiveAvgPool2d(size)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.mp(x), self.ap(x)], 1)


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}.")


def _tv_models() -> ModuleType:
    # Imported on first use: torchvision costs over a second to import, and listing or saving
    # checkpoints (the app's home page, a job's status) never needs it.
    import torchvision.models

    return torchvision.models


def _weights_enum(arch: str) -> torchvision.models.WeightsEnum:
    _check_arch(arch)
    return _tv_models().get_model_weights(arch).DEFAULT


def _cache_file(arch: str) -> Path:
    # Resolved at call time: torch.hub.get_dir() follows $TORCH_HOME and torch.hub.set_dir().
    url = _weights_enum(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def imagenet_weights_cached(arch: str = "resnet34") -> bool:
    """Whether torchvision's ImageNet weights for `arch` are already in the torch hub cache.

    Args:
        arch: one of ARCHS.

    Returns:
        True when loading them needs no network.
    """
    return _cache_file(arch).is_file()


def _imagenet_state_dict(arch: str, timeout: float = 5.0) -> dict[str, Tensor]:
    """torchvision's ImageNet state dict for `arch`, from the cache or downloaded into it."""
    weights = _weights_enum(arch)
    cached = imagenet_weights_cached(arch)
    offer = "Train from scratch (random weights) instead, or connect to the internet and retry."
    if not cached:
        # torch.hub's download has no timeout; a firewalled host would hang a page for minutes,
        # so check quickly that the server answers at all first.
        host = urlparse(weights.url).hostname or ""
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
        except OSError as exc:
            raise WeightsUnavailable(
                f"The ImageNet weights for {arch} are not cached and could not be downloaded "
                f"(no network to {host}: {exc}). {offer}"
            ) from exc
    try:
        return weights.get_state_dict(progress=False)
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsUnavailable(
            f"The ImageNet weights for {arch} could not be downloaded ({exc}). {offer}"
        ) from exc
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise WeightsUnavailable(
            f"The cached ImageNet weights for {arch} at {_cache_file(arch)} are unreadable "
            f"({exc}); delete that file to download them again. {offer}"
        ) from exc


def _split_resnet(net: torchvision.models.ResNet) -> nn.Sequential:
    """The convolutional body of a torchvision ResNet: everything before avgpool and fc."""
    return nn.Sequential(
        net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4
    )


def create_head(nf: int, n_classes: int, bn_final: bool = False) -> nn.Sequential:
    """fastai v1's `create_head` with its defaults (lin_ftrs=[512], ps=0.5, concat pooling).

    Args:
        nf: channels coming out of the body (the head sees 2*nf after concat pooling).
        n_classes: number of outputs.
        bn_final: append BatchNorm1d over the outputs (the lesson uses it: it keeps the logits'
            scale in check at the start of training).

    Returns:
        The head; Linear layers kaiming-normal initialised with zero bias, as fastai does.

    Shape:
        (B, nf, H, W) -> (B, n_classes)
    """
    layers: list[nn.Module] = [
        AdaptiveConcatPool2d(),
        nn.Flatten(),
        nn.BatchNorm1d(2 * nf),
        nn.Dropout(0.25),
        nn.Linear(2 * nf, 512),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512),
        nn.Dropout(0.5),
        nn.Linear(512, n_classes),
    ]
    if bn_final:
        layers.append(nn.BatchNorm1d(n_classes, momentum=0.01))
    head = nn.Sequential(*layers)
    for m in head.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return head


def create_cnn(
    arch: str,
    n_classes: int,
    pretrained: bool = False,
    bn_final: bool = False,
    seed: int | None = None,
) -> nn.Sequential:
    """The lesson's `create_cnn`: `nn.Sequential(body, head)`.

    Args:
        arch: one of ARCHS.
        n_classes: number of classes the head predicts (at least 1).
        pretrained: load torchvision's ImageNet weights into the body.
        bn_final: end the head with BatchNorm1d(n_classes), as the lesson does.
        seed: when given, the random initialisation is reproducible (the global RNG is left as
            it was).

    Returns:
        `model[0]` is the ResNet body (conv1, bn1, relu, maxpool, layer1..layer4, so its modules
        are named "0.0" ... "0.7"), `model[1]` the head. The model is in training mode.

    Raises:
        ValueError: unknown arch or n_classes < 1.
        WeightsUnavailable: pretrained weights are neither cached nor downloadable.

    Shape:
        (B, 3, H, W) -> (B, n_classes)
    """
    _check_arch(arch)
    if n_classes < 1:
        raise ValueError(f"A classifier needs at least one class, got n_classes={n_classes}.")
    state = _imagenet_state_dict(arch) if pretrained else None
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = _tv_models().get_model(arch, weights=None)
        if state is not None:
            net.load_state_dict(state)
        nf = net.fc.in_features
        model = nn.Sequential(_split_resnet(net), create_head(nf, n_classes, bn_final))
    return model


def pretrained_classifier(
    arch: str = "resnet34", pretrained: bool = True
) -> tuple[nn.Sequential, list[str]]:
    """torchvision's ImageNet classifier, rearranged like `create_cnn` for the heatmap page.

    Args:
        arch: one of ARCHS.
        pretrained: False gives random weights (same structure and names; useful offline/tests).

    Returns:
        (model, categories): `Sequential(body, Sequential(AdaptiveAvgPool2d(1), Flatten, fc))` in
        eval mode, computing exactly what torchvision's model computes, and the 1000 ImageNet
        category names from the weights' meta.

    Raises:
        WeightsUnavailable: pretrained and the weights are neither cached nor downloadable.

    Shape:
        (B, 3, H, W) -> (B, 1000)
    """
    weights = _weights_enum(arch)
    net = _tv_models().get_model(arch, weights=None)
    if pretrained:
        net.load_state_dict(_imagenet_state_dict(arch))
    return from_torchvision(net), list(weights.meta["categories"])


def from_torchvision(net: torchvision.models.ResNet) -> nn.Sequential:
    """Rearrange a torchvision ResNet as `Sequential(body, Sequential(pool, flatten, fc))`.

    The modules are shared, not copied; the result is in eval mode.

    Shape:
        (B, 3, H, W) -> (B, net.fc.out_features)
    """
    head = nn.Sequential(net.avgpool, nn.Flatten(), net.fc)
    return nn.Sequential(_split_resnet(net), head).eval()


def _bn_types() -> tuple[type[nn.Module], ...]:
    return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def freeze(model: nn.Sequential) -> None:
    """Train only the head and every BatchNorm layer (fastai's `freeze` with train_bn=True).

    BatchNorm stays trainable because its statistics and affine parameters must adapt to the new
    data even when the convolutions keep their ImageNet filters.
    """
    for p in model[1].parameters():
        p.requires_grad_(True)
    for m in model[0].modules():
        trainable = isinstance(m, _bn_types())
        for p in m.parameters(recurse=False):
            p.requires_grad_(trainable)


def unfreeze(model: nn.Sequential) -> None:
    """Make every parameter trainable."""
    for p in model.parameters():
        p.requires_grad_(True)


def layer_groups(model: nn.Sequential) -> list[list[nn.Parameter]]:
    """fastai's ResNet split: stem+layer1+layer2, layer3+layer4, head.

    Returns:
        Three lists of parameters (all of them, trainable or not), for per-group learning rates.
    """
    body, head = model[0], model[1]
    return [
        list(body[:6].parameters()),
        list(body[6:].parameters()),
        list(head.parameters()),
    ]


def lr_for_groups(lr: float | tuple[float, float], n_groups: int = 3) -> list[float]:
    """Learning rate per layer group, as fastai reads `max_lr`.

    Args:
        lr: a pair (lo, hi) is `slice(lo, hi)`: lo for the first group, hi for the last, spread
            geometrically between. A single float is `slice(lr)`: lr for the last group and lr/10
            for the others.
        n_groups: number of groups.

    Returns:
        n_groups learning rates, first group first.

    Raises:
        ValueError: a non-positive or non-finite rate, or n_groups < 1.
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1, got {n_groups}.")
    values = list(lr) if isinstance(lr, tuple | list) else [lr]
    if (
        isinstance(lr, tuple | list)
        and len(values) != 2
        or not all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in values)
    ):
        raise ValueError(
            f"A learning rate must be a positive number or a (low, high) pair, got {lr!r}."
        )
    if len(values) == 1:
        return [values[0] / 10] * (n_groups - 1) + [float(values[0])]
    lo, hi = values
    if n_groups == 1:
        return [float(hi)]
    return [lo * (hi / lo) ** (i / (n_groups - 1)) for i in range(n_groups)]


# --- checkpoints ---------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"Checkpoint name {name!r} is not allowed: use up to 100 letters, digits, '-', '_' "
            "or '.', starting with a letter or digit."
        )
    return name


def _remove_stale_temps(folder: Path) -> None:
    """Delete temp files left by a crashed save; never those of a save still running elsewhere."""
    if not folder.is_dir():
        return
    now = time.time()
    for tmp in folder.glob(f".*{_TMP_SUFFIX}"):
        # Temp names are ".NAME.EXT.PID.RANDOM.tmp".
        parts = tmp.name.split(".")
        try:
            pid = int(parts[-3])
            age = now - tmp.stat().st_mtime
        except (ValueError, IndexError, OSError):
            continue
        if pid == os.getpid() or (procs.pid_alive(pid) and age < _STALE_TMP_S):
            continue
        tmp.unlink(missing_ok=True)


def _write_atomic(target: Path, data: bytes) -> Path:
    """Write `data` to a temp file next to `target`, fsync it; returns the temp path."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}{_TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the file data is already on disk
    finally:
        os.close(fd)


def _folder(folder: Path | None) -> Path:
    return Path(folder) if folder is not None else paths.weights_dir()


def save(model: nn.Sequential, name: str, meta: dict[str, Any], folder: Path | None = None) -> Path:
    """Write `NAME.safetensors` + `NAME.json` atomically into `folder` (default weights/).

    Each file is written to a temp file in the same folder, fsynced and moved over the old one with
    `os.replace`, so a crash at any point leaves the previous checkpoint loadable. The meta is also
    stored inside the safetensors header so `load` always pairs weights with their own meta.

    Args:
        model: a `create_cnn` model.
        name: letters, digits, '-', '_', '.' (no paths).
        meta: JSON-serialisable; expected keys arch, classes, size, mean, std, bn_final, history,
            config. `n_classes` (len(classes)) and `saved_at` (Unix time) are added.

    Returns:
        Path of the safetensors file.

    Raises:
        ValueError: bad name, meta without a known arch or classes, or meta not JSON-serialisable.
    """
    _check_name(name)
    if meta.get("arch") not in ARCHS:
        raise ValueError(
            f"meta['arch'] must be one of {', '.join(ARCHS)}, got {meta.get('arch')!r}."
        )
    if not meta.get("classes"):
        raise ValueError("meta['classes'] must list the class names.")
    meta = {
        **meta,
        "n_classes": len(meta["classes"]),
        "bn_final": bool(meta.get("bn_final", False)),
        "saved_at": time.time(),
    }
    try:
        meta_json = json.dumps(meta, indent=1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The checkpoint meta must be JSON-serialisable: {exc}.") from exc
    folder = _folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(folder)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = safetensors.torch.save(tensors, metadata={_META_KEY: meta_json})
    st_path, json_path = folder / f"{name}.safetensors", folder / f"{name}.json"
    tmp_st = _write_atomic(st_path, blob)
    try:
        tmp_json = _write_atomic(json_path, meta_json.encode())
    except BaseException:
        tmp_st.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp_st, st_path)
        os.replace(tmp_json, json_path)
    finally:
        tmp_st.unlink(missing_ok=True)
        tmp_json.unlink(missing_ok=True)
    _fsync_dir(folder)
    return st_path


def _read_meta(st_path: Path, json_path: Path) -> dict[str, Any]:
    """The meta stored in the safetensors header, else the JSON sidecar."""
    try:
        with safetensors.safe_open(str(st_path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{st_path.name} is not a readable safetensors file ({exc}); only safetensors "
            "checkpoints are accepted."
        ) from exc
    text = header.get(_META_KEY)
    if text is None:
        try:
            text = json_path.read_text()
        except OSError as exc:
            raise CheckpointError(f"{json_path.name} (the checkpoint's meta) is missing.") from exc
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"The meta of checkpoint {st_path.stem} is not valid JSON.") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"The meta of checkpoint {st_path.stem} is not a JSON object.")
    return meta


def load(
    name: str, folder: Path | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Sequential, dict[str, Any]]:
    """Load a checkpoint written by `save`, checking every tensor against its architecture.

    Args:
        name: checkpoint name (without extension).
        folder: default weights/.
        device: where the model goes.

    Returns:
        (model in eval mode, meta).

    Raises:
        CheckpointError: missing, not safetensors (e.g. a pickle renamed), meta unusable, or keys
            and shapes that do not match `create_cnn(arch, n_classes, bn_final=...)`.
    """
    try:
        _check_name(name)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    folder = _folder(folder)
    st_path = folder / f"{name}.safetensors"
    if not st_path.is_file():
        raise CheckpointError(f"No checkpoint named {name!r} in {folder}.")
    meta = _read_meta(st_path, folder / f"{name}.json")
    arch, n_classes = meta.get("arch"), meta.get("n_classes")
    if arch not in ARCHS or not isinstance(n_classes, int) or n_classes < 1:
        raise CheckpointError(
            f"Checkpoint {name!r} has unusable meta (arch={arch!r}, n_classes={n_classes!r})."
        )
    classes = meta.get("classes")
    if not isinstance(classes, list) or len(classes) != n_classes:
        raise CheckpointError(
            f"Checkpoint {name!r} names {len(classes) if isinstance(classes, list) else 'no'} "
            f"classes but has {n_classes} outputs."
        )
    try:
        state = safetensors.torch.load_file(str(st_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{st_path.name} is not a readable safetensors file ({exc})."
        ) from exc
    # Building on the meta device skips the random initialisation the weights overwrite anyway.
    with torch.device("meta"):
        model = create_cnn(arch, n_classes, bn_final=bool(meta.get("bn_final", False)))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"Checkpoint {name!r} does not fit {arch} with {n_classes} classes: "
            f"{len(missing)} tensors missing (e.g. {missing[:1]}), {len(extra)} unexpected "
            f"(e.g. {extra[:1]})."
        )
    for key, ref in expected.items():
        if state[key].shape != ref.shape or state[key].dtype != ref.dtype:
            raise CheckpointError(
                f"Checkpoint {name!r} does not fit {arch} with {n_classes} classes: {key} is "
                f"{tuple(state[key].shape)} {state[key].dtype}, expected {tuple(ref.shape)} "
                f"{ref.dtype}."
            )
    model.load_state_dict(state, assign=True)
    return model.to(device).eval(), meta


def list_checkpoints(folder: Path | None = None) -> list[dict[str, Any]]:
    """Every checkpoint in `folder` (default weights/), newest first.

    Reads only headers and JSON, so it is cheap. A checkpoint that cannot be read is listed with
    an "error" sentence instead of its meta.

    Returns:
        One dict per checkpoint: its meta plus "name" and "path" (str of the safetensors file).
    """
    folder = _folder(folder)
    if not folder.is_dir():
        return []
    _remove_stale_temps(folder)
    names = {
        p.name.removesuffix(".safetensors").removesuffix(".json")
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix in (".safetensors", ".json")
    }
    rows: list[tuple[float, dict[str, Any]]] = []
    for name in names:
        st_path, json_path = folder / f"{name}.safetensors", folder / f"{name}.json"
        mtime = max((p.stat().st_mtime for p in (st_path, json_path) if p.exists()), default=0.0)
        row: dict[str, Any]
        if not _NAME_RE.fullmatch(name):
            row = {"error": f"{name!r} is not an allowed checkpoint name; rename the files."}
        elif not st_path.is_file():
            row = {"error": f"{st_path.name} is missing."}
        else:
            try:
                row = dict(_read_meta(st_path, json_path))
            except CheckpointError as exc:
                row = {"error": str(exc)}
        row.update(name=name, path=str(st_path))
        rows.append((float(row.get("saved_at", mtime)), row))
    rows.sort(key=lambda r: (r[0], r[1]["name"]), reverse=True)
    return [row for _, row in rows]


# --- summary -------------------------------------------------------------------------------------


def _leaves(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, m in model.named_modules():
        if not any(True for _ in m.children()):
            yield name, m


def summary(
    model: nn.Module, size: int, device: str | torch.device = "cpu"
) -> list[dict[str, Any]]:
    """fastai's `learn.summary()`: one row per leaf module call for a (1, 3, size, size) input.

    Runs in eval mode without gradients (so BatchNorm statistics do not move); the hooks are
    removed and every module's train/eval mode restored afterwards. A module called twice (the
    ReLU shared inside a ResNet block) gives two rows.

    Returns:
        Rows {"layer": class name, "name": module name, "output_shape": list[int],
        "params": own parameter count, "trainable": whether any own parameter requires grad}.
    """
    rows: list[dict[str, Any]] = []
    modes = {m: m.training for m in model.modules()}
    handles = []

    def hook_for(name: str):
        def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
            params = list(module.parameters(recurse=False))
            shape = list(output.shape) if isinstance(output, Tensor) else []
            rows.append(
                {
                    "layer": type(module).__name__,
                    "name": name,
                    "output_shape": shape,
                    "params": sum(p.numel() for p in params),
                    "trainable": any(p.requires_grad for p in params),
                }
            )

        return hook

    try:
        for name, m in _leaves(model):
            handles.append(m.register_forward_hook(hook_for(name)))
        model.eval()
        dtype = next((p.dtype for p in model.parameters()), torch.float32)
        x = torch.zeros(1, 3, size, size, device=device, dtype=dtype)
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    """`summary` rows as the text table fastai's `learn.summary()` prints, with parameter totals.

    Output shapes include the batch dimension, as the lesson's printout does. A module called twice
    (a ResNet block's shared ReLU) is listed twice but its parameters are counted once.
    """
    lines = [f"{'Layer (type)':<24}{'Output Shape':<22}{'Param #':>12}  Trainable", "=" * 68]
    for r in rows:
        shape = "[" + ", ".join(str(d) for d in r["output_shape"]) + "]"
        lines.append(f"{r['layer']:<24}{shape:<22}{r['params']:>12,}  {r['trainable']}")
    own = {r["name"]: r for r in rows}.values()
    total = sum(r["params"] for r in own)
    trainable = sum(r["params"] for r in own if r["trainable"])
    lines += [
        "=" * 68,
        f"Total params: {total:,}",
        f"Total trainable params: {trainable:,}",
        f"Total non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(lines)
