"""AppTest of the shell: every page runs, the sidebar image source works, bad uploads explained."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

PAGES = ["home", "augment", "convolve", "train", "heatmap"]
APP = Path(__file__).resolve().parents[1] / "app.py"


def _png(color=(0, 128, 255), size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs(app_test, page):
    at = app_test(page)
    assert not at.exception, [e.value for e in at.exception]
    # On the defaults (sample photo, nothing downloaded) no step may fail: an st.error here is a
    # bug shown as a sentence.
    assert not at.error, [e.value for e in at.error]
    assert at.title, f"{page} has no title"


def test_navigation_and_home_cards_share_one_table():
    from explorer import overview

    keys = [c.key for c in (overview.HOME, *overview.PAGES)]
    assert keys == ["", *PAGES[1:]]
    for card in (overview.HOME, *overview.PAGES):
        assert (APP.parent / card.path).is_file(), card.path


def test_a_bug_in_a_step_is_not_shown_as_a_user_error():
    """ui.user_errors shows UserError (and out of memory) as a sentence; a bug propagates."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        import ui
        from explorer.errors import UserError

        which = st.session_state.get("which", "user")
        with ui.user_errors("The step"):
            if which == "user":
                raise UserError("The file is empty.")
            if which == "oom":
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            if which == "bug":
                raise KeyError("layer")
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    def run(which):
        at = AppTest.from_function(script, default_timeout=30)
        at.session_state["which"] = which
        return at.run()

    at = run("user")
    assert [e.value for e in at.error] == [
        "The step failed: The file is empty."
    ] and not at.exception
    at = run("oom")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The step failed: ran out of memory. Try a smaller image, size or batch."
    ]
    for which in ("bug", "runtime"):
        at = run(which)
        assert at.exception and not at.error, which


def test_home_shows_cards_and_install_state(app_test):
    at = app_test()
    assert at.title[0].value == "CNN Explorer"
    table = at.table[0].value
    states = dict(zip(table.iloc[:, 0], table.iloc[:, 1], strict=True))
    assert "not downloaded" in states["Oxford-IIIT Pet dataset"]  # EXPLORER_HOME is empty
    assert states["Checkpoints in weights/"].startswith("none yet")
    assert "CPU" in states["Device"] or "CUDA" in states["Device"]


def test_sidebar_defaults_to_chelsea(app_test):
    at = app_test()
    assert at.selectbox(key="sidebar_sample").value == "chelsea"
    name, img = at.session_state["sidebar_image"]
    assert name == "chelsea" and img.size == (451, 300)


# Streamlit 1.67's AppTest executes a multipage app's entry point only on the first run; later runs
# execute just the page (the real server runs both: the browser tests click the sidebar). Sidebar
# interactions are therefore tested on `ui.image_sidebar` itself, in a one-page script that shows
# what the page would receive.


def _sidebar_script():
    import streamlit as st

    import ui

    ui.image_sidebar()
    name, img = ui.current_image()
    st.write(f"page got {name} {img.width}x{img.height}")


def _sidebar_app(app_test):
    from streamlit.testing.v1 import AppTest

    app_test()  # clears caches, sets EXPLORER_HOME
    return AppTest.from_function(_sidebar_script, default_timeout=60).run()


def _app_with(app_test, **state):
    from streamlit.testing.v1 import AppTest

    from .conftest import APP

    app_test()
    at = AppTest.from_file(str(APP), default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def test_sample_choice_carries_across_pages(app_test):
    at = _app_with(app_test, sidebar_sample="coffee")
    assert at.session_state["sidebar_image"][0] == "coffee"
    at.switch_page("app_pages/convolve.py").run()
    assert not at.exception
    assert at.session_state["sidebar_image"][0] == "coffee"


def test_sidebar_sample_choice(app_test):
    at = _sidebar_app(app_test)
    assert at.main.markdown[-1].value == "page got chelsea 451x300"
    at.selectbox(key="sidebar_sample").set_value("coffee").run()
    assert at.main.markdown[-1].value == "page got coffee 600x400"


def test_good_upload_becomes_the_image(app_test):
    at = _sidebar_app(app_test)
    at.radio(key="sidebar_source").set_value("Upload").run()
    at.file_uploader(key="sidebar_upload").upload("blue.png", _png(), "image/png")
    at.run()
    assert not at.exception
    assert at.main.markdown[-1].value == "page got blue.png 40x30"
    name, img = at.session_state["sidebar_image"]
    assert img.getpixel((3, 3)) == (0, 128, 255)


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("broken.jpg", _png()[:60], "damaged or truncated"),
        ("notes.png", b"hello, I am text", "not an image we can read"),
        ("empty.png", b"", "The file is empty."),
    ],
)
def test_bad_upload_shows_an_error_not_an_exception(app_test, filename, content, message):
    at = _sidebar_app(app_test)
    at.radio(key="sidebar_source").set_value("Upload").run()
    at.file_uploader(key="sidebar_upload").upload(filename, content, "image/png")
    at.run()
    assert not at.exception
    errors = [e.value for e in at.main.error]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"**{filename}** cannot be used: ") and message in errors[0]
    assert errors[0].endswith("Showing a sample image instead.")
    # The page keeps working on the sample image.
    assert at.main.markdown[-1].value == "page got chelsea 451x300"


def test_pet_source_without_dataset_says_so(app_test):
    at = _sidebar_app(app_test)
    at.radio(key="sidebar_source").set_value("Pet dataset").run()
    assert not at.exception
    assert any("not on disk" in c.value for c in at.caption)
    assert at.main.markdown[-1].value == "page got chelsea 451x300"


def test_app_thread_count(monkeypatch):
    from explorer.device import app_threads

    monkeypatch.setenv("EXPLORER_TORCH_THREADS", "3")
    assert app_threads() == 3
    monkeypatch.setenv("EXPLORER_TORCH_THREADS", "zero")
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert app_threads() == 8
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert app_threads() == 1
