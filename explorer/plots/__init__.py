"""Plotly figure builders the pages share, one module per page (augment, convolve, heatmap, train).

Pure functions from tensors and numbers to `plotly.graph_objects.Figure`s: no streamlit here.
"""
