"""Benchmark: Grad-CAM cost against a plain forward and against the usual full-backward Grad-CAM;
every CAM method's cost ÷ a forward pass, against pytorch-grad-cam-style full backward and against
torchcam for the same methods (Score-CAM at full precision timed in interleaved pairs with
torchcam's at its default batch size, the median of the pairs' ratios: target ≥ 1.5x); the
faithfulness metrics of one map at 224 px (target ≤ 2 s on this CPU).

Also times, under AppTest, the rerun a committed channel costs (cached tensors, no model run)
against a rerun that must run the model again (a new class); and, in Chromium against
`streamlit run`, a channel switch in the channel browser component: from the input event to the
frame that shows the new channel (median of the repeats, target ≤ 50 ms, 0 reruns; the old
slider needed a server rerun per channel). Prints one JSON line last.

`bench_channel_switch(page, repeats)` is also the "heatmap channel" measure for bench/browser.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from playwright_kit import ARGS, CHROMIUM, ROOT, serve

from explorer import heatmap as hm
from explorer import models
from explorer.heatmap import methods as hm_methods


def full_backward_grad_cam(model: torch.nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Grad-CAM the usual way: parameters keep requires_grad, the input requires grad too, and
    the backward runs all the way down, filling every parameter's .grad and the input's."""
    store: dict[str, torch.Tensor] = {}

    def keep(module, inputs, out):
        out.register_hook(lambda g: store.__setitem__("g", g))
        store["a"] = out

    handle = dict(model.named_modules())[layer].register_forward_hook(keep)
    try:
        x = x.clone().requires_grad_(True)
        logits = model(x)
        logits[0, int(logits[0].argmax())].backward()
    finally:
        handle.remove()
    a, g = store["a"][0].detach(), store["g"][0]
    cam = (a * g.mean(dim=(1, 2))[:, None, None]).mean(0)
    model.zero_grad(set_to_none=True)
    return cam


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def model_timings(arch: str, size: int, repeats: int) -> dict:
    model = models.create_cnn(arch, 37, seed=0).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))

    def forward() -> None:
        with torch.no_grad():
            model(x)

    ours = lambda: hm.grad_cam(model, x, "0")  # noqa: E731
    usual = lambda: full_backward_grad_cam(model, x, "0")  # noqa: E731
    torch.testing.assert_close(ours(), usual(), rtol=1e-4, atol=1e-6)  # same map, then warm
    forward()
    runs = {"forward": forward, "ours": ours, "usual": usual}
    times: dict[str, list[float]] = {k: [] for k in runs}
    order = list(runs)
    for _ in range(repeats):  # interleaved and rotated, so load changes hit all three alike
        for k in order:
            times[k].append(timed(runs[k]))
        order = order[1:] + order[:1]
    f, o, u = (statistics.median(times[k]) for k in runs)
    return {
        "forward_ms": round(f * 1e3, 1),
        "gradcam_ms": round(o * 1e3, 1),
        "full_backward_gradcam_ms": round(u * 1e3, 1),
        "gradcam_over_forward": round(o / f, 3),
        "speedup_vs_full_backward": round(u / o, 2),
    }


def full_backward_cam(
    model: torch.nn.Module, x: torch.Tensor, layer: str, method: str
) -> torch.Tensor:
    """pytorch-grad-cam's way: hooks on the layer, parameter gradients on, the backward runs to the
    input; then the same formula as ours on the activations and gradients it kept."""
    store: dict[str, torch.Tensor] = {}

    def keep(module, inputs, out):
        out.register_hook(lambda g: store.__setitem__("g", g))
        store["a"] = out

    handle = dict(model.named_modules())[layer].register_forward_hook(keep)
    try:
        logits = model(x.clone().requires_grad_(True))
        logits[0, int(logits[0].argmax())].backward()
    finally:
        handle.remove()
    model.zero_grad(set_to_none=True)
    return hm.gradient_cam(store["a"][0].detach(), store["g"][0], method)


TORCHCAM = {"gradcam": "GradCAM", "gradcam++": "GradCAMpp", "xgradcam": "XGradCAM"}
TORCHCAM |= {"layercam": "LayerCAM", "scorecam": "ScoreCAM"}


def torchcam_cam(model: torch.nn.Module, x: torch.Tensor, layer: str, method: str) -> torch.Tensor:
    """The same method through torchcam (its defaults: Score-CAM's batch_size=32)."""
    from torchcam import methods as tc

    with getattr(tc, TORCHCAM[method])(model, layer) as extractor:
        if method == "scorecam":
            with torch.no_grad():
                scores = model(x)
            return extractor(int(scores[0].argmax()), normalized=False)[0]
        scores = model(x)
        return extractor(int(scores[0].argmax()), scores, normalized=False)[0]


def median_time(fn, repeats: int) -> float:
    fn()  # warm
    return statistics.median(timed(fn) for _ in range(repeats))


def wall_and_cpu(fn) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one call; CPU time counts only the work this
    process was given, so it moves far less with other processes' load than wall time does."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def score_cam_trials(model: torch.nn.Module, x: torch.Tensor, trials: int) -> dict[str, Any]:
    """Score-CAM at full precision, ours against torchcam's (its default batch size, 32), timed in
    interleaved pairs (ours, torchcam, ours, torchcam, ...) in this process, so a load that comes
    and goes hits both alike; the speed-up is the median of the pairs' ratios (wall time, and CPU
    time beside it). Both are warmed once first, and their maps compared."""

    def ours_fn() -> torch.Tensor:
        hm_methods._COPIES.clear()  # each call folds its own copy, as a first call does
        return hm.cam_map(model, x, "0", None, "scorecam")

    def theirs_fn() -> torch.Tensor:
        return torchcam_cam(model, x, "0", "scorecam")

    ours_map, theirs_map = ours_fn(), theirs_fn()
    diff = float((ours_map - theirs_map).abs().max() / theirs_map.abs().max().clamp_min(1e-12))
    ours, theirs = [], []
    for _ in range(trials):
        ours.append(wall_and_cpu(ours_fn))
        theirs.append(wall_and_cpu(theirs_fn))
    return {
        "ours_s": [round(t[0], 2) for t in ours],
        "torchcam_s": [round(t[0], 2) for t in theirs],
        "speedup": statistics.median(b[0] / a[0] for a, b in zip(ours, theirs, strict=True)),
        "cpu_speedup": statistics.median(b[1] / a[1] for a, b in zip(ours, theirs, strict=True)),
        "ours_median": statistics.median(t[0] for t in ours),
        "theirs_median": statistics.median(t[0] for t in theirs),
        "max_rel_diff": diff,
    }


def method_timings(arch: str, size: int, repeats: int, score_size: int, trials: int) -> dict:
    """Each method's time ÷ a forward pass at the same size, ours vs full backward vs torchcam."""
    model = models.create_cnn(arch, 37, seed=0).eval()
    out: dict[str, Any] = {"score_cam_size": score_size}
    for method in hm.CAM_METHODS:
        px = score_size if method == "scorecam" else size
        x = torch.randn(1, 3, px, px, generator=torch.Generator().manual_seed(0))

        def forward(x: torch.Tensor = x) -> None:
            with torch.no_grad():
                model(x)

        f = median_time(forward, max(3, repeats))
        if method == "scorecam":
            out[method] = score_row(model, x, f, trials)
            continue
        ours = median_time(lambda x=x, m=method: hm.cam_map(model, x, "0", None, m), repeats)
        row = {"ms": round(ours * 1e3, 1), "over_forward": round(ours / f, 3)}
        if method in hm.GRADIENT_METHODS:
            usual = median_time(lambda x=x, m=method: full_backward_cam(model, x, "0", m), repeats)
            row["full_backward_over_forward"] = round(usual / f, 3)
        if method in TORCHCAM:
            theirs = median_time(lambda x=x, m=method: torchcam_cam(model, x, "0", m), repeats)
            row["torchcam_over_forward"] = round(theirs / f, 3)
            row["speedup_vs_torchcam"] = round(theirs / ours, 2)
        out[method] = row
    return out


def score_row(model: torch.nn.Module, x: torch.Tensor, f: float, trials: int) -> dict[str, Any]:
    """Score-CAM's row: full precision against torchcam (`score_cam_trials`), then bfloat16."""
    t = score_cam_trials(model, x, trials)
    row: dict[str, Any] = {
        "ms": round(t["ours_median"] * 1e3, 1),
        "over_forward": round(t["ours_median"] / f, 3),
        "torchcam_over_forward": round(t["theirs_median"] / f, 3),
        "speedup_vs_torchcam": round(t["speedup"], 2),
        "cpu_time_speedup_vs_torchcam": round(t["cpu_speedup"], 2),
        "trials": trials,
        "ours_s": t["ours_s"],
        "torchcam_s": t["torchcam_s"],
        "max_rel_diff_vs_torchcam": float(f"{t['max_rel_diff']:.2g}"),
    }
    if hm.fast_dtype("cpu") is not None:
        fast = median_time(
            lambda: hm.cam_map(model, x, "0", None, "scorecam", dtype=torch.bfloat16), 1
        )
        row["bf16_ms"] = round(fast * 1e3, 1)
        row["bf16_over_forward"] = round(fast / f, 3)
        row["bf16_speedup_vs_torchcam"] = round(t["theirs_median"] / fast, 2)
    return row


def faithfulness_timing(arch: str, repeats: int, size: int = 224) -> dict:
    """The faithfulness panel's numbers for one map of one image (batched masked passes)."""
    model = models.create_cnn(arch, 37, seed=0).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    c = hm.capture(model, x, "0")
    cam = hm.gradient_cam(c.acts, c.grads, "gradcam")
    t = median_time(lambda: hm.faithfulness(model, x, cam, c.class_idx), repeats)
    n = len(hm.step_counts(size * size)) * 2
    return {
        "faithfulness_224_s": round(t, 3),
        "faithfulness_images": n,
        "faithfulness_target_s": 2.0,
    }


def pointing_table(name: str, layer: str, per_class: int) -> dict:
    """Every method's pointing game and faithfulness on fresh shapes for a shapes checkpoint."""
    model, meta = models.load(name)
    size = int(meta["size"])
    x, labels, boxes, names = hm.shapes_batch(size, meta["mean"], meta["std"], per_class)
    classes = list(meta["classes"])
    labels = [classes.index(names[k]) for k in labels]
    with torch.no_grad():
        acc = float((model(x).argmax(-1) == torch.tensor(labels)).float().mean())
    methods = ["lesson", *hm.CAM_METHODS]
    rows = hm.compare_methods(model, x, labels, layer, classes, boxes, methods, steps=8)
    return {
        "pointing_checkpoint": name,
        "pointing_size": size,
        "pointing_layer": layer,
        "pointing_accuracy": round(acc, 3),
        "pointing_table": hm.score_rows(rows, True),
        "most_faithful": hm.most_faithful(rows, pointing=True),
    }


def slider_timings(repeats: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["EXPLORER_HOME"] = tempfile.mkdtemp(prefix="bench-heatmap-")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("app_pages/heatmap.py")
    at.run()
    at.session_state["heatmap_tab"] = "Channels"  # only the open view is drawn
    at.run()
    if at.exception:
        raise RuntimeError(f"The heatmap page failed: {at.exception[0].value}")
    slide, recompute = [], []

    def commit(ch: int) -> None:  # what the channel browser's pause does: a committed channel
        at.session_state["heatmap_channel"] = ch
        at.run()

    for i in range(repeats):
        slide.append(timed(lambda i=i: commit(10 + i)))
        # A class not computed yet: the model must run again (the cost the slider avoids).
        recompute.append(timed(lambda i=i: at.selectbox(key="heatmap_class").set_value(i).run()))
    if at.exception:
        raise RuntimeError(f"The heatmap page failed: {at.exception[0].value}")
    return {
        "channel_commit_rerun_ms": round(statistics.median(slide) * 1e3, 1),
        "recompute_rerun_ms": round(statistics.median(recompute) * 1e3, 1),
    }


# One channel switch inside the component: set the slider, fire its input event, wait for the
# next frame (the picture is drawn synchronously in the handler, shown at that frame).
SWITCH = """
async (ch) => {
  const host = [...document.querySelectorAll('.st-key-heatmap_channels *')]
    .find((e) => e.shadowRoot);
  const root = host ? host.shadowRoot : document.querySelector('.st-key-heatmap_channels');
  const slider = root.querySelector('input.slider'), wrap = root.querySelector('.hm-channels');
  const before = Number(wrap.dataset.drawn || 0);
  const t0 = performance.now();
  slider.value = ch;
  slider.dispatchEvent(new Event('input', { bubbles: true }));
  await new Promise((r) => requestAnimationFrame(() => r()));
  const ms = performance.now() - t0;
  return { ms, ok: Number(wrap.dataset.drawn) > before && wrap.dataset.channel === String(ch) };
}
"""
RUNS = """() => {
  window.__hmRuns = 0;
  const app = document.querySelector("[data-testid='stApp']");
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__hmRuns += 1;
  }).observe(app, { attributes: true, attributeFilter: ['data-test-script-state'] });
}"""


def _wait_idle(pg: Any) -> None:
    pg.wait_for_timeout(300)
    pg.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    pg.wait_for_function("() => !document.querySelector(\"[data-testid='stSkeleton']\")")


def bench_channel_switch(pg: Any, repeats: int) -> dict[str, Any]:
    """Median time of a channel switch in the channel browser, and the reruns it caused.

    Opens the Heatmap page's channel view (224 px) on `pg`, switches channels `repeats` times
    (one per 120 ms, faster than the 400 ms pause that commits a channel), then waits for the
    one commit.
    """
    base = pg.url.split("?")[0].rsplit("/", 1)[0]
    pg.goto(f"{base}/heatmap?view=Channels&size=224&model=random")
    _wait_idle(pg)
    pg.locator(".st-key-heatmap_channels").get_by_text("Channel 0", exact=True).wait_for()
    pg.evaluate(RUNS)
    times, ok = [], True
    for i in range(max(5, repeats)):
        r = pg.evaluate(SWITCH, 10 + 37 * i)
        times.append(r["ms"])
        ok = ok and r["ok"]
        pg.wait_for_timeout(120)
    reruns = pg.evaluate("window.__hmRuns")
    pg.wait_for_timeout(1500)
    _wait_idle(pg)
    return {
        "ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "reruns": reruns,
        "commit_reruns_after_pause": pg.evaluate("window.__hmRuns") - reruns,
        "all_drawn": ok,
        "repeats": len(times),
    }


def browser_timings(repeats: int) -> dict[str, Any]:
    """`bench_channel_switch` against a `streamlit run` server of the app, in Debian's Chromium."""
    from playwright.sync_api import sync_playwright

    proc, url = serve(tempfile.mkdtemp(prefix="bench-heatmap-browser-"))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.set_default_timeout(180_000)
            pg.goto(url)
            _wait_idle(pg)
            result = bench_channel_switch(pg, repeats)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {f"channel_switch_{k}": v for k, v in result.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--arch", default="resnet34")
    p.add_argument("--size", type=int, default=352)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--no-apptest", action="store_true", help="skip the page rerun timing")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    p.add_argument("--no-methods", action="store_true", help="skip the CAM methods' timings")
    p.add_argument("--score-size", type=int, default=224, help="Score-CAM's input size")
    p.add_argument(
        "--score-trials", type=int, default=3, help="interleaved Score-CAM pairs (median ratio)"
    )
    p.add_argument("--pointing", metavar="CKPT", help="a shapes checkpoint: its pointing table")
    p.add_argument("--pointing-layer", default="0.5", help="the layer the pointing game hooks")
    p.add_argument("--per-class", type=int, default=5, help="fresh shapes per class")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"arch": args.arch, "size": args.size, "device": "cpu", "repeats": args.repeats}
    result["threads"] = torch.get_num_threads()
    result |= model_timings(args.arch, args.size, args.repeats)
    if not args.no_methods:
        result["methods"] = method_timings(
            args.arch, args.size, args.repeats, args.score_size, args.score_trials
        )
        result |= faithfulness_timing(args.arch, args.repeats)
    if args.pointing:
        result |= pointing_table(args.pointing, args.pointing_layer, args.per_class)
    if not args.no_apptest:
        result |= slider_timings(max(3, args.repeats // 2))
    if not args.no_browser and Path("/usr/bin/chromium").exists():
        result |= browser_timings(args.repeats)
    result["baseline"] = (
        "full-backward Grad-CAM (param grads on, backward to the input); torchcam 0.5.0's "
        "extractors for the same methods"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
