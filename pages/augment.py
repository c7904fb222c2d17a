"""Augment page (placeholder until its issue lands)."""

import streamlit as st

import ui

st.title("Augment")
ui.not_built("augment")
