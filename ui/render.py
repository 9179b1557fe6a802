"""Rendering pieces shared by the pages: errors with their fix, safe Markdown, JSON copy
views, phase progress, the client's identities, the offline-model banner and the demo offer.

Text written by the model or the client is only ever rendered as Markdown with raw HTML off
(``unsafe_allow_html=False``), in tables, or in code blocks; nothing here renders HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from coach.enums import CoachingState, IdentityState
from coach.errors import (
    AccessDeniedError,
    CoachError,
    ConcurrencyError,
    ConfigurationError,
    InputError,
    LLMAuthenticationError,
    LLMError,
    PersistenceError,
    SchemaOutdatedError,
)
from coach.inspection import as_json, identities_by_state, phase_label, phase_number
from coach.models import PHASE_ORDER
from coach.persistence.records import IdentityRecord
from coach.service import StartedSession
from ui.app_runtime import AppRuntime

MODEL_HELP = (
    "Set `COACH_OPENAI_API_KEY` (and `COACH_OPENAI_MODEL`, or `COACH_OPENAI_BASE_URL` for any "
    "OpenAI-compatible server such as Ollama, vLLM or the llama.cpp server) in the environment "
    "or in `.streamlit/secrets.toml` (see `.streamlit/secrets.toml.example`), then restart the app."
)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def escape_markdown(text: str) -> str:
    """``text`` with Markdown syntax escaped, to show a name or label literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def safe_markdown(text: str) -> None:
    """Render model or client text as Markdown; raw HTML is never run (shown as text)."""
    st.markdown(text, unsafe_allow_html=False)


def error_fix(error: BaseException, *, database: str = "the configured database") -> str:
    """The error's message with what to do about it (``database``: the masked URL)."""
    message = str(error) or type(error).__name__
    if isinstance(error, SchemaOutdatedError):
        return message
    if isinstance(error, ConcurrencyError):
        return f"{message}\n\nThe session changed at the same time elsewhere: reload and try again."
    if isinstance(error, PersistenceError):
        return (
            f"{message}\n\nCheck that the database `{database}` is reachable "
            "(`COACH_DATABASE_URL`); `python -m coach init-db` creates or migrates it."
        )
    if isinstance(error, LLMAuthenticationError):
        return f"The model provider refused the API key: {message}\n\n{MODEL_HELP}"
    if isinstance(error, LLMError):
        return (
            f"The model failed: {message}\n\nTry again, or check the model settings. {MODEL_HELP}"
        )
    if isinstance(error, ConfigurationError):
        return f"{message}\n\n{MODEL_HELP}"
    if isinstance(error, TimeoutError):
        return (
            "The database or the model did not answer in time. Check that they are reachable "
            f"(database: `{database}`) and try again."
        )
    return message


def show_error(
    error: BaseException, runtime: AppRuntime | None = None, *, database: str | None = None
) -> None:
    """Show an error and its fix: a warning for refused input, an error otherwise.

    Args:
        database: the masked database URL, when there is no runtime to ask.
    """
    if isinstance(error, InputError):
        st.warning(str(error), icon="✋")
        return
    if isinstance(error, AccessDeniedError):
        st.warning(str(error), icon="🔒")
        return
    if runtime is not None:
        database = runtime.settings.describe()["database"]
    st.error(error_fix(error, database=database or "the configured database"), icon="🚨")


@contextmanager
def stop_on_error(runtime: AppRuntime | None = None) -> Iterator[None]:
    """Show a project error (or a timeout, or a refused value) with its fix and stop the page."""
    try:
        yield
    except (CoachError, TimeoutError, ValueError) as e:
        show_error(e, runtime)
        st.stop()


def json_view(value: Any, *, label: str = "JSON") -> None:
    """A record as JSON in a code block (it has a copy button)."""
    st.caption(label)
    st.code(as_json(value), language="json", wrap_lines=True)


def phase_progress(state: CoachingState) -> None:
    """All six phases, the current one highlighted, with a progress bar."""
    current = phase_number(state)
    st.progress(current / len(PHASE_ORDER), text=f"Phase {current} of {len(PHASE_ORDER)}")
    lines = []
    for number, phase in enumerate(PHASE_ORDER, start=1):
        name = phase_label(phase)
        if number < current:
            lines.append(f"{number}. ✓ {name}")
        elif number == current:
            lines.append(f"{number}. **▶ :violet[{name}]**")
        else:
            lines.append(f"{number}. :gray[{name}]")
    st.markdown("\n".join(lines))


_STATE_TITLES = {
    IdentityState.REFINED: "Refined",
    IdentityState.ACCEPTED: "Accepted",
    IdentityState.PROPOSED: "Proposed",
    IdentityState.DISMISSED: "Dismissed",
}


def identity_groups(identities: list[IdentityRecord], *, focus_id: str | None = None) -> None:
    """The client's identities grouped by state, the focus marked."""
    if not identities:
        st.caption("No identities yet: they appear as the coach finds them with the client.")
        return
    for state, items in identities_by_state(identities):
        st.markdown(f"**{_STATE_TITLES[state]}** ({len(items)})")
        lines = []
        for identity in items:
            mark = " 🎯" if identity.id == focus_id else ""
            label = escape_markdown(identity.label)
            lines.append(
                f"- ~~{label}~~" if state is IdentityState.DISMISSED else f"- {label}{mark}"
            )
        st.markdown("\n".join(lines))


def focus_identity(identity: IdentityRecord | None) -> None:
    """The focus identity with its affirmation, visualization and action items."""
    if identity is None:
        st.caption("No focus identity yet: one is chosen in the refinement phase.")
        return
    st.markdown(f"🎯 **{escape_markdown(identity.label)}**")
    if identity.affirmation:
        st.markdown(f"> {escape_markdown(identity.affirmation)}")
    if identity.visualization:
        st.markdown(f"*Visualization:* {escape_markdown(identity.visualization)}")
    if identity.action_items:
        st.markdown(
            "\n".join(
                f"- {'☑' if item.done else '☐'} {escape_markdown(item.text)}"
                for item in identity.action_items
            )
        )


def offline_model_banner(runtime: AppRuntime) -> None:
    """Say so when the bundled tiny offline model answers, and how to plug in a real one."""
    if runtime.offline_model:
        st.info(
            "**Offline demo model.** The coach is answering with the bundled SmolLM2-135M model: "
            "it runs without a key or network but is tiny, so its coaching is weak. For a real "
            f"coach: {MODEL_HELP}",
            icon="💡",
        )


def database_is_empty(runtime: AppRuntime) -> bool:
    return not runtime.run(runtime.db.list_users(limit=1)).items


def demo_offer(runtime: AppRuntime, *, key: str) -> StartedSession | None:
    """On an empty database, offer to load the demo session; the loaded session, if loaded."""
    st.info(
        "The database is empty. Load a complete sample session (Maya's journey through all six "
        "phases, with a refused phase change and rejected actions) to explore the app.",
        icon="🌱",
    )
    if st.button("Load demo data", key=key, type="primary", icon="🌱"):
        from ui.access import workbench  # it shows errors with this module

        with st.spinner("Replaying the demo session…"), stop_on_error(runtime):
            return runtime.run(workbench(runtime).load_demo())
    return None
