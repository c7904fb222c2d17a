"""Benchmark: a classroom on one server. N simulated sessions (Playwright contexts in one Chromium,
loopback only) each take a scripted tour against one `streamlit run app.py`: pick their own sample
photo in the sidebar, nudge the augmentation's max-rotate slider by their own number of steps,
hover the convolution stepper's output, switch the heatmap's layer. Then each goes back to the
Augmentation page and checks it still sees its own photo and rotate value (cross-talk).

Reports, per N: p50/p95 interaction latency (from the action to the end of the script run it
starts, polled on all sessions at once so they overlap on the server), server RSS (VmRSS of the
server and its children from /proc) before and after, errors (stException count) and cross-talk.
N = 1, 4, 8 by default (16 with --sixteen); one JSON line last.

Run: .venv/bin/python bench/classroom.py [--sessions 1 4] [--sixteen] [--budget-s 900]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from playwright_kit import ARGS, CHROMIUM, serve, wait_for_run

MAX_SESSIONS = 16
DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"
ROTATE = ".st-key-augment_max_rotate input[type='range']"
STEPPER = ".st-key-convolve_stepper canvas.cs-output"
LAYER = "m[0][5]: layer2 (stride 8)"


def rss_mb(pid: int) -> float:
    """VmRSS of `pid` and all its descendants, in MB."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def settle(pages: list[Page], started: list[float], timeout_s: float = 180) -> list[float]:
    """Seconds from each page's action until its script run ended, polling all pages together."""
    done: list[float | None] = [None] * len(pages)
    end = time.monotonic() + timeout_s
    while any(d is None for d in done) and time.monotonic() < end:
        for i, pg in enumerate(pages):
            if done[i] is None and time.monotonic() - started[i] > 0.3:
                if pg.locator(DONE).count():
                    done[i] = time.monotonic() - started[i]
        time.sleep(0.05)
    for pg in pages:
        wait_for_run(pg)  # and any rerun it queued, so the next step starts from a quiet page
    return [d if d is not None else timeout_s for d in done]


def step(pages: list[Page], action, latencies: list[float]) -> None:
    started = []
    for i, pg in enumerate(pages):
        started.append(time.monotonic())
        action(i, pg)
    latencies += settle(pages, started)


def open_page(pg: Page, title: str) -> None:
    pg.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()


def sample_names(pg: Page) -> list[str]:
    pg.locator(".st-key-sidebar_sample input[role='combobox']").click()
    names = [o.inner_text().strip() for o in pg.get_by_role("option").all()]
    pg.keyboard.press("Escape")
    return names


def pick_sample(pg: Page, name: str) -> None:
    pg.locator(".st-key-sidebar_sample input[role='combobox']").click()
    pg.get_by_role("option", name=name, exact=True).first.click()


def errors(pages: list[Page]) -> int:
    return sum(pg.locator("[data-testid='stException']").count() for pg in pages)


def tour(pages: list[Page], url: str) -> tuple[list[float], int, int, int]:
    """Every session's scripted tour; (latencies, errors, sessions that saw another's state,
    sessions whose own state was gone)."""
    lat: list[float] = []
    step(pages, lambda i, pg: pg.goto(url), lat)
    step(pages, lambda i, pg: open_page(pg, "Augmentation"), lat)
    names = sample_names(pages[0])
    mine = [names[i % len(names)] for i in range(len(pages))]
    step(pages, lambda i, pg: pick_sample(pg, mine[i]), lat)
    start = float(pages[0].locator(ROTATE).first.input_value())
    rotate = [start + i + 1 for i in range(len(pages))]  # session i presses i + 1 times

    def nudge(i: int, pg: Page) -> None:
        pg.locator(ROTATE).first.focus()
        for _ in range(i + 1):
            pg.keyboard.press("ArrowRight")

    step(pages, nudge, lat)
    moved = [float(pg.locator(ROTATE).first.input_value()) for pg in pages]
    bad = errors(pages)
    step(pages, lambda i, pg: open_page(pg, "Convolution"), lat)

    def hover(i: int, pg: Page) -> None:
        box = pg.locator(STEPPER).bounding_box()
        if box:
            pg.mouse.move(box["x"] + box["width"] * (0.2 + 0.05 * i % 0.6), box["y"] + 10)

    step(pages, hover, lat)
    bad += errors(pages)
    step(pages, lambda i, pg: open_page(pg, "Heatmap"), lat)

    def layer(i: int, pg: Page) -> None:
        pg.locator(".st-key-heatmap_layer input[role='combobox']").click()
        pg.get_by_role("option", name=LAYER, exact=True).first.click()

    step(pages, layer, lat)
    bad += errors(pages)
    step(pages, lambda i, pg: open_page(pg, "Augmentation"), lat)
    crossed = lost = 0
    for i, pg in enumerate(pages):
        sample = pg.locator(".st-key-sidebar_sample input[role='combobox']").input_value()
        value = float(pg.locator(ROTATE).first.input_value())
        if (sample, value) == (mine[i], rotate[i]):
            continue
        others = {(mine[j], rotate[j]) for j in range(len(pages)) if j != i}
        theirs = (sample != mine[i] and sample in {m for m, _ in others}) or value in {
            r for _, r in others
        }
        crossed += theirs  # another session's photo or rotate value
        lost += not theirs  # neither its own nor another's: its setting was dropped
        seen, want = (sample, value), (mine[i], rotate[i])
        print(f"session {i}: sees {seen}, set {want} (just after: {moved[i]})", file=sys.stderr)
    return lat, bad + errors(pages), crossed, lost


def one_class(n: int, pw) -> dict:
    home = tempfile.mkdtemp(prefix="classroom-")
    proc, url = serve(home)
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        rss0 = rss_mb(proc.pid)  # the idle server (torch and the models not loaded yet)
        pages = [browser.new_context(viewport={"width": 1280, "height": 900}).new_page()]
        pages += [
            browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            for _ in range(n - 1)
        ]
        t0 = time.monotonic()
        lat, bad, crossed, lost = tour(pages, url)
        rss1 = rss_mb(proc.pid)
        lat.sort()
        return {
            "sessions": n,
            "interactions": len(lat),
            "p50_s": round(statistics.median(lat), 3),
            "p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3),
            "errors": bad,
            "cross_talk": crossed,
            "state_lost": lost,
            "rss_start_mb": rss0,
            "rss_end_mb": rss1,
            "rss_growth_mb": round(rss1 - rss0, 1),
            "wall_s": round(time.monotonic() - t0, 1),
        }
    finally:
        browser.close()
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--sixteen", action="store_true", help="also N = 16")
    p.add_argument("--budget-s", type=float, default=900, help="start no new N after this")
    args = p.parse_args()
    counts = args.sessions + ([16] if args.sixteen else [])
    if any(not 1 <= n <= MAX_SESSIONS for n in counts):
        p.error(f"sessions must be between 1 and {MAX_SESSIONS}")
    results, t0 = [], time.monotonic()
    with sync_playwright() as pw:
        for n in counts:
            if time.monotonic() - t0 > args.budget_s:
                print(f"budget spent: N = {n} not run", file=sys.stderr)
                break
            results.append(one_class(n, pw))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"bench": "classroom", "results": results}))


if __name__ == "__main__":
    main()
