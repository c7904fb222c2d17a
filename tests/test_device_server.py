"""The app server never initialises CUDA (issue 14): the shared sidebar's device label and the
Heatmap page run with every in-process torch.cuda query made to fail, and the GPU count comes
from one child process however many sessions ask at once."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch

from explorer import device, models, procs

CUDA_QUERIES = (
    "is_available",
    "device_count",
    "get_device_name",
    "get_device_properties",
    "init",
    "_lazy_init",
    "current_device",
    "set_device",
)


def _touched(name: str):
    # One function per name: torch._dynamo, if first imported under the patch, maps torch
    # functions to rules and refuses one object under two names.
    def touched(*_args, **_kwargs):
        raise AssertionError(f"the server process called torch.cuda.{name}")

    return touched


@pytest.fixture
def no_cuda(monkeypatch):
    """Every torch.cuda query in this process raises (a child process is not affected)."""
    import torch._dynamo  # noqa: F401  (imported by torchvision; before the patch, not under it)

    for name in CUDA_QUERIES:
        monkeypatch.setattr(torch.cuda, name, _touched(name))
    clear = (procs.gpu_names, procs._child_gpu_names, procs.gpu_count)
    for f in clear:
        f.cache_clear()
    yield
    for f in clear:
        f.cache_clear()


def _child_gpu_count() -> int:
    # The oracle: torch asked in a fresh interpreter, as a person would on this machine.
    code = "import torch; print(torch.cuda.device_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def test_device_label_asks_a_child_not_this_process(no_cuda):
    n = _child_gpu_count()
    label = device.device_label()
    assert procs.gpu_count() == n == len(procs.gpu_names())
    if n == 0:
        assert label == "CPU (no GPU found)"
    else:
        assert label.endswith("(CUDA, for training jobs)") and procs.gpu_names()[0] in label
    assert device.server_device() == torch.device("cpu")


def test_device_label_names_the_gpus(monkeypatch):
    monkeypatch.setattr(procs, "gpu_names", lambda: ("NVIDIA H200",))
    assert device.device_label() == "NVIDIA H200 (CUDA, for training jobs)"
    monkeypatch.setattr(procs, "gpu_names", lambda: ("NVIDIA H200", "NVIDIA H200"))
    assert device.device_label() == "2 × NVIDIA H200 (CUDA, for training jobs)"
    monkeypatch.setattr(procs, "gpu_names", lambda: ())
    assert device.device_label() == "CPU (no GPU found)"


def test_sessions_asking_at_once_start_one_child(no_cuda, monkeypatch):
    calls = []
    real = subprocess.run

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(procs.subprocess, "run", counted)
    answers: list[tuple[str, ...]] = []
    threads = [threading.Thread(target=lambda: answers.append(procs.gpu_names())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(calls) == 1  # eight first runs, one child
    assert len(answers) == 8 and len(set(answers)) == 1
    assert len(answers[0]) == _child_gpu_count()


def test_a_failing_child_means_no_gpu(no_cuda, monkeypatch):
    def broken(*_args, **_kwargs):
        raise subprocess.TimeoutExpired("python", 120)

    monkeypatch.setattr(procs.subprocess, "run", broken)
    assert procs.gpu_names() == () and procs.gpu_count() == 0
    assert device.device_label() == "CPU (no GPU found)"


def _sidebar_and_heatmap(page: str) -> None:
    import runpy

    import streamlit as st

    import ui

    ui.image_sidebar()
    st.session_state["heatmap_faith"] = True  # the faithfulness panel too: 22 more passes
    runpy.run_path(page)


def test_sidebar_and_heatmap_page_never_touch_cuda(no_cuda, monkeypatch, tmp_path):
    """The shared sidebar, then the Heatmap page (its model, a forward and backward pass and the
    faithfulness panel), with torch.cuda failing on any query in this process."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))  # no checkpoints: the random model
    st.cache_data.clear()
    st.cache_resource.clear()
    real = models.create_cnn
    # A resnet18 for the page's resnet34: the same layer names, half the work.
    monkeypatch.setattr(models, "create_cnn", lambda arch, n, **kw: real("resnet18", n, **kw))
    page = str(ROOT / "app_pages" / "heatmap.py")
    try:
        at = AppTest.from_function(_sidebar_and_heatmap, args=(page,), default_timeout=180).run()
        assert not at.exception, [e.value for e in at.exception]
        labels = [m.value for m in at.sidebar.markdown if m.value.startswith("**Device:**")]
        assert labels == [f"**Device:** {device.device_label()}"]
        assert any(m.label == "Deletion area" for m in at.metric)  # the page ran to its panel
    finally:  # the resnet18 stand-in must not stay cached as the page's model
        st.cache_data.clear()
        st.cache_resource.clear()


def test_home_pages_install_status_never_touches_cuda(no_cuda) -> None:
    # Home's table of what this installation has: its GPU answer is the child's.
    from explorer import procs
    from explorer.status import install_status

    s = install_status()
    assert s.cuda == (procs.gpu_count() > 0) and s.device == device.device_label()
