"""The coach page's pieces: choosing a client and session, the stored conversation, and
running a turn with its reply streamed into the page.

The conversation is always read from the database; the page keeps only the ids of the open
session (in the URL, so a reload reopens it) and, while a turn runs, the pending submission
with the client message id generated once for it (so a rerun resends it without a second turn).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import streamlit as st

from coach.enums import MessageRole, TurnStatus
from coach.errors import CoachError
from coach.inspection import load_session_bundle, phase_label, unanswered_user_messages
from coach.llm.base import TextDelta
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    StateRecord,
    TurnRecord,
    UserRecord,
    new_id,
)
from coach.service import TurnEvent, TurnResult, validate_user_message
from ui.app_runtime import AppRuntime
from ui.render import safe_markdown, show_error

#: How many of the newest messages the chat shows.
CHAT_MESSAGES = 100
PENDING_KEY = "coach_pending"


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "—"


def user_name(user: UserRecord | None, user_id: str) -> str:
    name = user.data.get("name") if user else None
    return name if isinstance(name, str) and name else f"Client {user_id[:8]}"


# --- loading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatView:
    """What the coach page shows of one session, read in one go."""

    user: UserRecord | None
    state: StateRecord | None
    context: ContextRecord | None
    identities: list[IdentityRecord]
    #: Turns of user messages that got no reply, by message id.
    unanswered: dict[str, TurnRecord]

    @property
    def messages(self) -> list[MessageRecord]:
        return self.context.messages if self.context else []

    @property
    def focus(self) -> IdentityRecord | None:
        focus_id = self.state.focus_identity_id if self.state else None
        return next((i for i in self.identities if i.id == focus_id), None)


async def load_chat_view(db: DatabaseInterface, user_id: str, session_id: str) -> ChatView:
    context = await db.get_context(user_id, session_id, message_limit=CHAT_MESSAGES)
    messages = context.messages if context else []
    unanswered = {}
    for message in unanswered_user_messages(messages):
        turn = await db.get_turn_for_message(session_id, message.id)
        if turn is not None:
            unanswered[message.id] = turn
    return ChatView(
        user=await db.get_user(user_id),
        state=await db.get_state(user_id, session_id),
        context=context,
        identities=await db.get_identities(user_id),
        unanswered=unanswered,
    )


def export_json(runtime: AppRuntime, session_id: str) -> str:
    """The session's export bundle as JSON (run when the download is clicked, off the page)."""
    bundle = runtime.run(load_session_bundle(runtime.db, session_id))
    return bundle.to_json() if bundle else "{}"


# --- choosing -----------------------------------------------------------------------------------


def open_session(user_id: str, session_id: str) -> None:
    """Make this the open session (kept in the URL) and rerun."""
    st.query_params.from_dict({"user_id": user_id, "session_id": session_id})
    st.session_state[PENDING_KEY] = None
    st.rerun()


def session_chooser(runtime: AppRuntime, current_user: str | None) -> None:
    """Pick a returning client and one of their sessions, or start with a new client."""
    db, service = runtime.db, runtime.service
    returning, new = st.columns(2, gap="large")
    with returning:
        st.markdown("**Returning client**")
        search = st.text_input("Find a client", key="coach_user_search", placeholder="Name…")
        users = runtime.run(db.list_users(search=search.strip() or None, limit=50)).items
        if not users:
            st.caption("No client matches." if search else "No clients yet.")
        else:
            ids = [u.id for u in users]
            names = {u.id: f"{u.name or 'Unnamed'} · {u.id[:8]}" for u in users}
            chosen = st.selectbox(
                "Client",
                ids,
                index=ids.index(current_user) if current_user in ids else 0,
                format_func=names.__getitem__,
                key="coach_user_pick",
            )
            sessions = runtime.run(db.list_sessions(user_id=chosen, limit=20)).items
            if sessions:
                labels = {
                    s.session_id: f"{phase_label(s.state)} · {s.message_count} messages · "
                    f"{when(s.last_activity_at)}"
                    for s in sessions
                }
                picked = st.selectbox(
                    "Session",
                    list(labels),
                    format_func=labels.__getitem__,
                    key="coach_session_pick",
                )
                if st.button("Continue this session", key="coach_continue", type="primary"):
                    open_session(chosen, picked)
            if st.button("New session for this client", key="coach_new_session_for"):
                info = runtime.run(service.start_session(chosen))
                open_session(info.user_id, info.session_id)
    with new:
        st.markdown("**New client**")
        name = st.text_input(
            "Name", key="coach_new_name", placeholder="What should the coach call them?"
        )
        if st.button("Start coaching", key="coach_start", type="primary"):
            info = runtime.run(service.start_session(user_name=name.strip() or None))
            open_session(info.user_id, info.session_id)


# --- the conversation ---------------------------------------------------------------------------


def _avatar(role: MessageRole) -> str:
    return "user" if role is MessageRole.USER else "assistant"


def conversation(view: ChatView, session_id: str, *, total: int, retrying: str | None) -> None:
    """Render the stored messages; a failed turn shows its reason, and the latest one a Retry
    button."""
    if view.context and view.context.first_message_index:
        st.caption(
            f"Showing the newest {len(view.messages)} of {total} messages; the session "
            "inspector shows them all."
        )
    last_id = view.messages[-1].id if view.messages else None
    for message in view.messages:
        with st.chat_message(_avatar(message.role)):
            safe_markdown(message.content)
        turn = view.unanswered.get(message.id)
        if turn is None or turn.status is not TurnStatus.FAILED or message.id == retrying:
            continue
        st.error(f"The coach could not answer this message: {turn.error}", icon="⚠️")
        if message.id == last_id:
            st.button(
                "Retry",
                key=f"retry_{message.id}",
                icon="🔁",
                on_click=queue_retry,
                args=(message.id, session_id),
            )


class TurnStream:
    """A turn's events as text for ``st.write_stream``; the ``TurnResult`` is kept aside."""

    def __init__(self, events: Iterator[TurnEvent]) -> None:
        self._events = events
        self.result: TurnResult | None = None

    def text(self) -> Iterator[str]:
        for event in self._events:
            if isinstance(event, TextDelta):
                yield event.text
            else:
                self.result = event


def queue_message(text: str, session_id: str, max_chars: int) -> None:
    """Keep a submitted message as pending, with the client message id it keeps for good."""
    try:
        cleaned = validate_user_message(text, max_chars=max_chars)
    except CoachError as e:
        show_error(e)
        return
    st.session_state[PENDING_KEY] = {
        "kind": "send",
        "id": new_id(),
        "text": cleaned,
        "session_id": session_id,
    }


def queue_retry(message_id: str, session_id: str) -> None:
    st.session_state[PENDING_KEY] = {"kind": "retry", "id": message_id, "session_id": session_id}


def run_pending(runtime: AppRuntime, user_id: str, session_id: str) -> None:
    """Run the pending turn, streaming the reply, then rerun to show the stored conversation.

    The pending entry is dropped once the turn is stored or refused; if the run is interrupted
    (a rerun), it stays and is sent again with the same id, which never makes a second turn.
    """
    pending: dict[str, Any] | None = st.session_state.get(PENDING_KEY)
    if not pending:
        return
    if pending["session_id"] != session_id:
        st.session_state[PENDING_KEY] = None
        return
    service = runtime.service
    if pending["kind"] == "send":
        with st.chat_message("user"):
            safe_markdown(pending["text"])
        events = service.send_message(
            user_id, session_id, pending["text"], client_message_id=pending["id"]
        )
    else:
        events = service.retry_turn(user_id, session_id, pending["id"])
    stream = TurnStream(runtime.iterate(events))
    with st.chat_message("assistant"):
        try:
            st.write_stream(stream.text())
        except (CoachError, TimeoutError) as e:
            st.session_state[PENDING_KEY] = None
            show_error(e, runtime)
            return
        except Exception:
            st.session_state[PENDING_KEY] = None
            raise
    st.session_state[PENDING_KEY] = None
    st.rerun()
