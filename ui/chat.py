"""The coach page's pieces: choosing a client and session, the stored conversation, and
following the turns of the session while the engine answers them.

The conversation is always read from the database. A message is handed to the engine
(``CoachService.submit``), which stores it with a pending turn and answers it in a task of its
own; the page then follows that turn (``TurnHandle.wait``) and may go away at any moment: a
reloaded or second tab finds the turn running and follows it too, saying that it waits for a
message sent elsewhere. The page never gives up on a turn: it waits, showing how long, until
the engine has stored its outcome.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import streamlit as st

from coach.clients import user_data_notes
from coach.enums import MessageRole, TurnStatus
from coach.errors import CoachError
from coach.inspection import phase_label, unanswered_user_messages
from coach.llm.base import TextDelta
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    ContextRecord,
    IdentityRecord,
    MessageRecord,
    StateRecord,
    TurnSummary,
    UserRecord,
    new_id,
)
from coach.service import CoachService, TurnHandle, TurnResult, validate_user_message
from coach.sessions.bundles import export_session
from ui import client_edits
from ui.access import workbench
from ui.app_runtime import AppRuntime
from ui.render import safe_markdown, show_error, stop_on_error

#: How many of the newest messages the chat shows.
CHAT_MESSAGES = 100
PENDING_KEY = "coach_pending"
#: A reply that stops streaming for this long shows "still waiting".
STILL_WAITING_AFTER_S = 5.0
#: How often a page looks again at a turn another process answers.
OTHER_PROCESS_POLL_S = 2
#: The client message ids this page (one browser tab) handed to the engine, the newest last:
#: a running turn of another message was started elsewhere, and the page says so.
SENT_KEY = "coach_sent_ids"
SENT_KEPT = 50


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
    #: The turns of user messages that have no reply yet (failed or running), by message id.
    unanswered: dict[str, TurnSummary]
    #: What the model did to the client's data (``clients.user_data_notes``), by reply id.
    data_notes: dict[str, list[tuple[bool, str]]] = field(default_factory=dict)

    @property
    def messages(self) -> list[MessageRecord]:
        return self.context.messages if self.context else []

    @property
    def focus(self) -> IdentityRecord | None:
        focus_id = self.state.focus_identity_id if self.state else None
        return next((i for i in self.identities if i.id == focus_id), None)

    @property
    def pending(self) -> list[TurnSummary]:
        return [t for t in self.unanswered.values() if t.status is TurnStatus.PENDING]


async def load_chat_view(service: CoachService, user_id: str, session_id: str) -> ChatView:
    """The newest messages with the turns of those not answered yet. A pending turn whose
    process died is marked interrupted first, so it shows with its retry."""
    db = service.db
    for _ in range(3):  # a turn ending while the page reads makes it read again
        context = await db.get_context(user_id, session_id, message_limit=CHAT_MESSAGES)
        unanswered = unanswered_user_messages(context.messages if context else [])
        turns = {m.id: await db.get_turn_for_message(session_id, m.id) for m in unanswered}
        statuses = {t.status for t in turns.values() if t is not None}
        if TurnStatus.OK in statuses:
            continue  # answered since the messages were read: read them with the reply
        if TurnStatus.PENDING in statuses and await service.recover_interrupted(
            session_id=session_id
        ):
            continue
        break
    return ChatView(
        user=await db.get_user(user_id),
        state=await db.get_state(user_id, session_id),
        context=context,
        identities=await db.get_identities(user_id),
        unanswered={message_id: t for message_id, t in turns.items() if t is not None},
        data_notes=await _data_notes(db, session_id),
    )


async def _data_notes(db: DatabaseInterface, session_id: str) -> dict[str, list[tuple[bool, str]]]:
    """The changes the model made (or tried) to the client's data in the newest turns, by the
    reply they came with: every shown reply's turn is among the newest ``CHAT_MESSAGES``."""
    session = await db.get_session(session_id)
    if session is None or not session.turn_count:
        return {}
    turns = await db.list_turns(
        session_id, after_seq=max(0, session.turn_count - CHAT_MESSAGES), limit=CHAT_MESSAGES
    )
    return {
        t.coach_message_id: notes
        for t in turns
        if t.coach_message_id and (notes := user_data_notes(t.actions))
    }


def export_json(runtime: AppRuntime, session_id: str) -> str:
    """The session's bundle as JSON (run when the download is clicked, off the page)."""
    return runtime.run(export_session(runtime.db, session_id)).to_json()


# --- choosing -----------------------------------------------------------------------------------


def open_session(user_id: str, session_id: str) -> None:
    """Make this the open session (kept in the URL) and rerun."""
    st.query_params.from_dict({"user_id": user_id, "session_id": session_id})
    st.session_state[PENDING_KEY] = None
    st.rerun()


def session_chooser(runtime: AppRuntime, current_user: str | None) -> None:
    """Pick a returning client and one of their sessions, or start with a new client."""
    db = runtime.db
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
                with stop_on_error(runtime):
                    info = runtime.run(workbench(runtime).start_session(chosen))
                open_session(info.user_id, info.session_id)
    with new:
        st.markdown("**New client**")
        name = st.text_input(
            "Name", key="coach_new_name", placeholder="What should the coach call them?"
        )
        if st.button("Start coaching", key="coach_start", type="primary"):
            with stop_on_error(runtime):
                info = runtime.run(workbench(runtime).start_session(user_name=name.strip() or None))
            open_session(info.user_id, info.session_id)


# --- the conversation ---------------------------------------------------------------------------


def _avatar(role: MessageRole) -> str:
    return "user" if role is MessageRole.USER else "assistant"


def conversation(view: ChatView, session_id: str, *, total: int) -> None:
    """Render the stored messages; a failed turn shows its reason and a Retry button."""
    if view.context and view.context.first_message_index:
        st.caption(
            f"Showing the newest {len(view.messages)} of {total} messages; the session "
            "inspector shows them all."
        )
    for message in view.messages:
        with st.chat_message(_avatar(message.role)):
            safe_markdown(message.content)
        # Next to the reply: the client's data changed (or the model tried), never silently.
        client_edits.show_notes(view.data_notes.get(message.id, []))
        turn = view.unanswered.get(message.id)
        if turn is None or turn.status is not TurnStatus.FAILED:
            continue
        st.error(f"The coach could not answer this message: {turn.error}", icon="⚠️")
        st.button(
            "Retry",
            key=f"retry_{message.id}",
            icon="🔁",
            on_click=queue_retry,
            args=(message.id, session_id),
        )


def queue_message(text: str, session_id: str, max_chars: int) -> None:
    """Keep a submitted message as pending, with the client message id it keeps for good."""
    try:
        cleaned = validate_user_message(text, max_chars=max_chars)
    except CoachError as e:
        show_error(e)
        keep_to_copy(text)
        return
    st.session_state[PENDING_KEY] = {
        "kind": "send",
        "id": new_id(),
        "text": cleaned,
        "session_id": session_id,
    }


def keep_to_copy(text: str) -> None:
    """A message that was not sent, shown whole with a copy button: nothing typed is lost."""
    st.caption("Your message was not sent; here it is to copy:")
    st.code(text, language=None, wrap_lines=True)


def queue_retry(message_id: str, session_id: str) -> None:
    st.session_state[PENDING_KEY] = {"kind": "retry", "id": message_id, "session_id": session_id}


def hand_over_pending(runtime: AppRuntime, user_id: str, session_id: str) -> None:
    """Give the submitted message (or retry) to the engine, which stores it before anything
    else; then rerun, and the page follows its turn. A message the engine refused is shown
    back with the reason, so nothing typed is lost."""
    pending: dict[str, Any] | None = st.session_state.get(PENDING_KEY)
    if not pending:
        return
    st.session_state[PENDING_KEY] = None
    if pending["session_id"] != session_id:
        return
    acting = workbench(runtime)
    remember_sent(pending["id"])
    try:
        if pending["kind"] == "send":
            runtime.run(
                acting.send_message(
                    user_id, session_id, pending["text"], client_message_id=pending["id"]
                )
            )
        else:
            runtime.run(acting.retry_turn(user_id, session_id, pending["id"]))
    except (CoachError, TimeoutError) as e:
        show_error(e, runtime)
        if pending["kind"] == "send":
            keep_to_copy(pending["text"])
        return
    st.rerun()


def remember_sent(message_id: str) -> None:
    """Note that this page handed this message (or its retry) to the engine."""
    sent = [m for m in st.session_state.get(SENT_KEY, []) if m != message_id]
    st.session_state[SENT_KEY] = [*sent, message_id][-SENT_KEPT:]


def sent_here(message_id: str) -> bool:
    """Whether this page handed the message to the engine (a reload forgets it)."""
    return message_id in st.session_state.get(SENT_KEY, [])


async def _running(service: CoachService, session_id: str) -> list[TurnHandle]:
    return service.running_turns(session_id)


def follow_turns(runtime: AppRuntime, view: ChatView, session_id: str) -> None:
    """Show the session's running turns live until each is stored, then rerun to show the
    stored conversation. Turns another app process runs are shown as such and checked again
    every few seconds."""
    handles = runtime.run(_running(runtime.service, session_id))
    for handle in handles:
        follow(runtime, handle, elsewhere=not sent_here(handle.user_message_id))
    if handles:
        st.rerun()
    for turn in view.pending:  # pending when the page read them, not running here now
        now = runtime.run(runtime.db.get_turn_for_message(session_id, turn.user_message_id))
        if now is None or now.status is not TurnStatus.PENDING:
            st.rerun()  # it has just been stored
        _wait_for_other_process(runtime, now)


def follow(
    runtime: AppRuntime, handle: TurnHandle, *, elsewhere: bool = False
) -> TurnResult | None:
    """Draw one running turn's reply as it streams, with what it waits for and for how long
    (``elsewhere``: the message was sent from another tab, or before a reload)."""
    with st.chat_message("assistant"):
        status = st.empty()
        body = st.empty()
        text, seen, last_text_at = "", 0, time.monotonic()
        within_s = 0.0  # the first look does not wait: "Thinking…" shows at once
        while True:
            progress = runtime.run(handle.wait(seen, within_s=within_s))
            within_s = 0.5
            seen = progress.seen
            new = "".join(e.text for e in progress.events if isinstance(e, TextDelta))
            if new:
                text += new
                last_text_at = time.monotonic()
                with body.container():
                    safe_markdown(text)
            if progress.error is not None:
                status.empty()
                show_error(progress.error, runtime)
                return None
            if progress.done:
                status.empty()
                return handle.result
            waiting = _waiting(
                progress.queued, text, progress.elapsed_s, last_text_at, elsewhere=elsewhere
            )
            if waiting:
                status.caption(waiting)
            else:
                status.empty()  # the text is arriving: nothing to wait for


def _waiting(
    queued: bool, text: str, elapsed_s: float, last_text_at: float, *, elsewhere: bool = False
) -> str:
    """What the coach is doing, said with the seconds it has taken."""
    if queued:
        return f"⏳ Waiting for the previous reply in this session… ({elapsed_s:.0f} s)"
    if not text and elsewhere:
        return (
            "⏳ Waiting for the reply to your message sent from another tab (or before a "
            f"reload)… ({elapsed_s:.0f} s)"
        )
    if not text:
        return f"💭 Thinking… ({elapsed_s:.0f} s)"
    silent = time.monotonic() - last_text_at
    if silent >= STILL_WAITING_AFTER_S:
        return f"⏳ Still waiting for the model… ({silent:.0f} s without new text)"
    return ""


def _wait_for_other_process(runtime: AppRuntime, turn: TurnSummary) -> None:
    with st.chat_message("assistant"):
        st.caption(
            f"⏳ Another app process ({turn.owner or 'unknown'}) is answering this message; "
            f"this page checks again every {OTHER_PROCESS_POLL_S} s."
        )
    time.sleep(OTHER_PROCESS_POLL_S)
    st.rerun()
