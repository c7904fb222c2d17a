"""Checkpoints: NAME.safetensors + NAME.json written atomically into weights/; nothing unpickled.

`load` checks every tensor against the architecture the meta names before the model gets it.
Re-exported by explorer.models (`models.save`, `models.load`, `models.list_checkpoints`).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors.torch
import torch
from safetensors import SafetensorError

from explorer import paths, procs
from explorer.errors import UserError

if TYPE_CHECKING:
    from torch import nn

# A checkpoint name becomes a file name: plain characters only, and it must not start with a dot
# (hidden files, "." and ".." are refused, and our own temp files start with one).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TMP_SUFFIX = ".tmp"
# A temp file whose writer is gone, or that is older than this, is left over from a crash.
_STALE_TMP_S = 3600.0
# Where the JSON meta is also stored inside the safetensors header, so weights and meta that
# load() returns always come from the same atomic write.
_META_KEY = "explorer_meta"


class CheckpointError(UserError):
    """A checkpoint is missing, corrupt, not safetensors, badly named, or does not fit its arch."""


def check_name(name: str) -> str:
    """`name` when it can be a checkpoint's file name.

    Raises:
        CheckpointError: anything but up to 100 letters, digits, '-', '_' or '.', starting with a
            letter or digit.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise CheckpointError(
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
        CheckpointError: a name that cannot be a file name.
        ValueError: meta without a known arch or classes, or not JSON-serialisable (a bug).
    """
    from explorer.models import ARCHS

    check_name(name)
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
    from explorer.models import ARCHS, create_cnn

    check_name(name)
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


def remove(name: str, folder: Path | None = None) -> None:
    """Delete checkpoint `name` (its .safetensors and .json; missing files are fine)."""
    check_name(name)
    folder = _folder(folder)
    for suffix in (".safetensors", ".json"):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)
