"""AppTest of the training page: setup widgets, a real tiny shapes job started, watched, finished;
settings read from and written to the URL."""

from __future__ import annotations

import time

import torch

from explorer import jobs


def texts(at) -> str:
    kinds = ("markdown", "caption", "success", "info", "warning", "error")
    parts = [e.value for kind in kinds for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_setup_follows_the_recipe(app_test) -> None:
    at = app_test("train")
    assert not at.exception
    assert at.selectbox(key="train_recipe").value == (
        "lesson" if torch.cuda.is_available() else "quick"
    )
    at.selectbox(key="train_recipe").set_value("lesson").run()
    assert not at.exception
    assert at.radio(key="train_data").value == "pets"
    assert at.selectbox(key="train_arch").value == "resnet34"
    assert at.number_input(key="train_batch_size").value == 64
    # Offline and in a fresh home, the Pet dataset is missing: a download button, no Start.
    assert at.button(key="train_pet_download")
    assert at.button(key="train_start").disabled
    at.selectbox(key="train_recipe").set_value("tiny").run()
    assert at.radio(key="train_data").value == "shapes"
    assert at.number_input(key="train_n_shapes").value == 240
    assert not at.button(key="train_start").disabled
    assert not at.exception
    assert "Input (1, 3, 32, 32) → logits (1, 5)" in texts(at)  # the model summary's shapes


def test_page_starts_a_tiny_job_shows_progress_and_finishes(app_test) -> None:
    at = app_test("train", timeout=90)
    at.selectbox(key="train_recipe").set_value("tiny").run()
    at.text_input(key="train_name").set_value("page-tiny").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    assert jobs.current() is not None
    # While it runs, Start queues another job behind it (issue 14) and Stop is the owner's.
    assert at.button(key="train_start").label == "Queue training"
    assert not at.button(key="train_stop").disabled
    try:
        seen_progress = False
        end = time.monotonic() + 150
        while time.monotonic() < end:
            time.sleep(1.0)
            at.run()
            assert not at.exception
            seen_progress |= any("batch " in str(p.proto.text) for p in at.get("progress"))
            if "Finished: checkpoint" in texts(at):
                break
        body = texts(at)
        assert "Finished: checkpoint **page-tiny**" in body, body
        assert seen_progress
        assert "cache (192, 3, 37, 37) uint8 on cpu" in body  # the shapes the run works with
        assert at.get("page_link")  # to the heatmap page
        assert len(at.dataframe) >= 2  # the epoch table and the past runs
        runs = jobs.list_runs()
        assert runs[0]["state"] == "done" and runs[0]["checkpoint"] == "page-tiny"
        assert not at.button(key="train_start").disabled
    finally:
        if jobs.current():
            jobs.stop()


def stop_all() -> None:
    for run_id in jobs.queued():
        jobs.cancel(run_id)
    jobs.stop()
    end = time.monotonic() + 60
    while jobs.current() and time.monotonic() < end:
        time.sleep(0.5)


def test_second_tab_start_queues_behind_the_running_job_and_cancels(app_test) -> None:
    first, second = app_test("train", timeout=90), app_test("train", timeout=90)
    for at in (first, second):
        at.selectbox(key="train_recipe").set_value("tiny").run()
        at.number_input(key="train_n_shapes").set_value(20000).run()  # still running below
    first.button(key="train_start").click().run()
    try:
        running = jobs.current()
        assert running is not None
        # The second tab still shows "Start" (it has not rerun since): its click queues a job
        # behind the running one and says where it stands, instead of being refused.
        assert second.button(key="train_start").label == "Start training"
        second.button(key="train_start").click().run()
        assert not second.exception and not second.error
        line = jobs.queued()
        assert len(line) == 1 and line[0] != running
        assert f"Queued job `{line[0]}`: number 1 in line" in texts(second)
        assert second.button(key="train_start").label == "Queue training"
        assert jobs.current() == running and len(jobs.list_runs()) == 2
        assert jobs.status(line[0]).state == "queued" and jobs.status(line[0]).position == 1
        first.run()  # every tab sees the queue with each job's place and whose it is
        assert f"1 in line: `{line[0]}` · resnet18 on shapes · another session" in texts(first)
        assert f"1 in line: `{line[0]}` · resnet18 on shapes · yours" in texts(second)
        # No admin token on this server: anyone may cancel (a single-user laptop).
        first.button(key=f"train_cancel_{line[0]}").click().run()
        assert not first.exception and not first.error
        assert jobs.queued() == [] and jobs.status(line[0]).state == "cancelled"
        assert jobs.current() == running
    finally:
        stop_all()


def test_with_an_admin_token_only_the_owner_or_the_admin_stops(app_test, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_ADMIN_TOKEN", "teacher-secret")
    owner, other = app_test("train", timeout=90), app_test("train", timeout=90)
    for at in (owner, other):
        at.selectbox(key="train_recipe").set_value("tiny").run()
        at.number_input(key="train_n_shapes").set_value(20000).run()
    owner.button(key="train_start").click().run()
    try:
        running = jobs.current()
        assert running is not None
        owner.run()
        other.run()
        assert not owner.button(key="train_stop").disabled
        assert other.button(key="train_stop").disabled  # read-only for everyone else
        assert "You see it read-only" in texts(other) and "You started it." in texts(owner)
        other.button(key="train_start").click().run()  # queue one from the other session
        queued = jobs.queued()[0]
        owner.run()
        assert owner.button(key=f"train_cancel_{queued}").disabled  # not the owner's to cancel
        other.text_input(key="train_admin_token").set_value("wrong").run()
        assert other.button(key="train_stop").disabled
        owner.text_input(key="train_admin_token").set_value("teacher-secret").run()
        assert not owner.button(key=f"train_cancel_{queued}").disabled  # the admin may
        owner.button(key=f"train_cancel_{queued}").click().run()
        assert jobs.status(queued).state == "cancelled"
        other.text_input(key="train_admin_token").set_value("teacher-secret").run()
        assert not other.button(key="train_stop").disabled
        other.button(key="train_stop").click().run()
        assert not other.exception and not other.error
        end = time.monotonic() + 60
        while jobs.current() and time.monotonic() < end:
            time.sleep(0.5)
        assert jobs.status(running).state == "stopped"
    finally:
        monkeypatch.delenv("EXPLORER_ADMIN_TOKEN")
        stop_all()


def test_a_new_tab_shows_the_running_jobs_settings(app_test) -> None:
    first = app_test("train", timeout=90)
    # not the page's default recipe, and enough shapes to still be running below
    first.selectbox(key="train_recipe").set_value("tiny").run()
    first.number_input(key="train_n_shapes").set_value(20000).run()
    first.text_input(key="train_name").set_value("restored").run()
    first.number_input(key="train_batch_size").set_value(48).run()
    first.selectbox(key="train_padding").set_value("zeros").run()
    first.button(key="train_start").click().run()
    try:
        assert jobs.current() is not None
        second = app_test("train", timeout=90)  # a refresh is a new session, like this one
        assert not second.exception
        assert second.selectbox(key="train_recipe").value == "tiny"
        assert second.text_input(key="train_name").value == "restored"
        assert second.number_input(key="train_batch_size").value == 48
        assert second.selectbox(key="train_padding").value == "zeros"
        assert second.radio(key="train_data").value == "shapes"
        assert second.number_input(key="train_n_shapes").value == 20000
        stages = second.dataframe[0].value  # the stages editor shows the job's one epoch
        assert list(stages["epochs"]) == [1] and list(stages["size"]) == [32]
        assert second.button(key="train_start").label == "Queue training"
    finally:
        jobs.stop()
        end = time.monotonic() + 60
        while jobs.current() and time.monotonic() < end:
            time.sleep(0.5)


def test_unusable_folder_is_reported_before_start(app_test, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_DATA_ROOTS", str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    at = app_test("train")
    at.selectbox(key="train_recipe").set_value("tiny").run()
    at.radio(key="train_data").set_value("folder").run()
    at.text_input(key="train_folder").set_value(str(empty)).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(
        "This folder cannot be used yet: No sub-folder"
    )
    assert at.button(key="train_start").disabled
    (empty / "cats").mkdir()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(empty / "cats" / "a.png")
    (empty / "dogs").mkdir()
    Image.new("RGB", (8, 8)).save(empty / "dogs" / "b.png")
    import streamlit as st

    st.cache_data.clear()
    at.run()
    assert not at.error
    assert "2 classes: cats, dogs" in texts(at)
    assert not at.button(key="train_start").disabled


def test_a_folder_outside_the_data_roots_is_one_sentence(app_test, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_DATA_ROOTS", str(tmp_path / "allowed"))
    at = app_test("train")
    at.selectbox(key="train_recipe").set_value("tiny").run()
    at.radio(key="train_data").set_value("folder").run()
    at.text_input(key="train_folder").set_value("/etc").run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "This folder cannot be used yet: The folder '/etc' is outside the folders this server "
        f"reads images from ({tmp_path / 'allowed'}); put the images below one of them, or ask "
        "whoever runs the server to add the folder to EXPLORER_DATA_ROOTS."
    ]
    assert at.button(key="train_start").disabled


# --- settings in the URL (issue 11) -----------------------------------------------------------

# The page alone, as if the session had been opened on it with a link (app.py's first run does the
# same: remember() keeps the link of the page it opened on).
ONE_PAGE = """
import ui.state
ui.state.remember("train")
exec(open("app_pages/train.py").read(), {"__name__": "__page__"})
"""


def open_link(params: dict[str, str], home):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(ONE_PAGE, default_timeout=60)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    return at


def form(at) -> dict:
    shapes = at.radio(key="train_data").value == "shapes"  # the count is shown for shapes only
    return {
        "recipe": at.selectbox(key="train_recipe").value,
        "data": at.radio(key="train_data").value,
        "n_shapes": at.number_input(key="train_n_shapes").value if shapes else None,
        "arch": at.selectbox(key="train_arch").value,
        "pretrained": at.checkbox(key="train_pretrained").value,
        "batch_size": at.number_input(key="train_batch_size").value,
        "padding": at.selectbox(key="train_padding").value,
        "name": at.text_input(key="train_name").value,
        "stages": at.dataframe[0].value.to_dict("records"),
    }


def test_a_link_opens_the_form_it_describes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    link = {
        "recipe": "tiny",
        "data": "shapes",
        "n_shapes": "500",
        "arch": "resnet50",
        "pretrained": "0",
        "batch_size": "48",
        "padding": "zeros",
        "name": "my-run",
        "stages": "2,32,3e-03,0,0.3;1,48,1e-06:1e-04,1,0.5",
    }
    at = open_link(link, tmp_path)
    assert not at.exception and not at.warning
    assert form(at) == {
        "recipe": "tiny",
        "data": "shapes",
        "n_shapes": 500,
        "arch": "resnet50",
        "pretrained": False,
        "batch_size": 48,
        "padding": "zeros",
        "name": "my-run",
        "stages": [
            {"epochs": 2, "size": 32, "lr": "3e-03", "frozen": False, "pct_start": 0.3},
            {"epochs": 1, "size": 48, "lr": "1e-06:1e-04", "frozen": True, "pct_start": 0.5},
        ],
    }
    assert dict(at.query_params) == link  # the URL still describes the same form
    assert not at.button(key="train_start").disabled


def test_the_url_follows_the_form_and_opens_it_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    at = open_link({}, tmp_path)
    at.selectbox(key="train_recipe").set_value("tiny").run()
    at.text_input(key="train_name").set_value("sent-to-a-student").run()
    at.number_input(key="train_batch_size").set_value(24).run()
    at.selectbox(key="train_padding").set_value("border").run()
    assert not at.exception
    link = dict(at.query_params)
    assert link["recipe"] == "tiny" and link["name"] == "sent-to-a-student"
    assert link["batch_size"] == "24" and link["padding"] == "border"
    again = open_link(link, tmp_path)  # a fresh session, as a student's browser opens it
    assert not again.exception and not again.warning
    assert form(again) == form(at)


def test_a_bad_link_opens_the_defaults_with_one_sentence(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    bad = {
        "recipe": "fastest",
        "batch_size": "-3",
        "stages": "3,224,fast,1,0.8",
        "arch": "vgg16",
        "name": "ok-name",
    }
    at = open_link(bad, tmp_path)
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1
    for name in ("recipe=fastest", "batch_size=-3", "stages=3,224,fast", "arch=vgg16"):
        assert name in warnings[0]
    assert "Learning rate 'fast'" in warnings[0]  # the stages say why, as the editor would
    from explorer import train as tr

    assert form(at) == {  # the lesson's form (a link sets the form: no CPU default recipe)
        "recipe": "lesson",
        "data": "pets",
        "n_shapes": None,
        "arch": "resnet34",
        "pretrained": True,
        "batch_size": 64,
        "padding": "reflection",
        "name": "ok-name",  # the good part of the link is kept
        "stages": tr.stage_rows(tr.recipe("lesson").stages),
    }


def test_the_processes_field_appears_only_with_several_gpus(tmp_path, monkeypatch) -> None:
    # The Training page must never touch CUDA itself (jobs own the GPUs): any call into
    # torch.cuda's device queries fails this test. (The page alone: the shared sidebar's device
    # label, explorer/device.py, still asks torch.cuda.is_available.)
    def no_cuda(*_args, **_kwargs):
        raise AssertionError("the Training page touched CUDA")

    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    for name in ("is_available", "device_count", "init", "_lazy_init", "current_device"):
        monkeypatch.setattr(torch.cuda, name, no_cuda)
    monkeypatch.setattr(jobs, "gpu_count", lambda: 0)
    at = open_link({}, tmp_path)
    assert not at.exception
    assert at.selectbox(key="train_device").options == ["cpu"]
    assert not at.get("number_input") or all(
        n.key != "train_nprocs" for n in at.number_input
    )  # one GPU or none: no field
    monkeypatch.setattr(jobs, "gpu_count", lambda: 4)
    at = open_link({}, tmp_path)
    assert not at.exception
    assert at.selectbox(key="train_device").options == ["cuda", "cpu"]
    assert at.selectbox(key="train_device").value == "cuda"
    field = at.number_input(key="train_nprocs")
    assert (field.value, field.max) == (1, 4) and "global" in field.help
    field.set_value(4).run()
    assert not at.exception and at.number_input(key="train_nprocs").value == 4
    at.selectbox(key="train_device").set_value("cpu").run()
    assert all(n.key != "train_nprocs" for n in at.number_input)  # processes are one per GPU


def test_gpu_count_asks_a_child_process() -> None:
    # On this machine torch says how many GPUs there are; gpu_count must agree without the
    # calling process touching CUDA.
    jobs.gpu_count.cache_clear()
    assert jobs.gpu_count() == torch.cuda.device_count()
