"""procs.pid_alive: live, dead, zombie and reused-pid processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from explorer import procs


def test_own_process_is_alive_and_ticks_match():
    me = os.getpid()
    assert procs.pid_alive(me)
    ticks = procs.start_ticks(me)
    assert ticks is not None and procs.pid_alive(me, ticks)
    assert not procs.pid_alive(me, ticks + 1)  # same pid, different start: a reused pid


def test_no_pid_and_dead_pid():
    assert not procs.pid_alive(None)
    assert not procs.pid_alive(0)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # reaped: the pid no longer exists
    assert not procs.pid_alive(p.pid)


def test_finished_unreaped_child_is_not_alive():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a zombie until someone waits for it
        if not procs.pid_alive(p.pid):
            break
        time.sleep(0.05)
    assert not procs.pid_alive(p.pid)


def test_running_child_is_alive():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert procs.pid_alive(p.pid, procs.start_ticks(p.pid))
    finally:
        p.kill()
        p.wait()
