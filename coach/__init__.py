"""Identity Coach engine: phases, actions, prompts, context and persistence.

This package knows nothing of Streamlit; the app in ``app.py`` and ``pages/`` only renders it.
"""
