"""What the browser benchmarks share: `streamlit run` on a free port, Debian's Chromium, and a
wait for the end of a script run (bench scripts import this from their own folder).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: str | Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port with its own EXPLORER_HOME; returns (process, url)."""
    port = free_port()
    env = dict(os.environ, EXPLORER_HOME=str(home), STREAMLIT_SERVER_HEADLESS="true")
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    cmd += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("streamlit did not start within 60 s")


def wait_for_run(pg, timeout_ms: int = 180_000) -> None:
    """Until the script run (and any it queued) has ended and no skeleton is left."""
    done = "[data-testid='stApp'][data-test-script-state='notRunning']"
    for _ in range(2):
        pg.wait_for_timeout(300)
        pg.wait_for_selector(done, timeout=timeout_ms)
    pg.wait_for_function(
        "() => document.querySelectorAll(\"[data-testid='stSkeleton']\").length === 0",
        timeout=timeout_ms,
    )
