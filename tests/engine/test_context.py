"""ContextManager: pure record mappings, the token budget, and summaries that never lose data."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from coach.context import ContextManager
from coach.enums import CoachingState, IdentityCategory, IdentityState, MessageRole
from coach.errors import LLMRateLimitError
from coach.llm.base import LLMRequest
from coach.llm.scripted import ScriptedLLMClient
from coach.models import CoachContext
from coach.persistence import DatabaseInterface, create_database
from coach.persistence.records import (
    ActionItemRecord,
    IdentityRecord,
    MessageRecord,
    UserRecord,
)
from tests.records import stored_conversation

texts = st.text(max_size=40)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
messages = st.builds(
    MessageRecord,
    id=st.uuids().map(str),
    role=st.sampled_from(MessageRole),
    content=texts,
    created_at=times,
)
identities = st.builds(
    IdentityRecord,
    id=st.uuids().map(str),
    user_id=st.just("u1"),
    label=texts,
    category=st.sampled_from(IdentityCategory),
    state=st.sampled_from(IdentityState),
    affirmation=st.none() | texts,
    visualization=st.none() | texts,
    notes=st.lists(texts, max_size=3),
    action_items=st.lists(st.builds(ActionItemRecord, text=texts, done=st.booleans()), max_size=2),
    session_id=st.none() | st.just("s1"),
    created_at=times,
    updated_at=times,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
contexts = st.builds(
    CoachContext,
    user_id=st.just("u1"),
    session_id=st.just("s1"),
    current_state=st.sampled_from(CoachingState),
    conversation_history=st.lists(messages, max_size=6),
    first_message_index=st.integers(min_value=0, max_value=10_000),
    consolidated_summary=texts,
    summarized_until=st.integers(min_value=0, max_value=10_000),
    user_profile=st.dictionaries(texts, json_values, max_size=3),
    metadata=st.dictionaries(texts, json_values, max_size=3),
    identities=st.lists(identities, max_size=3),
    focus_identity_id=st.none() | st.uuids().map(str),
    version=st.integers(min_value=0, max_value=1000),
    created_at=times,
    updated_at=times,
)


@settings(max_examples=150, deadline=None)
@given(contexts)
def test_conversions_round_trip_a_full_coach_context(context: CoachContext) -> None:
    """CoachContext -> (ContextRecord, StateRecord) -> CoachContext is the identity."""
    record = ContextManager._convert_to_context_record(context)
    state = ContextManager._convert_to_state_record(context)
    user = UserRecord(id=context.user_id, data=context.user_profile)
    back = ContextManager._convert_to_coach_context(
        record, state=state, identities=context.identities, user=user
    )
    assert back == context


def test_conversions_do_not_share_mutable_state() -> None:
    """Changing the converted record leaves the context alone (and the other way round)."""
    context = CoachContext(
        user_id="u",
        session_id="s",
        conversation_history=[MessageRecord(role=MessageRole.USER, content="hi")],
        metadata={"k": "v"},
    )
    record = ContextManager._convert_to_context_record(context)
    record.messages.append(MessageRecord(role=MessageRole.COACH, content="more"))
    record.user_data["metadata"]["k"] = "changed"  # type: ignore[index]
    assert [m.content for m in context.conversation_history] == ["hi"]
    assert context.metadata == {"k": "v"}


def summary_client(*summaries: str | BaseException) -> ScriptedLLMClient:
    return ScriptedLLMClient(list(summaries))


async def test_load_context_of_an_unknown_session_is_empty_and_stores_nothing(
    db: DatabaseInterface,
) -> None:
    manager = ContextManager(ScriptedLLMClient(), db)
    context = await manager.load_context("u1", "nope")
    assert context.conversation_history == [] and context.version == 0
    assert await db.get_context("u1", "nope") is None


async def test_save_and_load_through_the_database(db: DatabaseInterface) -> None:
    """_save_to_persistence / _load_from_persistence go through db and round-trip."""
    saved = await stored_conversation(db, 6)
    manager = ContextManager(ScriptedLLMClient(), db)
    loaded = await manager._load_from_persistence("u1", "s1")
    assert loaded is not None
    assert [m.content for m in loaded.conversation_history] == [
        m.content for m in saved.conversation_history
    ]
    assert loaded.version == saved.version == 1


async def test_small_budget_sends_summary_plus_newest_messages_and_keeps_every_message(
    db: DatabaseInterface,
) -> None:
    await stored_conversation(db, 40)
    client = summary_client("The client talked about forty things.")
    manager = ContextManager(client, db, token_budget=400)
    context = await manager.load_context("u1", "s1")
    system = "You are a coach."

    outcome = await manager.summarize_if_needed(context, system)
    assert outcome.attempted and outcome.error is None and outcome.folded_messages > 0
    window = manager.build_window(context, system)

    assert window.total_tokens <= 400
    assert window.messages[0].content == system
    assert "The client talked about forty things." in window.messages[1].content
    sent = [m.content for m in window.messages[2:]]
    assert sent == [m.content for m in context.conversation_history[-len(sent) :]]
    assert "message number 39" in sent[-1]
    assert context.summarized_until == window.folded_until == 40 - len(sent)

    await manager._save_to_persistence(context)
    stored = await db.get_context("u1", "s1")
    assert stored is not None and len(stored.messages) == 40
    assert stored.user_data["summary"] == "The client talked about forty things."


async def test_summary_is_replaced_and_bounded_not_appended() -> None:
    db = create_database("memory")
    await db.initialize()
    await stored_conversation(db, 40)
    long_summary = " ".join(["word"] * 500)
    client = summary_client("first summary", long_summary)
    manager = ContextManager(client, db, token_budget=400, summary_max_words=50)
    context = await manager.load_context("u1", "s1")
    await manager.summarize_if_needed(context, "sys")
    assert context.consolidated_summary == "first summary"

    for i in range(20):
        context.conversation_history.append(
            MessageRecord(role=MessageRole.USER, content=f"later {i} " + "word " * 20)
        )
    await manager.summarize_if_needed(context, "sys")
    assert len(context.consolidated_summary.split()) <= 51
    assert "first summary" not in context.consolidated_summary
    # The second request folded the previous summary in, instead of appending to it.
    second: LLMRequest = client.requests[1]
    assert "first summary" in second.messages[0].content


async def test_failing_summarizer_leaves_everything_intact(db: DatabaseInterface) -> None:
    await stored_conversation(db, 40)
    manager = ContextManager(summary_client(LLMRateLimitError("slow down")), db, token_budget=400)
    context = await manager.load_context("u1", "s1")
    before = context.model_copy(deep=True)

    outcome = await manager.summarize_if_needed(context, "sys")

    assert outcome.attempted and outcome.error == "summary failed: slow down"
    assert context == before
    stored = await db.get_context("u1", "s1")
    assert stored is not None and len(stored.messages) == 40
    assert stored.user_data.get("summary", "") == ""
    # The model still gets the newest messages that fit.
    window = manager.build_window(context, "sys")
    assert window.total_tokens <= 400 and len(window.messages) > 1


async def test_no_summary_while_everything_fits() -> None:
    db = create_database("memory")
    await db.initialize()
    await stored_conversation(db, 4)
    client = ScriptedLLMClient()
    manager = ContextManager(client, db, token_budget=4000)
    context = await manager.load_context("u1", "s1")
    outcome = await manager.summarize_if_needed(context, "sys")
    assert not outcome.attempted and client.requests == []
    assert len(manager.build_window(context, "sys").messages) == 5


async def test_long_conversation_summarizes_every_few_turns_not_every_turn() -> None:
    """Folding goes down to half the budget, so most turns need no summary call."""
    from coach.service import CoachService

    db = create_database("memory")
    await db.initialize()

    def answer(request: LLMRequest) -> dict[str, object] | str:
        if request.response_schema is None:
            return "The client keeps talking about their week."
        return {"message": "I hear you. " * 20, "actions": []}

    client = ScriptedLLMClient(function=answer)
    service = CoachService(client, db, token_budget=2500)
    info = await service.start_session("u1")
    for turn in range(40):
        result = await service.send_message_and_wait(
            "u1", info.session_id, f"turn {turn}: " + "this week was busy " * 10
        )
        assert result.ok
        stored_turn = await db.get_turn(info.session_id, result.turn_seq or 0)
        assert stored_turn is not None
        details = stored_turn.details
        assert details["context_window"]["total_tokens"] <= 2500  # type: ignore[index]
    summaries = [r for r in client.requests if r.response_schema is None]
    assert 2 <= len(summaries) <= 40 / 4, len(summaries)
    stored = await db.get_context("u1", info.session_id)
    assert stored is not None and stored.total_messages == 81


async def test_unsummarized_messages_older_than_the_loaded_window_are_folded_too(
    db: DatabaseInterface,
) -> None:
    """When summaries lagged behind, folding reads the older messages instead of skipping them."""
    await stored_conversation(db, 40)
    client = summary_client("Everything so far.")
    manager = ContextManager(client, db, token_budget=400, message_window=10)
    context = await manager.load_context("u1", "s1")
    assert context.first_message_index == 30 and context.summarized_until == 0

    outcome = await manager.summarize_if_needed(context, "sys")

    assert outcome.error is None and outcome.folded_messages > 30
    transcript = client.requests[0].messages[1].content
    assert "message number 0 " in transcript and "message number 29 " in transcript
    assert context.summarized_until > 30
