"""CNN Explorer: routes to the pages and draws the sidebar every page shares."""

from pathlib import Path

import streamlit as st
import torch

import ui
import ui.state
from explorer import overview
from explorer.device import app_threads

ROOT = Path(__file__).parent
# A local favicon: a material icon would be fetched from the internet (an error offline).
st.set_page_config(
    page_title="CNN Explorer", page_icon=str(ROOT / "assets" / "favicon.png"), layout="wide"
)

pages = [
    st.Page(card.path, title=card.title, icon=card.icon, default=card is overview.HOME)
    for card in (overview.HOME, *overview.PAGES)
]
pg = st.navigation(pages)
if torch.get_num_threads() != app_threads():
    torch.set_num_threads(app_threads())

ui.state.remember(pg.url_path)  # before the page left behind loses its widgets
ui.image_sidebar()
pg.run()
