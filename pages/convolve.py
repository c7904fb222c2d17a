"""Convolve page (placeholder until its issue lands)."""

import streamlit as st

import ui

st.title("Convolve")
ui.not_built("convolve")
