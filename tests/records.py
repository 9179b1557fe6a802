"""Stored records in tests: a conversation written through a ContextManager, and records
read back."""

from __future__ import annotations

from typing import Any

from coach.context import ContextManager
from coach.enums import JobStatus, MessageRole, OriginKind
from coach.llm.scripted import ScriptedLLMClient
from coach.models import CoachContext
from coach.persistence import DatabaseInterface, TurnRecord
from coach.persistence.base import MAX_PAGE_SIZE
from coach.persistence.records import MessageRecord, PromptVersion
from coach.prompts.store import ACTIVE
from coach.service import CoachService
from coach.sessions.jobs import CANCELLED


async def stored_turns(db: DatabaseInterface, session_id: str) -> list[TurnRecord]:
    """Every turn of the session, whole (with prompt, raw output and details), in order."""
    turns = []
    for summary in await db.list_turns(session_id, limit=MAX_PAGE_SIZE):
        turn = await db.get_turn(session_id, summary.seq or 0)
        assert turn is not None, f"turn {summary.seq} is listed but cannot be read"
        turns.append(turn)
    return turns


async def session_records(db: DatabaseInterface, user_id: str, session_id: str) -> tuple[Any, ...]:
    """Everything stored of a session and its client, to compare before and after."""
    return (
        await db.get_user(user_id),
        await db.get_state(user_id, session_id),
        await db.get_context(user_id, session_id),
        await db.get_identities(user_id),
        await stored_turns(db, session_id),
        await db.get_sessions_for_user(user_id),
    )


async def stored_conversation(db: DatabaseInterface, count: int) -> CoachContext:
    """A session (user ``u1``, session ``s1``) with ``count`` alternating messages, stored
    through a ContextManager."""
    manager = ContextManager(ScriptedLLMClient(), db)
    context = await manager.load_context("u1", "s1")
    for i in range(count):
        role = MessageRole.USER if i % 2 == 0 else MessageRole.COACH
        context.conversation_history.append(
            MessageRecord(role=role, content=f"message number {i} " + "word " * 20)
        )
    return await manager.commit(context)


async def new_introduction(db: DatabaseInterface, marker: str, *, activate: bool) -> int:
    """Store a version of the introduction prompt with ``marker`` in its text."""
    [current] = await db.list_prompt_versions("introduction", limit=1)
    version = await db.add_prompt_version(
        PromptVersion(
            part="introduction",
            body=current.body + f"\n\n{marker}",
            front_matter=current.front_matter,
            author="ana",
        )
    )
    if activate:
        labels = {x.label: x for x in await db.list_prompt_labels("introduction")}
        await db.set_prompt_label(
            "introduction", ACTIVE, version.version or 0, expected_revision=labels[ACTIVE].revision
        )
    return version.version or 0


async def stopped_replay(db: DatabaseInterface, source_session_id: str, made: int) -> str:
    """An exact replay of the session stopped after its turn ``made`` (as a crash, Cancel or
    Ctrl-C leaves one): made as a fork of those turns, then stored as the replay. Returns
    the new session's id."""
    service = CoachService(ScriptedLLMClient(), db)
    origin = await service.sessions.fork(source_session_id, made)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    await handle.ended()
    await service.aclose()
    source = await db.get_session(source_session_id)
    assert source is not None
    await db.save_session_origin(
        origin.model_copy(
            update={
                "kind": OriginKind.REPLAY_EXACT,
                "at_turn": None,
                "turns_total": source.turn_count,
                "turns_done": made,
                "status": JobStatus.FAILED,
                "error": CANCELLED,
            }
        )
    )
    return origin.session_id
