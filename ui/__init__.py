"""Streamlit glue shared by the pages: the cached runtime and shared rendering pieces.

Everything here may call ``st.*``; the logic it shows lives in ``coach`` (``coach.inspection``).
"""
