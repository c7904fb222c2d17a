"""Train page (placeholder until its issue lands)."""

import streamlit as st

import ui

st.title("Train")
ui.not_built("train")
