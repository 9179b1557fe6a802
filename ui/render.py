"""Rendering pieces shared by the pages: errors with their fix, safe Markdown, JSON copy
views, phase progress, the client's identities, the offline-model banner and the demo offers.

Text written by the model or the client is only ever rendered as Markdown with raw HTML off
(``unsafe_allow_html=False``), in tables, or in code blocks; nothing here renders its HTML.
Its Markdown images are shown as links (``without_images``): the browser fetches nothing a
message names. Each paragraph takes its direction from its own text (``APP_STYLE``), so
Arabic or Hebrew is right-aligned and English stays left.
"""

from __future__ import annotations

import bisect
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
    """Render model or client text as Markdown; raw HTML is never run (shown as text), and an
    image is a link (``without_images``)."""
    st.markdown(without_images(text), unsafe_allow_html=False)


#: What an image of a message becomes: this mark, then a link to it.
IMAGE_MARK = "🖼️ "
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`+")
#: What ``without_images`` looks at: an escape, a backtick run, an image (with no alt text:
#: a link needs text to be seen).
_SPECIAL = re.compile(r"\\.|`+|!\[\s*\]|!\[", re.DOTALL)


def without_images(text: str) -> str:
    """``text`` with every Markdown image (``![alt](url)``, ``![alt][ref]``, ``![ref]``) made
    a link to the same place, marked 🖼️, so that showing the text fetches nothing.

    Code is left as it is: fenced blocks and code spans. (Raw HTML such as ``<img>`` is shown
    as text by ``safe_markdown`` anyway.)
    """
    if "![" not in text:
        return text
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        opening = _FENCE.match(line)
        if fence is None and opening:
            out.append(_images_to_links("".join(prose)))
            prose = []
            fence = opening.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if _closes(line, fence):
                fence = None
        else:
            prose.append(line)
    out.append(_images_to_links("".join(prose)))
    return "".join(out)


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a code block opened by ``fence``: the same character, at least
    as many, and nothing after them."""
    stripped = line.strip()
    run = len(stripped) - len(stripped.lstrip(fence[0]))
    return run >= len(fence) and not stripped[run:].strip()


def _images_to_links(text: str) -> str:
    """Prose (no fenced code) with its images made links; code spans and escapes kept."""
    runs: dict[str, list[int]] = {}  # the backtick runs of each length, by where they start
    for run in _BACKTICKS.finditer(text):
        runs.setdefault(run.group(), []).append(run.start())
    out: list[str] = []
    i = 0
    for special in _SPECIAL.finditer(text):
        if special.start() < i:
            continue  # inside an escape or a code span already copied
        out.append(text[i : special.start()])
        token = special.group()
        if token.startswith("\\"):
            out.append(token)  # an escaped character stays escaped
            i = special.end()
        elif token.startswith("`"):
            # A code span ends at the next run of as many backticks; without one, the
            # backticks are literal.
            later = runs[token]
            after = bisect.bisect_right(later, special.start())
            end = later[after] + len(token) if after < len(later) else special.end()
            out.append(text[special.start() : end])
            i = end
        else:  # "![" or "![ ]": the "!" goes, and "[alt](url)" stays, now a link
            out.append(IMAGE_MARK + ("[image" if token.endswith("]") else "["))
            i = special.end() - (1 if token.endswith("]") else 0)
    out.append(text[i:])
    return "".join(out)


#: The app's own style sheet (``app_styles``). ``unicode-bidi: plaintext`` gives each paragraph
#: the direction of its first strong letter, as ``dir="auto"`` would (Streamlit's Markdown
#: takes no attributes), and ``text-align: start`` then follows that direction.
APP_STYLE = """<style>
[data-testid="stMarkdownContainer"] :is(p, li, h1, h2, h3, h4, h5, h6, blockquote, td, th),
[data-testid="stChatInputTextArea"] {
  unicode-bidi: plaintext;
  text-align: start;
}
</style>"""


def app_styles() -> None:
    """Add the app's style sheet to the page (it takes no space)."""
    st.html(APP_STYLE)


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


def demo_copy_offer(runtime: AppRuntime, session_id: str, *, key: str) -> StartedSession | None:
    """In a demo session: say that chatting adds to it, and offer a fresh copy (the demo played
    again for a new client; this session stays as it is). The copy, if made."""
    st.caption(
        "🌱 This is the demo session: what you send here is added to it. A fresh copy starts "
        "the demo over for a new client and leaves this one as it is."
    )
    if st.button("Fresh copy of the demo", key=key, icon="🌱", width="stretch"):
        from ui.access import workbench  # it shows errors with this module

        with st.spinner("Playing the demo again for a new client…"), stop_on_error(runtime):
            return runtime.run(workbench(runtime).copy_demo(session_id))
    return None


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
