"""Benchmark: training throughput of our pipeline vs PIL + transforms.v2 + DataLoader + fp32.

Ours: JPEGs decoded once into a presized uint8 cache on the device, batches augmented there with
explorer.augment, bf16 autocast + channels_last on CUDA (explorer.train.augment_batch/train_step).
Baseline: an ImageFolder-style dataset decoding every JPEG with PIL per item, torchvision
transforms.v2, a DataLoader with workers, fp32. Both run in this process, interleaved, medians, on a
Pet-sized synthetic JPEG set (500×375). On CUDA it also times the whole lesson recipe; on a CPU it
runs at a small size and times the `quick` shapes recipe to ≤ 10 % error instead.
One JSON line last.

Run: .venv/bin/python bench/train.py [--n-images N] [--size S] [--arch A] [--rounds R] [--steps K]
     .venv/bin/python bench/train.py --torchrun [--rounds R]  (torchrun --nproc-per-node 1 vs plain)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from explorer import models
from explorer import train as tr
from explorer.images import IMAGENET_MEAN, IMAGENET_STD

N_CLASSES = 37  # like the Pet breeds
LABEL_REGEX = r"(class\d+)_\d+\.jpg$"


def write_jpegs(folder: Path, n: int, seed: int = 0, workers: int = 8) -> list[Path]:
    """n 500×375 JPEGs (quality 90) with smooth colour fields and noise, named classK_I.jpg."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31, n)

    def one(i: int) -> Path:
        r = np.random.default_rng(int(seeds[i]))
        small = r.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # a coarse random picture...
        img = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
        noise = r.normal(0, 12, (375, 500, 3))  # ...with texture, so JPEG decoding is realistic
        arr = np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        path = folder / f"class{i % N_CLASSES}_{i}.jpg"
        Image.fromarray(arr).save(path, quality=90)
        return path

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


class JpegFolder(Dataset):
    """The baseline's dataset: decode with PIL on every access, as torchvision's ImageFolder."""

    def __init__(self, files: list[Path], size: int) -> None:
        self.files = files
        self.tfm = v2.Compose(
            [
                v2.PILToTensor(),
                v2.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.RandomRotation(20),
                v2.ColorJitter(brightness=0.4, contrast=0.4),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.files[i]) as im:
            x = self.tfm(im.convert("RGB"))
        return x, int(self.files[i].name[5:].split("_")[0])


def forever(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ours_runner(
    files: list[Path], args: argparse.Namespace, device: torch.device
) -> tuple[Callable[[int], Callable[[], None]], float]:
    """make_step(batch_size) -> one step of our pipeline per call; and the one-time decode's s.

    The run is set up by explorer.train's own `prepare_data` + `setup_run`, and each step is the
    loop's: batch indices drawn on the device (a CPU -> GPU copy of them would wait for the GPU
    every step and serialise the CPU's kernel launches with the GPU's work), `augment_batch`,
    `normalise`, `train_step`.
    """
    cfg = tr.TrainConfig(
        data=f"folder:{files[0].parent}",
        label_regex=LABEL_REGEX,
        arch=args.arch,
        stages=[tr.Stage(1, args.size, 1e-3, frozen=False)],
        batch_size=min(args.batch_sizes),
        pretrained=False,
        bn_final=False,
        workers=args.workers,
        valid_pct=0.05,  # the throughput test trains on (almost) everything
        seed=0,
    )
    t0 = time.perf_counter()
    data = tr.prepare_data(cfg, device, lambda _m: None)
    sync(device)
    decode_s = time.perf_counter() - t0
    run = tr.setup_run(cfg, data)
    opt = tr.make_optimizer(run.model, cfg.stages[0], cfg)
    n = len(data.train_y)

    def make_step(bs: int) -> Callable[[], None]:
        def step() -> None:
            idx = torch.randint(0, n, (bs,), device=device)
            xb = tr.augment_batch(data.train_x[idx], run.augment, run.gen, args.size, "reflection")
            tr.train_step(run.model, opt, tr.normalise(xb, run.mean, run.std), data.train_y[idx])

        return step

    return make_step, decode_s


def baseline_runner(files: list[Path], args, device: torch.device, bs: int) -> Callable[[], None]:
    """One step of the baseline per call."""
    loader = DataLoader(
        JpegFolder(files, args.size),
        batch_size=bs,
        shuffle=True,
        num_workers=args.workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0,
    )
    batches = forever(loader)
    model = models.create_cnn(args.arch, N_CLASSES, seed=0).to(device)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def step() -> None:
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def images_per_s(step: Callable[[], None], bs: int, args, device) -> float:
    """Median images/s over `rounds` rounds of `steps` steps each.

    The pipelines are measured one after the other, not interleaved: between its rounds the
    baseline's DataLoader refills its prefetch queue, and its worker processes and the main
    process's pin-memory thread then take cores and the GIL from whatever runs beside them (on an
    H200 machine this halved our launch-bound step's rate).
    """
    for _ in range(args.warmup):  # warm-up: cuDNN autotuning, worker start-up, allocator
        step()
    sync(device)
    rates: list[float] = []
    for _ in range(args.rounds):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync(device)
        rates.append(args.steps * bs / (time.perf_counter() - t0))
    return statistics.median(rates)


def profile_step(step: Callable[[], None], device: torch.device, n: int = 10) -> None:
    """The top operators of n steps by self CPU time and by device time, on stderr."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    for _ in range(3):
        step()
    sync(device)
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(n):
            step()
        sync(device)
    print(f"profile: {n} steps in {time.perf_counter() - t0:.3f} s (profiled)", file=sys.stderr)
    table = prof.key_averages()
    print(table.table(sort_by="self_cpu_time_total", row_limit=15), file=sys.stderr)
    if device.type == "cuda":
        print(table.table(sort_by="self_device_time_total", row_limit=15), file=sys.stderr)


def timed_fit(cfg: tr.TrainConfig, target: float | None = None) -> dict[str, float | None]:
    """Run a whole recipe; seconds after the one-time data preparation, and to reach `target`."""
    marks: dict[str, float | None] = {"start": None, "hit": None, "last_error": None}
    t0 = time.perf_counter()

    def watch(ev: dict) -> None:
        now = time.perf_counter()
        if ev["event"] == "start":
            marks["start"] = now
        elif ev["event"] == "epoch":
            marks["last_error"] = ev["error_rate"]
            if target is not None and marks["hit"] is None and ev["error_rate"] <= target:
                marks["hit"] = now
        if ev["event"] in ("stage", "epoch"):
            print(json.dumps({k: v for k, v in ev.items() if k != "config"})[:200], flush=True)

    with tempfile.TemporaryDirectory() as wdir:
        tr.fit(cfg, None, listeners=[watch], weights_folder=Path(wdir))
    end = time.perf_counter()
    start = marks["start"] or t0
    return {
        "prepare_s": round(start - t0, 2),
        "train_s": round(end - start, 2),
        "to_target_s": round(marks["hit"] - t0, 2) if marks["hit"] else None,
        "final_error": marks["last_error"],
    }


def cli_throughput(cfg: tr.TrainConfig, launcher: list[str], home: Path) -> dict[str, float]:
    """Run `python -m explorer.train` under `launcher`; its last epoch's images/s and the seconds
    from the start event (data ready) to the end."""
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps(cfg.to_dict()))
    run = home / "run"
    cmd = [*launcher, "-m", "explorer.train", "--config", str(home / "config.json")]
    subprocess.run(
        [*cmd, "--run-dir", str(run)],
        env={**os.environ, "EXPLORER_HOME": str(home)},
        check=True,
        capture_output=True,
    )
    events = tr.read_events(run / "events.jsonl")
    epochs = [e for e in events if e["event"] == "epoch"]
    start = next(e["t"] for e in events if e["event"] == "start")
    end = next(e["t"] for e in events if e["event"] == "done")
    return {"images_per_s": round(epochs[-1]["images_per_s"], 1), "train_s": round(end - start, 2)}


def torchrun_vs_plain(args: argparse.Namespace, cuda: bool) -> dict[str, object]:
    """The same run as `python -m explorer.train` and as `torchrun --nproc-per-node 1 -m ...`
    (DDP with one process: its overhead is the difference), interleaved, medians of the rounds."""
    if cuda:
        stages = [tr.Stage(epochs=2, size=224, lr=1e-3, frozen=False)]
        cfg = tr.recipe("lesson", data="shapes", n_shapes=4000, stages=stages, pretrained=False)
    else:
        stages = [tr.Stage(epochs=2, size=32, lr=(1e-3, 1e-3), frozen=False)]
        cfg = tr.recipe("tiny", n_shapes=960, stages=stages, cpu_threads=args.threads or 2)
    plain = [sys.executable]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    torchrun += ["--nproc-per-node", "1"]
    rows: dict[str, list[dict[str, float]]] = {"plain": [], "torchrun_1": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(max(1, args.rounds)):
            for name, launcher in (("plain", plain), ("torchrun_1", torchrun)):
                rows[name].append(cli_throughput(cfg, launcher, Path(tmp) / f"{name}-{r}"))
    med = {
        name: {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        for name, runs in rows.items()
    }
    return {
        "torchrun_recipe": f"{cfg.arch} on {cfg.n_shapes} shapes, {stages[0].size} px, "
        f"batch {cfg.batch_size}, {stages[0].epochs} epochs",
        **med,
        "torchrun_over_plain": round(
            med["torchrun_1"]["images_per_s"] / med["plain"]["images_per_s"], 3
        ),
    }


def main() -> None:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-images", type=int, default=7390 if cuda else 256)
    p.add_argument("--size", type=int, default=224 if cuda else 64)
    p.add_argument("--arch", default="resnet34")
    p.add_argument(
        "--batch-sizes",
        type=lambda text: [int(b) for b in text.split(",")],
        default="64,256" if cuda else "32",
        help="comma-separated; the first (the lesson's 64) gives the headline numbers",
    )
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--rounds", type=int, default=5 if cuda else 3)
    p.add_argument("--steps", type=int, default=20 if cuda else 3)
    p.add_argument("--warmup", type=int, default=5 if cuda else 1)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--skip-recipe", action="store_true", help="only the throughput comparison")
    p.add_argument("--profile", action="store_true", help="print a profile of our step (stderr)")
    p.add_argument(
        "--torchrun",
        action="store_true",
        help="only compare `torchrun --nproc-per-node 1` with plain `python -m explorer.train`",
    )
    args = p.parse_args()
    if args.torchrun:
        device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
        print(
            json.dumps(
                {"bench": "train-torchrun", "device": device_name, **torchrun_vs_plain(args, cuda)}
            )
        )
        return
    batch_sizes = args.batch_sizes
    if max(batch_sizes) > args.n_images * 0.95:  # the baseline drops a partial last batch
        p.error("every batch size must fit in the training images (95 % of --n-images)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if cuda else "cpu")
    result: dict[str, object] = {
        "bench": "train",
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "note": (
            f"CUDA run at the issue's size ({args.size} px)"
            if cuda
            else f"no GPU: CPU at a small size ({args.size} px, {args.n_images} images), "
            "not comparable with the H100 targets"
        ),
        "arch": args.arch,
        "size": args.size,
        "batch_sizes": batch_sizes,
        "n_images": args.n_images,
        "baseline": "PIL decode per item + torchvision.transforms.v2 + DataLoader"
        f"(workers={args.workers}) + fp32",
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = write_jpegs(Path(tmp) / "jpegs", args.n_images, workers=args.workers)
        result["write_jpegs_s"] = round(time.perf_counter() - t0, 2)
        make_ours, decode_s = ours_runner(files, args, device)
        result["decode_once_s"] = round(decode_s, 2)
        by_bs = {}
        for bs in batch_sizes:
            ours = images_per_s(make_ours(bs), bs, args, device)
            base_step = baseline_runner(files, args, device, bs)
            base = images_per_s(base_step, bs, args, device)
            del base_step  # ends the DataLoader's workers before anything else is timed
            gc.collect()
            by_bs[bs] = {
                "ours_images_per_s": round(ours, 1),
                "baseline_images_per_s": round(base, 1),
                "speedup": round(ours / base, 2),
            }
        result.update(by_bs[batch_sizes[0]], by_batch_size=by_bs)
        if args.profile:
            profile_step(make_ours(batch_sizes[0]), device)
        del make_ours
        # the throughput alone, in case the recipe below runs out of time on a lent machine
        print("partial: " + json.dumps(result), file=sys.stderr, flush=True)
        if not args.skip_recipe and cuda:
            lesson = tr.recipe(
                "lesson",
                data=f"folder:{files[0].parent}",
                label_regex=LABEL_REGEX,
                pretrained=models.imagenet_weights_cached("resnet34"),
                workers=args.workers,
            )
            result["lesson_recipe"] = timed_fit(lesson)
    if not args.skip_recipe and not cuda:  # the CPU target; a GPU has the lesson's
        result["quick_recipe"] = timed_fit(tr.recipe("quick", device=str(device)), target=0.10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
