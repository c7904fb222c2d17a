"""Heatmap page (placeholder until its issue lands)."""

import streamlit as st

import ui

st.title("Heatmap")
ui.not_built("heatmap")
