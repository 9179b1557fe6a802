"""Identity Coach Playground: the router.

Run with ``streamlit run app.py``. Settings come from the environment (``COACH_*``) and
``.streamlit/secrets.toml``; the runtime (event loop, database, model client, service) is built
once per process in ``ui.app_runtime``. The pages in ``pages/`` only render.
"""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError
from streamlit.navigation.page import StreamlitPage

from coach.config import Settings
from coach.errors import CoachError
from ui.access import signed_in
from ui.app_runtime import get_runtime, read_secrets
from ui.render import app_styles, show_error

st.set_page_config(page_title="Identity Coach Playground", page_icon="🧭", layout="wide")
app_styles()

PAGES = [
    st.Page("pages/coach.py", title="Coach", icon="💬", url_path="coach", default=True),
    st.Page("pages/sessions.py", title="Sessions", icon="🗂️", url_path="sessions"),
    st.Page("pages/inspector.py", title="Session inspector", icon="🔎", url_path="inspector"),
    st.Page("pages/prompts.py", title="Prompts", icon="🧪", url_path="prompts"),
    st.Page("pages/compare.py", title="Compare", icon="↔️", url_path="compare"),
    st.Page("pages/evals.py", title="Evals", icon="📏", url_path="evals"),
    st.Page("pages/admin.py", title="Admin", icon="🛠️", url_path="admin"),
]


def router(*, signed_in: bool) -> StreamlitPage:
    """The pages' router, on every run before anything stops the script (a run that never
    made it would let Streamlit serve ``pages/`` on its own). Its menu stays hidden until
    someone is signed in.

    ``.streamlit/config.toml`` hides the sidebar navigation, so the menu Streamlit makes of the
    ``pages/`` folder's file names on a process's first run never shows; the router's own
    menu is shown here (the option is scriptable, and read when the menu is sent)."""
    st.set_option("client.showSidebarNavigation", True)
    return st.navigation(PAGES, position="sidebar" if signed_in else "hidden")


try:
    runtime = get_runtime()
except ValidationError as e:
    problems = "\n".join(
        f"- `{'.'.join(str(part) for part in error['loc'])}`: {error['msg']}"
        for error in e.errors(include_input=False)
    )
    router(signed_in=False)
    st.error(
        f"The settings are invalid:\n\n{problems}\n\nFix the `COACH_*` environment variables "
        "or `.streamlit/secrets.toml` (see `.streamlit/secrets.toml.example`) and reload.",
        icon="🚨",
    )
    st.stop()
except (CoachError, TimeoutError, ValueError) as e:
    router(signed_in=False)
    st.error("The coach could not start.", icon="🚨")
    show_error(e, database=Settings.resolve(read_secrets()).describe()["database"])
    st.stop()

# Before any page runs: until someone is signed in, nothing of any client reaches the browser.
actor = signed_in(runtime)
navigation = router(signed_in=actor is not None)
if actor is None:
    st.stop()

described = runtime.settings.describe()
st.sidebar.caption(
    f"Database: `{described['database']}`  \n"
    f"Model: `{runtime.client.provider}` / `{runtime.client.model}` · "
    f"API key: {described['api_key']}"
)

navigation.run()
