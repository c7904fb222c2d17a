"""Benchmark: Grad-CAM cost against a plain forward and against the usual full-backward Grad-CAM.

Also times the Heatmap page's channel-slider rerun under AppTest (cached tensors, no model run)
against a rerun that must run the model again (a new class). Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import heatmap as hm  # noqa: E402
from explorer import models  # noqa: E402


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
    at.session_state["heatmap_tab"] = "Channels"  # only the open tab is drawn
    at.run()
    if at.exception:
        raise RuntimeError(f"The heatmap page failed: {at.exception[0].value}")
    slide, recompute = [], []
    for i in range(repeats):
        slide.append(timed(lambda i=i: at.slider(key="heatmap_channel").set_value(10 + i).run()))
        # A class not computed yet: the model must run again (the cost the slider avoids).
        recompute.append(timed(lambda i=i: at.selectbox(key="heatmap_class").set_value(i).run()))
    if at.exception:
        raise RuntimeError(f"The heatmap page failed: {at.exception[0].value}")
    return {
        "slider_rerun_ms": round(statistics.median(slide) * 1e3, 1),
        "recompute_rerun_ms": round(statistics.median(recompute) * 1e3, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--arch", default="resnet34")
    p.add_argument("--size", type=int, default=352)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--no-apptest", action="store_true", help="skip the page rerun timing")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"arch": args.arch, "size": args.size, "device": "cpu", "repeats": args.repeats}
    result["threads"] = torch.get_num_threads()
    result |= model_timings(args.arch, args.size, args.repeats)
    if not args.no_apptest:
        result |= slider_timings(max(3, args.repeats // 2))
    result["baseline"] = "full-backward Grad-CAM (param grads on, backward to the input)"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
