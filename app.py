"""CNN Explorer: routes to the pages and draws the sidebar every page shares."""

import streamlit as st
import torch

import ui
import ui.state
from explorer.device import app_threads

st.set_page_config(page_title="CNN Explorer", page_icon=":material/biotech:", layout="wide")

pages = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/augment.py", title="Augmentation", icon=":material/tune:"),
    st.Page("app_pages/convolve.py", title="Convolution", icon=":material/grid_on:"),
    st.Page("app_pages/train.py", title="Training", icon=":material/model_training:"),
    st.Page("app_pages/heatmap.py", title="Heatmap", icon=":material/local_fire_department:"),
]
pg = st.navigation(pages)
if torch.get_num_threads() != app_threads():
    torch.set_num_threads(app_threads())

ui.state.remember(pg.url_path)  # before the page left behind loses its widgets
ui.image_sidebar()
pg.run()
