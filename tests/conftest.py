"""Shared fixtures: an AppTest factory with clean caches, repo paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


@pytest.fixture
def app_test(monkeypatch, tmp_path):
    """Return make(page=None, timeout=60) -> AppTest already run (and switched to `page`).

    Caches are cleared so tests do not see each other's models or images. Checkpoints and runs go to
    a temporary folder (EXPLORER_HOME) so tests never touch the user's weights/ or runs/.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    st.cache_data.clear()
    st.cache_resource.clear()

    def make(page: str | None = None, timeout: float = 60) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        at.run()
        if page:
            at.switch_page(f"app_pages/{page}.py")
            at.run()
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()
