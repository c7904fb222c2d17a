"""Training page, its jobs (imported by app_pages/train.py, not a page of its own): Start queues
behind a running job, Stop and Cancel for the job's owner (or the admin token), the queue with
every job's place in line.

Each browser session owns the jobs it submits (a random token in its session state); with
EXPLORER_ADMIN_TOKEN set on the server only the owner, or whoever types that token, may stop or
cancel a job, and everyone else sees it read-only.
"""

from __future__ import annotations

import secrets
import time

import streamlit as st

import ui
from explorer import jobs
from explorer import train as tr
from explorer.errors import UserError


def owner_token() -> str:
    """This browser session's owner token (random, kept in its session state only)."""
    return str(st.session_state.setdefault("train_owner", secrets.token_urlsafe(16)))


def admin_token() -> str | None:
    """The admin token typed on this page (only asked for when the server sets one)."""
    return st.session_state.get("train_admin_token") or None


def _request_start() -> None:
    """The Start button's callback: it runs even when this run draws the button disabled."""
    st.session_state["train_start_requested"] = True


def admin_field() -> None:
    """The admin token's password field, only when the server protects jobs with one."""
    if jobs.admin_configured():
        st.text_input(
            "Admin token",
            type="password",
            key="train_admin_token",
            help="The server's EXPLORER_ADMIN_TOKEN: with it you may stop or cancel anyone's job.",
        )


def submit(config: tr.TrainConfig, nprocs: int) -> None:
    """Start the job now, or queue it behind the running one, and say which."""
    if time.monotonic() - st.session_state.get("train_submitted_at", -10.0) < 2.0:
        return  # a double click: the first click already submitted this form
    with ui.user_errors("Starting the training job"):
        run_id, position = jobs.submit(config, owner=owner_token(), nprocs=nprocs)
        st.session_state["train_submitted_at"] = time.monotonic()
        if position == 0:
            st.session_state["train_view_run"] = st.session_state["train_started_run"] = run_id
            time.sleep(0.2)  # let the child write its first line before the live view reads it
            st.rerun()
        st.info(
            f"Queued job `{run_id}`: number {position} in line; it starts by itself when the jobs "
            "before it end."
        )


def controls(config: tr.TrainConfig | None, nprocs: int, running_id: str | None) -> None:
    """Start (or queue) and Stop; a start reruns the page, which then follows the new job."""
    start_col, stop_col, _ = st.columns([1, 1, 4])
    start_col.button(
        "Start training" if running_id is None else "Queue training",
        key="train_start",
        type="primary",
        disabled=config is None,
        on_click=_request_start,
    )
    if st.session_state.pop("train_start_requested", False) and config is not None:
        submit(config, nprocs)
    owner, admin = owner_token(), admin_token()
    allowed = running_id is not None and jobs.may_control(running_id, owner, admin)
    if stop_col.button("Stop", key="train_stop", disabled=not allowed):
        with ui.user_errors("Stopping the training job"):
            if jobs.stop(owner=owner, admin=admin):
                st.toast(
                    "Stop requested: the job finishes its batch, saves a checkpoint and exits."
                )
    if running_id is not None:
        whose = _whose(running_id, owner)
        if not allowed:
            whose += " You see it read-only: only its owner or the admin token can stop it."
        st.info(
            f"Job `{running_id}` is running for the whole server: every tab sees it here. " + whose
        )


def _whose(run_id: str, owner: str) -> str:
    try:
        job = jobs.status(run_id)
    except UserError:
        return ""
    if job is None or job.owner is None:
        return "It was started outside this page."
    return "You started it." if job.owner == jobs.owner_id(owner) else "Another session started it."


def queue_section(owner: str, admin: str | None) -> None:
    """The jobs waiting for the running one, with their place in line and a Cancel button."""
    line = jobs.queued()
    if not line:
        return
    st.markdown(f"**Queue**: {len(line)} waiting, first in line first")
    for position, run_id in enumerate(line, start=1):
        try:
            job = jobs.status(run_id)
        except UserError:
            continue  # its folder went away meanwhile
        if job is None:
            continue
        cfg = job.config
        mine = job.owner is not None and job.owner == jobs.owner_id(owner)
        text, button = st.columns([5, 1])
        text.markdown(
            f"{position} in line: `{run_id}` · {cfg.get('arch')} on {cfg.get('data')} · "
            f"{'yours' if mine else 'another session'}"
        )
        allowed = jobs.may_control(run_id, owner, admin)
        if button.button("Cancel", key=f"train_cancel_{run_id}", disabled=not allowed):
            with ui.user_errors("Cancelling the job"):
                jobs.cancel(run_id, owner=owner, admin=admin)
                st.toast(f"Cancelled job {run_id}.")
                st.rerun()
