"""CNN Explorer's backend: the pure Python + torch functions behind every page.

It never imports streamlit, so a notebook can call everything a page shows.
"""
