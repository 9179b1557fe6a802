"""The inspector's edits of a client (name, goals, an identity's label and state) and the notes
that show what the model did to the client's data.

Every edit goes through the ``Workbench`` (role checked, audited) and is saved at the version
the page showed, so an edit on a stale page is refused with its reason.
"""

from __future__ import annotations

import streamlit as st

from coach.clients import user_data_notes
from coach.enums import IdentityState
from coach.errors import CoachError
from coach.persistence.records import ActionResultRecord, IdentityRecord, UserRecord
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.render import escape_markdown, show_error

EDITED_KEY = "client_edited"

#: Who set the stored name, said for a coach (``coach.actions.effects.NameSource``).
NAME_SOURCES = {
    "start": "given when the session started; the model cannot change it",
    "coach": "set by a coach; the model cannot change it",
    "model": "set by the model; it may correct it",
}


def data_notes(actions: list[ActionResultRecord]) -> None:
    """Highlight what a turn's actions did to the client's data (nothing when nothing)."""
    show_notes(user_data_notes(actions))


def show_notes(notes: list[tuple[bool, str]]) -> None:
    """Highlight ``clients.user_data_notes``: applied changes, and refused ones with why."""
    for applied, note in notes:
        if applied:
            st.info(escape_markdown(note), icon="✏️")
        else:
            st.warning(escape_markdown(note), icon="🛡️")


def flash() -> None:
    """The message of the last saved edit, once."""
    message = st.session_state.pop(EDITED_KEY, None)
    if message:
        st.success(message, icon="✏️")


def edit_client(runtime: AppRuntime, user: UserRecord) -> None:
    """A form for the client's name and goals."""
    flash()
    source = user.data.get("name_set_by")
    name = user.data.get("name")
    goals = user.data.get("goals")
    shown_goals = [g for g in goals if isinstance(g, str)] if isinstance(goals, list) else []
    st.caption(
        "Name: "
        + (
            NAME_SOURCES.get(str(source), "origin not recorded; the model cannot change it")
            if name
            else "none yet; the model may save the one the client gives"
        )
    )
    with st.form(f"edit_client_{user.id}"):
        new_name = st.text_input("Name", value=name if isinstance(name, str) else "")
        new_goals = st.text_area("Goals (one per line)", value="\n".join(shown_goals))
        if st.form_submit_button("Save the client's data", icon="✏️"):
            try:
                runtime.run(
                    workbench(runtime).edit_client(
                        user,
                        name=new_name if new_name.strip() or name else None,
                        goals=new_goals.splitlines(),
                    )
                )
            except (CoachError, TimeoutError) as e:
                show_error(e, runtime)
            else:
                st.session_state[EDITED_KEY] = "The client's data was saved."
                st.rerun()


def edit_identity(runtime: AppRuntime, identity: IdentityRecord) -> None:
    """A form for an identity's label and state."""
    states = list(IdentityState)
    with st.form(f"edit_identity_{identity.id}"):
        label = st.text_input("Label", value=identity.label)
        state = st.selectbox(
            "State",
            states,
            index=states.index(identity.state),
            format_func=lambda s: s.value,
        )
        if st.form_submit_button("Save the identity", icon="✏️"):
            try:
                runtime.run(workbench(runtime).edit_identity(identity, label=label, state=state))
            except (CoachError, TimeoutError) as e:
                show_error(e, runtime)
            else:
                st.session_state[EDITED_KEY] = f"The identity “{label.strip()}” was saved."
                st.rerun()
