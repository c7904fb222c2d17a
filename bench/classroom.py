"""Benchmark: a classroom on one server. N simulated sessions (Playwright contexts in one Chromium,
loopback only) each take a scripted tour against one `streamlit run app.py`: pick their own sample
photo in the sidebar, nudge the augmentation's max-rotate slider by their own number of steps,
hover the convolution stepper's output and click a cell, switch the heatmap's layer. Then each
goes back to the Augmentation page and checks it still sees its own photo and rotate value
(cross-talk).

First one session tours the fresh server alone (the warm-up: torch, the models and the first
results load; not timed, not counted; its own latencies are reported as `warmup_by_kind`), then the
N sessions tour it together. Reports, per N: p50/p95/max interaction latency, over all and per
kind of interaction (every session acts at once, so they overlap on the server; timed from the
action to the `script_finished` message of the run it starts, as the page receives it; the
stepper hover, which reruns nothing, until the browser shows the cell under the pointer), server
RSS (VmRSS of the server and its children, from /proc) idle, after the warm-up and at the end,
the server's CPU seconds per kind of interaction (all sessions together: a step that took long
while the server used little waited for the browsers, which share these cores), errors
(stException count) and cross-talk.
`rss_growth_mb` is what the N sessions add to the warmed server (the target); from the idle server
it is `rss_growth_from_idle_mb`. N = 1, 4, 8 by default (16 with --sixteen); one JSON line last.

With `--clients ws` each session is instead a Python client speaking Streamlit's own websocket
protocol (bench/streamlit_ws.py: BackMsg reruns with the page's script hash and widget states,
timed from sending to `script_finished`), all in this process: in the browser mode the Chromium
tabs used ~10× the server's CPU on the same 2 cores, so the latency measured was mostly theirs.
These clients draw nothing, fetch no media and skip the stepper hover (a browser-only step); the
rest of the tour, the checks and the fields are the same ("clients": "ws", `client_cpu_s`).

Run: .venv/bin/python bench/classroom.py [--sessions 1 8] [--sixteen] [--cold] [--budget-s 900]
        [--clients browser|ws]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright_kit import ARGS, CHROMIUM, serve, wait_for_run
from streamlit_ws import RUN_TIMEOUT_S, Session

MAX_SESSIONS = 16
ROTATE = ".st-key-augment_max_rotate input[type='range']"
STEPPER = ".st-key-convolve_stepper canvas.cs-output"
LAYER = "m[0][5]: layer2 (stride 8)"
POSITION = ".st-key-convolve_stepper .cs-pos"
HOVER_TIMEOUT_S = 30
WS_TOUR_TIMEOUT_S = 600  # a protocol tour that has not ended by then fails the bench


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc)."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def rss_mb(pid: int) -> float:
    """VmRSS of `pid` and all its descendants, in MB."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system, with reaped children's) the processes have used so far."""
    ticks = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(v) for v in f[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_split(server: int) -> tuple[float, float]:
    """(CPU seconds of the server, of everything else this bench started: Chromium, Playwright)."""
    ours = set(tree(server))
    return cpu_s(list(ours)), cpu_s([p for p in tree(os.getpid()) if p not in ours])


# Installed in every page before the app's own scripts: the app's WebSocket is watched, and the
# first ForwardMsg carrying `script_finished` (field 6) after the page was armed notes, in the
# page's own clock, how long the run took to come back. Arming at load time (0 = navigation
# start) times the first load. Nothing polls the pages while they run (polling 8 pages every 50 ms
# took ~10 of the browsers' ~110 CPU-s in an 8-session tour, on the cores the server needs), and
# the app's script-state attribute is no end signal: a quick run can start and end between two
# renders, leaving it unchanged, so the old poll saw its 0.3 s floor instead.
SCRIPT_FINISHED = 6  # ForwardMsg.script_finished (streamlit/proto/ForwardMsg.proto)
FINISHED_EARLY_FOR_RERUN = 2  # ForwardMsg.ScriptFinishedStatus
WATCH = """(() => {
  // The top-level fields of a ForwardMsg: [number, value] (value only for varints).
  const fields = (buf) => {
    const b = new Uint8Array(buf), out = [];
    let i = 0;
    const varint = () => {
      let x = 0, s = 1, c;
      do { c = b[i++]; x += (c & 0x7f) * s; s *= 128; } while (c & 0x80 && i < b.length);
      return x;
    };
    while (i < b.length) {
      const tag = varint(), wire = tag % 8;
      let value = null;
      if (wire === 0) value = varint();
      else if (wire === 1) i += 8;
      else if (wire === 2) { const n = varint(); i += n; }
      else if (wire === 5) i += 4;
      else break;
      out.push([Math.floor(tag / 8), value]);
    }
    return out;
  };
  // A run that ends early for a rerun (status 2) is not the end: the rerun's own end is.
  const finished = (buf) =>
    fields(buf).some(([n, v]) => n === SCRIPT_FINISHED && v !== FINISHED_EARLY_FOR_RERUN);
  window.__armedAt = 0;
  window.__classroomDone = null;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        if (window.__classroomDone !== null || !(ev.data instanceof ArrayBuffer)) return;
        if (finished(ev.data)) {
          window.__classroomDone = (performance.now() - window.__armedAt) / 1000;
        }
      });
    }
  };
})();""".replace("SCRIPT_FINISHED", str(SCRIPT_FINISHED)).replace(
    "FINISHED_EARLY_FOR_RERUN", str(FINISHED_EARLY_FOR_RERUN)
)
ARM = "() => { window.__armedAt = performance.now(); window.__classroomDone = null; }"
READ = "() => window.__classroomDone"


def settle(pages: list[Page], timeout_s: float = 180) -> list[float]:
    """Each page's seconds from its armed action to the end of the run it started."""
    out = []
    end = time.monotonic() + timeout_s
    for pg in pages:
        try:
            left_ms = max(1.0, (end - time.monotonic()) * 1000)
            pg.wait_for_function(f"() => ({READ})() !== null", polling=200, timeout=left_ms)
            out.append(float(pg.evaluate(READ)))
        except PlaywrightTimeout:
            out.append(timeout_s)  # no run came back: counted as the whole time allowed
    for pg in pages:
        wait_for_run(pg)  # and any rerun it queued, so the next step starts from a quiet page
    return out


Latencies = list[tuple[str, float]]  # (interaction kind, seconds)


class ServerMeter:
    """CPU seconds the server spends per kind of interaction (a step's runs, all sessions)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.by_kind: dict[str, float] = {}

    def now(self) -> float:
        return cpu_s(tree(self.pid))


METER: list[ServerMeter] = []  # the server of the class running now


def step(pages: list[Page], kind: str, action, latencies: Latencies) -> None:
    """Every session does `action` at once; each one's time to the end of the run it started."""
    before = METER[0].now() if METER else 0.0
    for i, pg in enumerate(pages):
        pg.evaluate(ARM)
        action(i, pg)
    latencies += [(kind, t) for t in settle(pages)]
    if METER:
        m = METER[0]
        m.by_kind[kind] = round(m.by_kind.get(kind, 0.0) + m.now() - before, 2)


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


def hover(pages: list[Page], latencies: Latencies) -> None:
    """The stepper follows the pointer in the browser (no rerun): time until its position label
    shows the cell under the pointer, one session after another."""
    for i, pg in enumerate(pages):
        pg.locator(STEPPER).scroll_into_view_if_needed()  # a pointer off the viewport moves nothing
        box = pg.locator(STEPPER).bounding_box()
        if not box:
            latencies.append(("stepper hover", HOVER_TIMEOUT_S))
            continue
        label = pg.locator(POSITION)
        before = label.inner_text()
        t0 = time.monotonic()
        pg.mouse.move(box["x"] + box["width"] * (0.3 + 0.05 * i), box["y"] + box["height"] * 0.6)
        # The label lives in the component's shadow DOM: poll it through Playwright's locator.
        while label.inner_text() == before and time.monotonic() - t0 < HOVER_TIMEOUT_S:
            time.sleep(0.005)
        latencies.append(("stepper hover", min(time.monotonic() - t0, HOVER_TIMEOUT_S)))


def click_stepper(i: int, pg: Page) -> None:
    """Commit a cell (a fragment rerun on the server), each session its own one."""
    pg.locator(STEPPER).scroll_into_view_if_needed()
    box = pg.locator(STEPPER).bounding_box()
    if box:
        pg.mouse.click(box["x"] + box["width"] * (0.2 + 0.07 * i), box["y"] + box["height"] * 0.4)


def tour(pages: list[Page], url: str) -> tuple[Latencies, int, int, int]:
    """Every session's scripted tour; (kind-tagged latencies, errors, sessions that saw another's
    state, sessions whose own state was gone)."""
    lat: Latencies = []
    # A new document: the page times it from the navigation's start (WATCH arms it at 0).
    step(pages, "first load", lambda i, pg: pg.goto(url, wait_until="commit"), lat)
    step(pages, "open Augmentation", lambda i, pg: open_page(pg, "Augmentation"), lat)
    names = sample_names(pages[0])
    # Never the first (the default): picking it again starts no run. Sessions share photos.
    mine = [names[1 + i % (len(names) - 1)] for i in range(len(pages))]
    step(pages, "pick photo", lambda i, pg: pick_sample(pg, mine[i]), lat)
    start = float(pages[0].locator(ROTATE).first.input_value())
    rotate = [start + i + 1 for i in range(len(pages))]  # session i presses i + 1 times

    def nudge(i: int, pg: Page) -> None:
        pg.locator(ROTATE).first.focus()
        for _ in range(i + 1):
            pg.keyboard.press("ArrowRight")

    step(pages, "augmentation slider", nudge, lat)
    moved = [float(pg.locator(ROTATE).first.input_value()) for pg in pages]
    bad = errors(pages)
    step(pages, "open Convolution", lambda i, pg: open_page(pg, "Convolution"), lat)
    hover(pages, lat)
    step(pages, "stepper click", click_stepper, lat)
    bad += errors(pages)
    step(pages, "open Heatmap", lambda i, pg: open_page(pg, "Heatmap"), lat)

    def layer(i: int, pg: Page) -> None:
        pg.locator(".st-key-heatmap_layer input[role='combobox']").click()
        pg.get_by_role("option", name=LAYER, exact=True).first.click()

    step(pages, "heatmap layer", layer, lat)
    bad += errors(pages)
    step(pages, "back to Augmentation", lambda i, pg: open_page(pg, "Augmentation"), lat)
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


def quantiles(values: list[float]) -> dict[str, float]:
    """p50, p95 (nearest rank) and max of some latencies, in seconds."""
    v = sorted(values)
    p95 = v[min(len(v) - 1, math.ceil(0.95 * len(v)) - 1)]
    return {
        "p50_s": round(statistics.median(v), 3),
        "p95_s": round(p95, 3),
        "max_s": round(v[-1], 3),
    }


def report(
    n: int, lat: Latencies, bad: int, crossed: int, lost: int, warm: bool, rss: tuple, t0: float
) -> dict:
    """The fields both kinds of client report; `rss`: (idle, warmed, end) MB, `t0`: the timed
    tour's start (monotonic)."""
    rss0, rss_warm, rss1 = rss
    kinds: dict[str, list[float]] = {}
    for kind, t in lat:
        kinds.setdefault(kind, []).append(t)
    return {
        "sessions": n,
        "interactions": len(lat),
        **quantiles([t for _, t in lat]),
        "errors": bad,
        "cross_talk": crossed,
        "state_lost": lost,
        "warmed": warm,
        "rss_idle_mb": rss0,
        "rss_warm_mb": rss_warm,
        "rss_end_mb": rss1,
        "rss_growth_mb": round(rss1 - rss_warm, 1),  # the target: what the sessions add
        "rss_growth_from_idle_mb": round(rss1 - rss0, 1),
        "wall_s": round(time.monotonic() - t0, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "by_kind": {k: quantiles(v) for k, v in kinds.items()},
    }


def new_page(browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(WATCH)
    return context.new_page()


def one_class(n: int, pw, warm: bool = True) -> dict:
    """One server, N sessions touring it at once. With `warm`, one session first tours it alone
    (not timed, not counted), so the growth measured is what the N sessions add, not torch and
    the first models loading; the growth from the idle server is reported too."""
    home = tempfile.mkdtemp(prefix="classroom-")
    proc, url = serve(home)
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        rss0 = rss_mb(proc.pid)  # the idle server (torch and the models not loaded yet)
        warm_lat: Latencies = []
        if warm:
            first = new_page(browser)
            warm_lat = tour([first], url)[0]
            first.context.close()
        rss_warm = rss_mb(proc.pid)
        pages = [new_page(browser) for _ in range(n)]
        t0, (server0, browser0) = time.monotonic(), cpu_split(proc.pid)
        METER[:] = [ServerMeter(proc.pid)]
        lat, bad, crossed, lost = tour(pages, url)
        server_by_kind, METER[:] = METER[0].by_kind, []
        rss1, (server1, browser1) = rss_mb(proc.pid), cpu_split(proc.pid)
        out = report(n, lat, bad, crossed, lost, warm, (rss0, rss_warm, rss1), t0)
        out["clients"] = "browser"
        # Where the 2 cores went during the timed tour (the rest: other processes).
        out["server_cpu_s"] = round(server1 - server0, 1)
        out["browser_cpu_s"] = round(browser1 - browser0, 1)
        # The server's CPU seconds per kind, over all sessions: next to by_kind it says
        # whether a step waited for the server or for the browsers on the same cores.
        out["server_cpu_by_kind"] = server_by_kind
        out["warmup_by_kind"] = {k: round(t, 3) for k, t in warm_lat}
        return out
    finally:
        browser.close()
        proc.terminate()
        proc.wait(timeout=30)


# --clients ws: each session is a Python client speaking Streamlit's websocket protocol
# (bench/streamlit_ws.py), all in this one process, so the cores go to the server. It draws
# nothing and fetches no media, and the stepper hover (browser-only, no rerun) is not toured.
async def ws_step(sessions: list[Session], kind: str, action, latencies: Latencies) -> None:
    """Every session does `action` at once; each one's time from sending to its run's end."""
    before = METER[0].now() if METER else 0.0

    async def one(i: int, s: Session) -> float:
        try:
            return await action(i, s)
        except TimeoutError:
            return float(RUN_TIMEOUT_S)  # no run came back: counted as the whole time allowed

    times = await asyncio.gather(*(one(i, s) for i, s in enumerate(sessions)))
    latencies += [(kind, t) for t in times]
    if METER:
        m = METER[0]
        m.by_kind[kind] = round(m.by_kind.get(kind, 0.0) + m.now() - before, 2)


async def ws_tour(url: str, n: int) -> tuple[Latencies, int, int, int]:
    """The browser tour's steps, over the protocol; (latencies, errors, cross-talk, lost)."""
    lat: Latencies = []
    sessions: list[Session] = []

    async def load(i: int, s: Session) -> float:
        t0 = time.monotonic()  # a new session: connecting is part of its first load
        sessions[i] = await Session.open(url)
        await sessions[i].load()
        return time.monotonic() - t0

    sessions = [None] * n  # type: ignore[list-item]
    try:
        await ws_step(sessions, "first load", load, lat)
        await ws_step(sessions, "open Augmentation", lambda i, s: s.open_page("augment"), lat)
        names = list(sessions[0].widget("sidebar_sample").proto.options)
        mine = [names[1 + i % (len(names) - 1)] for i in range(n)]  # never the default
        pick = lambda i, s: s.set_selectbox("sidebar_sample", mine[i])  # noqa: E731
        await ws_step(sessions, "pick photo", pick, lat)
        start = float(sessions[0].value("augment_max_rotate"))
        rotate = [start + i + 1 for i in range(n)]  # session i: i + 1 steps of 1°
        nudge = lambda i, s: s.set_slider("augment_max_rotate", rotate[i])  # noqa: E731
        await ws_step(sessions, "augmentation slider", nudge, lat)
        moved = [float(s.value("augment_max_rotate")) for s in sessions]
        await ws_step(sessions, "open Convolution", lambda i, s: s.open_page("convolve"), lat)

        def click(i: int, s: Session):
            cell = {"row": 1 + i % 4, "col": 2 + i % 5}  # each session its own cell
            return s.trigger("convolve_stepper", "commit", cell)

        await ws_step(sessions, "stepper click", click, lat)
        await ws_step(sessions, "open Heatmap", lambda i, s: s.open_page("heatmap"), lat)
        layer = lambda i, s: s.set_selectbox("heatmap_layer", LAYER)  # noqa: E731
        await ws_step(sessions, "heatmap layer", layer, lat)
        await ws_step(sessions, "back to Augmentation", lambda i, s: s.open_page("augment"), lat)
        crossed = lost = 0
        for i, s in enumerate(sessions):
            # What the server drew: the slider is new on this page, so its value is the
            # server's; the sidebar's box shows what this session sent, so the photo is read
            # from the caption the server wrote under it ("<name> · <w>×<h>").
            photo = (s.sidebar_captions or ["(no caption)"])[0].split(" · ")[0]
            seen = (photo, float(s.value("augment_max_rotate")))
            if seen == (mine[i], rotate[i]):
                continue
            others = {(mine[j], rotate[j]) for j in range(n) if j != i}
            theirs = (photo != mine[i] and photo in {m for m, _ in others}) or seen[1] in {
                r for _, r in others
            }
            crossed += theirs
            lost += not theirs
            want = (mine[i], rotate[i])
            print(f"session {i}: sees {seen}, set {want} (just after: {moved[i]})", file=sys.stderr)
        return lat, sum(s.errors for s in sessions), crossed, lost
    finally:
        for s in sessions:
            if s is not None:
                await s.close()


def ws_class(n: int, warm: bool = True) -> dict:
    """One server, N protocol clients touring it at once (see `one_class`)."""
    home = tempfile.mkdtemp(prefix="classroom-")
    proc, url = serve(home)
    try:
        rss0 = rss_mb(proc.pid)
        warm_lat = asyncio.run(ws_tour(url, 1))[0] if warm else []
        rss_warm = rss_mb(proc.pid)
        t0, (server0, client0) = time.monotonic(), cpu_split(proc.pid)
        METER[:] = [ServerMeter(proc.pid)]
        lat, bad, crossed, lost = asyncio.run(asyncio.wait_for(ws_tour(url, n), WS_TOUR_TIMEOUT_S))
        server_by_kind, METER[:] = METER[0].by_kind, []
        rss1, (server1, client1) = rss_mb(proc.pid), cpu_split(proc.pid)
        out = report(n, lat, bad, crossed, lost, warm, (rss0, rss_warm, rss1), t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out["clients"] = "ws"
    out["server_cpu_s"] = round(server1 - server0, 1)
    out["client_cpu_s"] = round(client1 - client0, 1)
    out["server_cpu_by_kind"] = server_by_kind
    out["warmup_by_kind"] = {k: round(t, 3) for k, t in warm_lat}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--sixteen", action="store_true", help="also N = 16")
    p.add_argument("--budget-s", type=float, default=900, help="start no new N after this")
    p.add_argument(
        "--cold", action="store_true", help="no warm-up tour: time the server's very first runs"
    )
    p.add_argument(
        "--clients",
        choices=["browser", "ws"],
        default="browser",
        help="browser: Playwright contexts in one Chromium; ws: Python clients speaking "
        "Streamlit's websocket protocol (the cores go to the server)",
    )
    args = p.parse_args()
    counts = args.sessions + ([16] if args.sixteen else [])
    if any(not 1 <= n <= MAX_SESSIONS for n in counts):
        p.error(f"sessions must be between 1 and {MAX_SESSIONS}")
    results, t0 = [], time.monotonic()
    # Playwright's driver only for browsers: in ws mode this process is the only client.
    with sync_playwright() if args.clients == "browser" else contextlib.nullcontext() as pw:
        for n in counts:
            if time.monotonic() - t0 > args.budget_s:
                print(f"budget spent: N = {n} not run", file=sys.stderr)
                break
            if args.clients == "ws":
                results.append(ws_class(n, warm=not args.cold))
            else:
                results.append(one_class(n, pw, warm=not args.cold))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"bench": "classroom", "results": results}))


if __name__ == "__main__":
    main()
