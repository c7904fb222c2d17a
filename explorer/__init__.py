"""CNN Explorer's backend: pure Python + torch functions behind every page (never imports streamlit)."""
