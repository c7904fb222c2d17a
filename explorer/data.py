"""Datasets for training: Oxford-IIIT Pet (torchvision), any labelled folder, synthetic shapes.

Images are decoded once and "presized" into a uint8 tensor cache, as fastai does before training.
"""

from __future__ import annotations

import errno
import math
import os
import re
import shutil
import socket
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from explorer import paths, procs
from explorer.errors import UserError

PET_REGEX = r"([^/]+)_\d+.jpg$"
PETS_EXPECTED = 7390
PETS_FOLDER = "oxford-iiit-pet"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
SHAPE_CLASSES = ("circle", "square", "triangle", "cross", "star")

# Approximate archive sizes (bytes), only used to turn the growing file into a progress fraction.
_PETS_ARCHIVES = {"images.tar.gz": 791_918_971, "annotations.tar.gz": 19_173_078}


class DatasetUnavailable(UserError, RuntimeError):
    """A dataset is not on disk and cannot be fetched (no network, broken archive, no space)."""


@dataclass
class Items:
    """Image files with integer labels; `classes[label]` names a label."""

    paths: list[Path]
    labels: list[int]
    classes: list[str]
    skipped: int = 0  # files found but left out because the label regex did not match them


@dataclass
class ShapesData:
    """Synthetic images with the drawn object's class, box and mask."""

    images: Tensor  # uint8 (N, 3, S, S)
    labels: Tensor  # int64 (N,), index into classes
    boxes: Tensor  # float32 (N, 4): x0, y0, x1, y1 in pixels, x1/y1 exclusive (tight around mask)
    classes: list[str]
    masks: Tensor = field(repr=False)  # bool (N, S, S): the object's pixels


# --- Oxford-IIIT Pet ----------------------------------------------------------------------------


def _pets_base(root: Path | str | None) -> Path:
    return Path(root if root is not None else paths.data_dir()) / PETS_FOLDER


def _count_jpgs(folder: Path) -> int:
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if e.name.endswith(".jpg") and e.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return 0


def pets_status(root: Path | str | None = None) -> dict:
    """Whether Oxford-IIIT Pet is on disk; cheap (one directory listing).

    Args:
        root: the folder holding `oxford-iiit-pet/` (default data/).

    Returns:
        {"state": "missing" | "partial" | "ready", "n_images": int, "expected": PETS_EXPECTED,
        "path": str of the images folder, "downloading": bool}. "partial" means the dataset
        folder exists but holds fewer images than expected: a download or extraction that did not
        finish, or one still running ("downloading" is True while a live process holds the
        download lock).
    """
    base = _pets_base(root)
    images = base / "images"
    n = _count_jpgs(images)
    if n >= PETS_EXPECTED:
        state = "ready"
    elif base.exists():
        state = "partial"
    else:
        state = "missing"
    return {
        "state": state,
        "n_images": n,
        "expected": PETS_EXPECTED,
        "path": str(images),
        "downloading": _download_running(base),
    }


def _pet_files(root: Path | str | None) -> list[Path]:
    images = _pets_base(root) / "images"
    return sorted(p for p in images.iterdir() if p.name.endswith(".jpg") and p.is_file())


def pets_by_breed(root: Path | str | None = None) -> dict[str, list[Path]]:
    """Pet image paths per breed (the regex's label), each list in file-number order.

    Returns:
        {} unless the dataset is ready.
    """
    if pets_status(root)["state"] != "ready":
        return {}
    pattern = re.compile(PET_REGEX)
    numbered: dict[str, list[tuple[int, Path]]] = {}
    for p in _pet_files(root):
        m = pattern.search(p.name)
        if m:
            number = int(re.findall(r"\d+", p.name)[-1])
            numbered.setdefault(m.group(1), []).append((number, p))
    # Numeric order (Bengal_2 before Bengal_10), so a picker's index follows the file numbers.
    return {breed: [p for _, p in sorted(ps)] for breed, ps in numbered.items()}


def pets_items(root: Path | str | None = None) -> Items:
    """Every Pet image labelled by breed from its file name with the lesson's regex.

    Raises:
        DatasetUnavailable: the dataset is missing or only partly extracted.
    """
    status = pets_status(root)
    if status["state"] != "ready":
        raise DatasetUnavailable(
            f"The Oxford-IIIT Pet dataset is not ready ({status['n_images']} of "
            f"{PETS_EXPECTED} images in {status['path']}); download it first."
        )
    return _label_by_regex(_pet_files(root), PET_REGEX)


def _reachable(url: str, timeout: float) -> None:
    """Raise OSError quickly when the url's server cannot be reached at all."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()


def _fetch_archives(base: Path, stall_timeout: float) -> None:
    """Download the archives torchvision would download, each read with a timeout.

    torchvision's own download reads without one, so a connection that stalls mid-file would hang
    the download (and its lock) forever. Archives already present and intact are kept; torchvision
    then finds them, checks them again and extracts them.
    """
    from torchvision.datasets import OxfordIIITPet
    from torchvision.datasets.utils import check_integrity

    base.mkdir(parents=True, exist_ok=True)
    for url, md5 in OxfordIIITPet._RESOURCES:
        path = base / os.path.basename(urlparse(url).path)
        if check_integrity(str(path), md5):
            continue
        part = path.with_name(path.name + ".part")
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "cnn-explorer"})
            with urllib.request.urlopen(request, timeout=stall_timeout) as answer:
                with open(part, "wb") as out:
                    shutil.copyfileobj(answer, out, 1 << 20)
            # http.client ends a body cut short without an error, and a proxy may answer with a
            # page of its own: only a whole, matching archive takes the archive's name (else
            # torchvision would download it again, without a timeout).
            if not check_integrity(str(part), md5):
                raise RuntimeError(f"{path.name} arrived incomplete or altered (checksum mismatch)")
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)


def _pets_progress(base: Path) -> tuple[str, float]:
    """Guess what the download is doing from the files on disk; fraction of the whole job.

    Both archives download first (each to NAME.part, renamed when whole), then torchvision
    extracts the images and the annotations.
    """
    if (base / "annotations").is_dir():
        return "Extracting annotations", 0.99
    n = _count_jpgs(base / "images")
    if n:
        return f"Extracting images ({n} of {PETS_EXPECTED})", 0.85 + 0.12 * n / PETS_EXPECTED
    if any((base / name).exists() for name in ("annotations.tar.gz", "annotations.tar.gz.part")):
        return "Downloading annotations", 0.82
    for name in ("images.tar.gz.part", "images.tar.gz"):
        try:
            got = (base / name).stat().st_size
        except OSError:
            continue
        total = _PETS_ARCHIVES["images.tar.gz"]
        return f"Downloading images ({got / 1e6:.0f} of {total / 1e6:.0f} MB)", 0.8 * min(
            got / total, 1.0
        )
    return "Connecting", 0.0


def _lock_path(base: Path) -> Path:
    return base.parent / f"{PETS_FOLDER}.download.lock"


def _lock_holder(lock: Path) -> int | None:
    """The pid of the live process holding the download lock, else None."""
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and procs.pid_alive(pid) else None


def _download_running(base: Path) -> bool:
    return _lock_holder(_lock_path(base)) is not None


def _lock(base: Path) -> Path:
    """One download at a time per folder (two sessions may both click the button)."""
    lock = _lock_path(base)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _lock_holder(lock)
            if pid is not None:
                raise DatasetUnavailable(
                    f"Another download of the Oxford-IIIT Pet dataset is running (process {pid}); "
                    "wait for it to finish."
                ) from None
            lock.unlink(missing_ok=True)  # left by a download that crashed
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return lock
    raise DatasetUnavailable("Could not take the download lock for the Oxford-IIIT Pet dataset.")


def download_pets(
    root: Path | str | None = None,
    progress: Callable[[str, float], None] | None = None,
    timeout: float = 10.0,
    stall_timeout: float = 60.0,
) -> None:
    """Download and extract Oxford-IIIT Pet (≈800 MB) through torchvision into root.

    A partly extracted dataset is extracted again (the archives are reused when intact).

    Args:
        root: the folder that gets `oxford-iiit-pet/` (default data/).
        progress: called from the calling thread with (what is happening, fraction 0..1) about
            twice a second, and with ("Done", 1.0) at the end.
        timeout: seconds to wait for the server to answer before giving up.
        stall_timeout: seconds without a byte from the server, mid-download, before giving up.

    Raises:
        DatasetUnavailable: no network, a corrupt archive, a full disk, or another download running.
    """
    import torchvision

    root = Path(root if root is not None else paths.data_dir())
    base = _pets_base(root)
    report = progress or (lambda _what, _frac: None)
    if pets_status(root)["state"] == "ready" and (base / "annotations").is_dir():
        report("Done", 1.0)
        return
    root.mkdir(parents=True, exist_ok=True)
    lock = _lock(base)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _fetch_archives(base, stall_timeout)
            torchvision.datasets.OxfordIIITPet(str(root), download=True)
        except BaseException as exc:  # handed to the calling thread, which re-raises it
            failure.append(exc)
        finally:
            lock.unlink(missing_ok=True)

    # The worker, not the caller, releases the lock: when a Streamlit rerun interrupts the caller
    # (inside `progress`), the download goes on, and a second click must not start another one.
    worker = threading.Thread(target=work, name="download-pets", daemon=True)
    started = False
    try:
        # torchvision only checks that the folders exist, so a half-extracted tree would be taken
        # as complete: remove what was extracted (never the archives) and let it extract again.
        if pets_status(root)["state"] != "ready":
            for sub in ("images", "annotations"):
                if (base / sub).is_dir():
                    shutil.rmtree(base / sub)
        resources = torchvision.datasets.OxfordIIITPet._RESOURCES
        archives_present = all(
            (base / os.path.basename(urlparse(url).path)).exists() for url, _ in resources
        )
        if not archives_present:
            report("Connecting", 0.0)
            try:
                _reachable(resources[0][0], timeout)
            except OSError as exc:
                raise DatasetUnavailable(
                    "The Oxford-IIIT Pet dataset could not be downloaded: there is no network "
                    f"connection to {urlparse(resources[0][0]).hostname} ({exc}). Use the shapes "
                    "dataset or a folder of your own images instead."
                ) from exc
        worker.start()
        started = True
    finally:
        if not started:
            lock.unlink(missing_ok=True)  # failed before the worker took over the lock
    # torchvision blocks without reporting; it runs in the thread and this one reports, so the
    # callback may touch a UI that only the calling thread is allowed to use.
    while worker.is_alive():
        report(*_pets_progress(base))
        worker.join(0.5)
    if failure:
        _raise_download_error(failure[0])
    status = pets_status(root)
    if status["state"] != "ready":
        raise DatasetUnavailable(
            f"The Oxford-IIIT Pet download finished with only {status['n_images']} of "
            f"{PETS_EXPECTED} images; try again."
        )
    report("Done", 1.0)


def _raise_download_error(exc: BaseException) -> None:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        raise DatasetUnavailable(
            "The Oxford-IIIT Pet dataset could not be saved: the disk is full (it needs ~1.6 GB)."
        ) from exc
    if isinstance(exc, urllib.error.URLError | OSError):
        raise DatasetUnavailable(
            f"The Oxford-IIIT Pet dataset could not be downloaded: no network or the server did "
            f"not answer ({exc}). Use the shapes dataset or a folder of your own images instead."
        ) from exc
    if isinstance(exc, tarfile.TarError | RuntimeError | EOFError):
        raise DatasetUnavailable(
            f"The Oxford-IIIT Pet archive was incomplete or corrupt ({exc}); try the download "
            "again."
        ) from exc
    raise exc


# --- any folder ---------------------------------------------------------------------------------


def _find_images(folder: Path, max_entries: int) -> list[Path]:
    """Image files anywhere under `folder` (hidden ones and symlinked folders skipped), sorted.

    Raises:
        ValueError: more than `max_entries` files and folders to look at (a path like "/" typed
            into the app would otherwise walk the whole disk).
    """
    found: list[Path] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        seen += len(dirnames) + len(filenames)
        if seen > max_entries:
            raise ValueError(
                f"The folder {str(folder)!r} holds more than {max_entries:,} files and folders; "
                "choose the folder that holds just the training images."
            )
        found += [
            Path(dirpath, f)
            for f in filenames
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES
        ]
    return sorted(found)


def _label_by_regex(files: Sequence[Path], regex: str) -> Items:
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise ValueError(
            f"The label regex {regex!r} is not a valid regular expression: {exc}."
        ) from exc
    if pattern.groups < 1:
        raise ValueError(
            f"The label regex {regex!r} needs one group in parentheses that captures the label."
        )
    found: list[tuple[Path, str]] = []
    for p in files:
        m = pattern.search(p.name)
        if m and m.group(1):
            found.append((p, m.group(1)))
    if not found:
        raise ValueError(
            f"The label regex {regex!r} matches none of the {len(files)} file names "
            f"(e.g. {files[0].name!r})."
        )
    classes = sorted({label for _, label in found})
    index = {c: i for i, c in enumerate(classes)}
    return Items(
        paths=[p for p, _ in found],
        labels=[index[label] for _, label in found],
        classes=classes,
        skipped=len(files) - len(found),
    )


def folder_items(path: Path | str, regex: str | None = None, max_entries: int = 500_000) -> Items:
    """Images under `path`, labelled by a regex on the file name or by their sub-folder.

    Args:
        path: a folder.
        regex: with one group capturing the label from the file name (searched, like fastai's
            `from_name_re`); images anywhere under `path` count, non-matching ones are skipped.
            None: each immediate sub-folder is a class holding the images anywhere inside it.
        max_entries: refuse folders with more files and sub-folders than this.

    Returns:
        Items with paths in sorted order and classes sorted by name.

    Raises:
        ValueError: the folder is missing, holds no images or far too many files, or the regex is
            invalid, has no group, or matches nothing.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"The folder {str(folder)!r} does not exist or is not a folder.")
    if regex is not None:
        files = _find_images(folder, max_entries)
        if not files:
            raise ValueError(
                f"The folder {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})."
            )
        return _label_by_regex(files, regex)
    classes: list[str] = []
    paths_: list[Path] = []
    labels: list[int] = []
    budget = max_entries
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _find_images(sub, budget)
        budget -= len(files)
        if files:
            labels += [len(classes)] * len(files)
            paths_ += files
            classes.append(sub.name)
    if not classes:
        raise ValueError(
            f"No sub-folder of {str(folder)!r} holds images; put each class's images in a "
            "sub-folder named after it, or give a regex that reads the label from file names."
        )
    return Items(paths=paths_, labels=labels, classes=classes)


def split_indices(n: int, valid_pct: float = 0.2, seed: int = 2) -> tuple[list[int], list[int]]:
    """A random train/validation split like fastai's `split_by_rand_pct` with a seed.

    Uses NumPy's legacy `RandomState(seed).permutation`, whose stream NumPy keeps stable across
    versions, the same draw as the lesson's `np.random.seed(2)` followed by a permutation.

    Args:
        n: number of items.
        valid_pct: fraction in the validation set, 0 <= valid_pct < 1.
        seed: the split's seed.

    Returns:
        (train, valid) index lists, each sorted; disjoint, together 0..n-1; int(valid_pct * n)
        validation items.
    """
    if not 0 <= valid_pct < 1:
        raise ValueError(f"valid_pct must be in [0, 1), got {valid_pct}.")
    perm = np.random.RandomState(seed).permutation(n)
    cut = int(valid_pct * n)
    return sorted(perm[cut:].tolist()), sorted(perm[:cut].tolist())


# --- synthetic shapes ---------------------------------------------------------------------------


def _shape_mask(kind: str, u: Tensor, v: Tensor) -> Tensor:
    """Inside test in the shape's own frame, where the shape's outer radius is 1.

    Shape:
        u, v (M, S, S) -> bool (M, S, S)
    """
    if kind == "circle":
        return u * u + v * v <= 0.85
    if kind == "square":
        return torch.maximum(u.abs(), v.abs()) <= 0.75
    if kind == "cross":
        arm, half = 0.3, 1.0
        return ((u.abs() <= arm) & (v.abs() <= half)) | ((v.abs() <= arm) & (u.abs() <= half))
    if kind == "triangle":
        # Equilateral triangle with circumradius 1: inside all three edges at distance 0.5.
        inside = torch.ones_like(u, dtype=torch.bool)
        for k in range(3):
            a = -math.pi / 2 + 2 * math.pi * k / 3
            inside &= u * math.cos(a) + v * math.sin(a) <= 0.5
        return inside
    if kind == "star":
        # Five points at radius 1, inner corners at 0.45: fold the angle into one half-spike and
        # test against the edge from the tip (1, 0) to the inner corner.
        alpha = math.pi / 5
        rho = torch.sqrt(u * u + v * v)
        phi = torch.atan2(v, u) + math.pi / 2  # a tip points up
        psi = torch.remainder(phi + alpha, 2 * alpha) - alpha
        px, py = rho * torch.cos(psi), rho * torch.sin(psi).abs()
        bx, by = 0.45 * math.cos(alpha), 0.45 * math.sin(alpha)
        # Cross product of (tip->corner) and (tip->point): non-negative on the centre's side.
        return (bx - 1) * py - by * (px - 1) >= 0
    raise ValueError(f"Unknown shape {kind!r}.")


def make_shapes(n: int, size: int = 64, seed: int = 0) -> ShapesData:
    """Synthetic shapes on textured backgrounds, deterministic from `seed`.

    Each image holds one object (circle, square, triangle, cross or star) with a random colour
    that differs from the background base colour by at least 0.35 in every channel, a random
    radius of 20-28 % of the side (so its box covers about 10-35 % of the image, a minority), a
    random position fully inside the image and a random rotation. Backgrounds are one of: pixel
    noise, stripes at a random angle and frequency, or a linear gradient, all of small amplitude
    around a random base colour.

    Args:
        n: number of images.
        size: side in pixels (at least 16).
        seed: the generator's seed; the same (n, size, seed) always gives the same data.

    Returns:
        ShapesData; labels are balanced (as equal as n allows) and shuffled.

    Shape:
        images (n, 3, size, size) uint8, labels (n,), boxes (n, 4), masks (n, size, size)
    """
    if n < 0 or size < 16:
        raise ValueError(f"make_shapes needs n >= 0 and size >= 16, got n={n}, size={size}.")
    g = torch.Generator().manual_seed(seed)
    k = len(SHAPE_CLASSES)

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=g)

    labels = torch.arange(n) % k
    labels = labels[torch.randperm(n, generator=g)]
    # Objects big enough that a small CNN trained from scratch can tell the shapes apart in a few
    # minutes of CPU time (at radius 14-24 % a resnet18 at 32 px stayed near chance), and still a
    # minority of the picture, so a heatmap that points at the box means something.
    radius = (0.20 + 0.08 * rand(n)) * size
    cx = radius + rand(n) * (size - 2 * radius)
    cy = radius + rand(n) * (size - 2 * radius)
    theta = rand(n) * 2 * math.pi
    base = 0.15 + 0.7 * rand(n, 3)
    delta = 0.35 + 0.3 * rand(n, 3)
    # Add (or subtract) delta per channel, whichever stays inside [0, 1]; texture is at most
    # ±0.1, so every object pixel differs from every background pixel by > 0.2 in each channel.
    colour = torch.where(base + delta <= 1.0, base + delta, base - delta).clamp(0, 1)

    coords = torch.arange(size, dtype=torch.float32) + 0.5  # pixel centres
    ys, xs = coords.view(1, size, 1), coords.view(1, 1, size)

    # Background textures: 0 noise, 1 stripes, 2 gradient.
    texture_kind = torch.randint(0, 3, (n,), generator=g)
    amp = 0.04 + 0.06 * rand(n)
    beta = (rand(n) * 2 * math.pi).view(n, 1, 1)
    proj = (xs * torch.cos(beta) + ys * torch.sin(beta)) / size  # (n, S, S), about -1.4..1.4
    freq = (2 + 5 * rand(n)).view(n, 1, 1)
    phase = (rand(n) * 2 * math.pi).view(n, 1, 1)
    # Each texture is computed only for the images that use it.
    texture = torch.empty(n, size, size)
    for t_kind in range(3):
        idx = (texture_kind == t_kind).nonzero().flatten()
        if not len(idx):
            continue
        if t_kind == 0:
            texture[idx] = rand(len(idx), size, size) * 2 - 1
        elif t_kind == 1:
            texture[idx] = torch.sin(2 * math.pi * freq[idx] * proj[idx] + phase[idx])
        else:
            texture[idx] = (proj[idx] / math.sqrt(2)).clamp(-1, 1)
    background = base.view(n, 3, 1, 1) + amp.view(n, 1, 1, 1) * texture.unsqueeze(1)

    # Each pixel in the object's frame: translate, rotate by -theta, scale by the radius.
    dx = (xs - cx.view(n, 1, 1)) / radius.view(n, 1, 1)
    dy = (ys - cy.view(n, 1, 1)) / radius.view(n, 1, 1)
    c, s = torch.cos(theta).view(n, 1, 1), torch.sin(theta).view(n, 1, 1)
    u, v = c * dx + s * dy, -s * dx + c * dy
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for label, kind_name in enumerate(SHAPE_CLASSES):
        idx = (labels == label).nonzero().flatten()
        if len(idx):
            masks[idx] = _shape_mask(kind_name, u[idx], v[idx])

    img = torch.where(masks.unsqueeze(1), colour.view(n, 3, 1, 1), background)
    images = (img.clamp(0, 1) * 255).round().to(torch.uint8)

    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (n, S) each
    ar = torch.arange(size)
    big = size + 1

    def first(hit: Tensor) -> Tensor:
        return torch.where(hit, ar, big).min(dim=1).values

    def last(hit: Tensor) -> Tensor:
        return torch.where(hit, ar, -1).max(dim=1).values + 1

    boxes = torch.stack([first(cols), first(rows), last(cols), last(rows)], dim=1).float()
    return ShapesData(
        images=images, labels=labels, boxes=boxes, classes=list(SHAPE_CLASSES), masks=masks
    )


# --- decode once ---------------------------------------------------------------------------------


def _presize_one(path: Path, size: int) -> np.ndarray | None:
    from explorer import images

    try:
        img = images.open_image(path)
    except (ValueError, OSError):  # ImageError is a ValueError; a vanished file is an OSError
        return None
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    # Crop and resize in one resample; reducing_gap makes big downsizes fast without aliasing.
    out = img.resize(
        (size, size),
        Image.Resampling.BICUBIC,
        box=(left, top, left + side, top + side),
        reducing_gap=3.0,
    )
    return np.asarray(out, dtype=np.uint8)  # (size, size, 3)


def presize(paths_: Sequence[Path], size: int, workers: int = 2) -> tuple[Tensor, Tensor]:
    """Decode every image once, short side to `size`, centre-cropped square.

    Args:
        paths_: image files.
        size: output side in pixels.
        workers: decoding threads (Pillow releases the GIL while decoding and resizing).

    Returns:
        (images uint8 (N, 3, size, size), ok bool (N,)). An unreadable image is skipped: its
        slot stays zero and ok is False, so `(~ok).sum()` counts them.

    Shape:
        (N,) paths -> (N, 3, size, size), (N,)
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}.")
    n = len(paths_)
    # NumPy for the per-image HWC -> CHW copy: a small strided copy into a torch tensor goes
    # through torch's dispatcher and thread pool and costs more than the resize itself.
    out = np.zeros((n, 3, size, size), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)

    def job(i: int) -> None:
        arr = _presize_one(Path(paths_[i]), size)
        if arr is not None:
            out[i] = arr.transpose(2, 0, 1)
            ok[i] = True

    if workers <= 1 or n < 2:
        for i in range(n):
            job(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(job, range(n)))
    return torch.from_numpy(out), torch.from_numpy(ok)
