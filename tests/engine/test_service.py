"""CoachService: sessions, turns, idempotent resubmission, failures kept and retried, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from coach.enums import ActionStatus, CoachingState, MessageRole, TurnStatus
from coach.errors import (
    InputError,
    LLMConnectionError,
    LLMLengthError,
    LLMRateLimitError,
    LLMRefusalError,
    LLMTimeoutError,
)
from coach.llm.base import TextDelta
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService, TurnResult
from tests.records import stored_turns


def reply(message: str = "Tell me more.", *actions: dict[str, Any]) -> dict[str, Any]:
    return {"message": message, "actions": list(actions)}


async def started(
    db: DatabaseInterface, *replies: Any, user_id: str = "u1"
) -> tuple[CoachService, ScriptedLLMClient, str]:
    client = ScriptedLLMClient(list(replies))
    service = CoachService(client, db)
    info = await service.start_session(user_id, user_name="Ana")
    return service, client, info.session_id


async def test_new_session_opens_with_the_stored_welcome(db: DatabaseInterface) -> None:
    service = CoachService(ScriptedLLMClient(), db)
    info = await service.start_session("u1", user_name="Ana")
    assert info.created and info.welcome is not None and info.continues_session_id is None
    context = await db.get_context("u1", info.session_id)
    assert context is not None
    assert [(m.role, m.content) for m in context.messages] == [
        (MessageRole.COACH, info.welcome.content)
    ]
    state = await db.get_state("u1", info.session_id)
    assert state is not None and state.state is CoachingState.INTRODUCTION
    user = await db.get_user("u1")
    assert user is not None and user.data["name"] == "Ana"
    again = await service.start_session("u1", session_id=info.session_id)
    assert not again.created and again.welcome is None
    assert (await db.get_context("u1", info.session_id)).total_messages == 1  # type: ignore[union-attr]


async def test_a_turn_streams_then_stores_everything(db: DatabaseInterface) -> None:
    service, client, session = await started(
        db,
        reply(
            "Welcome, Ana! What brings you here today?",
            {"type": "save_user_info", "params": {"key": "goal", "value": "Feel creative"}},
            {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}},
        ),
    )
    events = [e async for e in service.send_message("u1", session, "Hi, I'm Ana")]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    result = events[-1]
    assert isinstance(result, TurnResult) and result.ok
    assert len(deltas) > 1 and "".join(deltas) == result.reply
    assert result.state_before is CoachingState.INTRODUCTION
    assert result.state_after is CoachingState.IDENTITY_BRAINSTORMING
    assert [a.status for a in result.actions] == [ActionStatus.APPLIED] * 2

    [turn] = await stored_turns(db, session)
    assert turn.seq == result.turn_seq == 1
    assert turn.prompt_name == "introduction" and turn.prompt_version and turn.prompt_hash
    # The turn stores exactly the system prompt the model was sent: the introduction's.
    assert turn.system_prompt == client.requests[0].messages[0].content
    assert "# Right now: getting started" in turn.system_prompt
    assert turn.raw_output.startswith("{") and turn.model == "scripted"
    assert turn.input_tokens and turn.output_tokens and turn.latency_ms is not None
    assert turn.ttft_ms is not None and turn.ttft_ms <= turn.latency_ms
    assert turn.details["context_window"]["total_tokens"] > 0  # type: ignore[index]
    # The model saw the system prompt, the welcome and the user's message.
    sent = client.requests[0].messages
    assert sent[0].role == "system" and sent[-1].content == "Hi, I'm Ana"
    assert (await db.get_user("u1")).data["goals"] == ["Feel creative"]  # type: ignore[union-attr]
    state = await db.get_state("u1", session)
    assert state is not None and state.state is CoachingState.IDENTITY_BRAINSTORMING


async def test_same_client_message_id_twice_gives_one_turn(db: DatabaseInterface) -> None:
    service, client, session = await started(db, reply("Once."), reply("Twice?"))
    first = await service.send_message_and_wait("u1", session, "Hello", client_message_id="m-1")
    second = await service.send_message_and_wait("u1", session, "Hello", client_message_id="m-1")
    assert first.ok and second.replayed and second.reply == "Once."
    assert len(client.requests) == 1
    assert len(await stored_turns(db, session)) == 1
    context = await db.get_context("u1", session)
    assert context is not None and [m.content for m in context.messages[1:]] == ["Hello", "Once."]


async def test_concurrent_duplicate_submissions_give_one_turn(memory_db: DatabaseInterface) -> None:
    service, client, session = await started(memory_db, reply("Only one."), reply("Never."))
    results = await asyncio.gather(
        *(
            service.send_message_and_wait("u1", session, "Hello", client_message_id="m-1")
            for _ in range(3)
        )
    )
    # The later submissions follow the turn the first one started: one turn, one model call.
    assert {(r.turn_seq, r.reply) for r in results} == {(1, "Only one.")}
    assert len(client.requests) == 1
    assert len(await stored_turns(memory_db, session)) == 1


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (LLMTimeoutError("the model did not answer within 60 s"), "did not answer"),
        (LLMRateLimitError("rate limited (HTTP 429)"), "429"),
        (LLMConnectionError("cannot reach the model server"), "cannot reach"),
        (LLMRefusalError("the model refused to answer"), "refused"),
        (LLMLengthError("the reply was cut off"), "cut off"),
        ("this is { not json", "JSON"),
        ('{"actions": []}', "message"),
    ],
)
async def test_model_failure_keeps_the_message_and_retry_succeeds(
    db: DatabaseInterface, failure: Any, reason: str
) -> None:
    service, _, session = await started(db, failure, reply("Here I am."))
    failed = await service.send_message_and_wait("u1", session, "Are you there?")
    assert failed.status is TurnStatus.FAILED and failed.coach_message is None
    assert failed.error and reason.lower() in failed.error.lower()

    context = await db.get_context("u1", session)
    assert context is not None and context.messages[-1].content == "Are you there?"
    [turn] = await stored_turns(db, session)
    assert turn.status is TurnStatus.FAILED and turn.error == failed.error
    if isinstance(failure, str):  # the model's unusable output is kept for the inspector
        assert turn.raw_output == failure

    retried = [e async for e in service.retry_turn("u1", session)][-1]
    assert isinstance(retried, TurnResult) and retried.ok and retried.reply == "Here I am."
    assert retried.user_message_id == failed.user_message_id
    context = await db.get_context("u1", session)
    assert context is not None
    assert [m.content for m in context.messages[1:]] == ["Are you there?", "Here I am."]
    assert [t.status for t in await stored_turns(db, session)] == [TurnStatus.FAILED, TurnStatus.OK]


async def test_retry_without_a_failed_turn_is_refused(memory_db: DatabaseInterface) -> None:
    service, _, session = await started(memory_db)
    with pytest.raises(InputError, match="no failed turn"):
        [e async for e in service.retry_turn("u1", session)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 20_001, "limit is 20,000"),
        ("hello\x00world", "control character"),
        ("bell\x07", "control character"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    memory_db: DatabaseInterface, text: str, message: str
) -> None:
    service, client, session = await started(memory_db, reply())
    before = await memory_db.count_records()
    with pytest.raises(InputError, match=message):
        await service.send_message_and_wait("u1", session, text)
    assert await memory_db.count_records() == before
    assert client.requests == []


async def test_multiline_and_unicode_messages_are_accepted(memory_db: DatabaseInterface) -> None:
    service, _, session = await started(memory_db, reply("Lovely. 🌱"))
    result = await service.send_message_and_wait("u1", session, "  Línea uno\n\tlínea dos 🌸  ")
    assert result.ok
    context = await memory_db.get_context("u1", session)
    assert context is not None and context.messages[1].content == "Línea uno\n\tlínea dos 🌸"


async def test_a_session_that_was_never_started_is_refused(memory_db: DatabaseInterface) -> None:
    service = CoachService(ScriptedLLMClient([reply()]), memory_db)
    with pytest.raises(InputError, match="Start a session first"):
        await service.send_message_and_wait("u1", "missing", "hello")


async def test_two_concurrent_messages_on_one_session_are_both_answered(
    db: DatabaseInterface,
) -> None:
    service, client, session = await started(db, reply("First answer."), reply("Second answer."))
    results = await asyncio.gather(
        service.send_message_and_wait("u1", session, "one"),
        service.send_message_and_wait("u1", session, "two"),
    )
    assert all(r.ok for r in results)
    context = await db.get_context("u1", session)
    assert context is not None
    # Each message is stored when it is sent (the second may come before the first reply);
    # each reply names the message it answers and comes after it; the turns ran one by one.
    messages = context.messages[1:]
    questions = [m for m in messages if m.role is MessageRole.USER]
    a, b = (m.content for m in questions)
    assert {a, b} == {"one", "two"} and len(messages) == 4
    replies = {r.user_message_id: r.coach_message for r in results}
    for question, text in zip(questions, ("First answer.", "Second answer."), strict=True):
        answer = replies[question.id]
        assert answer is not None and answer.content == text and answer.reply_to == question.id
        assert messages.index(question) < messages.index(answer)
    assert [t.seq for t in await stored_turns(db, session)] == [1, 2]
    # The model read each reply right after its message, and the message it answers last.
    first, second = ([(m.role, m.content) for m in r.messages[1:]] for r in client.requests)
    assert first[-1] == ("user", a) and ("user", b) not in first
    assert second[-3:] == [("user", a), ("assistant", "First answer."), ("user", b)]


async def test_another_users_identity_is_rejected_with_that_reason(
    memory_db: DatabaseInterface,
) -> None:
    from coach.persistence.records import IdentityRecord

    other = await memory_db.save_identity(
        IdentityRecord(user_id="someone-else", label="Bold Leader", category="doer_of_things")
    )
    service, _, session = await started(
        memory_db,
        reply(
            "Moving on.",
            {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}},
        ),
        reply("Accepted.", {"type": "accept_identity", "params": {"identity_id": other.id}}),
    )
    await service.send_message_and_wait("u1", session, "hi")
    result = await service.send_message_and_wait("u1", session, "accept it")
    [action] = result.actions
    assert action.status is ActionStatus.REJECTED
    assert action.reason and "another user" in action.reason


async def test_returning_user_continues_their_journey(db: DatabaseInterface) -> None:
    service, client, first = await started(
        db,
        reply(
            "Let's find your identities.",
            {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}},
        ),
        reply(
            "A Brave Explorer!",
            {
                "type": "create_identity",
                "params": {"label": "Brave Explorer", "category": "doer_of_things"},
            },
        ),
        reply("Good to see you again."),
    )
    await service.send_message_and_wait("u1", first, "I love hiking into the unknown")
    await service.send_message_and_wait("u1", first, "Yes, explorer fits")

    info = await service.start_session("u1")
    assert info.continues_session_id == first
    assert info.state is CoachingState.IDENTITY_BRAINSTORMING
    assert info.welcome is not None and "Brave Explorer" in info.welcome.content
    assert await db.get_sessions_for_user("u1") == [info.session_id, first]

    await service.send_message_and_wait("u1", info.session_id, "I'm back")
    seen = "\n".join(m.content for m in client.requests[-1].messages)
    assert "earlier sessions" in seen and "hiking into the unknown" in seen
    assert "Brave Explorer" in seen
