"""Contract: turns are a numbered log per session; one user message gets at most one ok turn."""

from __future__ import annotations

from datetime import UTC, datetime

from coach.enums import ActionStatus, CoachingState, TurnStatus
from coach.errors import DuplicateTurnError
from coach.persistence import ActionResultRecord, DatabaseInterface, TurnOutline, TurnRecord
from coach.persistence.base import MAX_PAGE_SIZE

from . import builders as b


async def test_save_turn_numbers_the_turns_of_a_session_1_2_3(db: DatabaseInterface) -> None:
    """save_turn assigns seq 1, 2, 3 per session to new turns (saved without a seq)."""
    seqs = [(await db.save_turn(b.turn("ann", "s1"))).seq for _ in range(3)]
    other = await db.save_turn(b.turn("ann", "s2"))
    assert seqs == [1, 2, 3]
    assert other.seq == 1
    assert [t.seq for t in await db.list_turns("s1")] == [1, 2, 3]


async def test_list_turns_returns_turns_after_seq_up_to_limit(db: DatabaseInterface) -> None:
    """list_turns(after_seq, limit) returns turns with seq > after_seq in order, at most limit."""
    ids = [(await db.save_turn(b.turn("ann", "s1"))).user_message_id for _ in range(5)]
    assert [t.user_message_id for t in await db.list_turns("s1")] == ids
    assert [t.seq for t in await db.list_turns("s1", after_seq=2)] == [3, 4, 5]
    assert [t.seq for t in await db.list_turns("s1", after_seq=1, limit=2)] == [2, 3]
    assert await db.list_turns("s1", after_seq=5) == []


async def test_list_turn_outlines_pages_like_list_turns(db: DatabaseInterface) -> None:
    """list_turn_outlines is list_turns reduced to outlines, with the same paging and bounds."""
    for _ in range(5):
        await db.save_turn(b.turn("ann", "s1"))
    for after_seq, limit in ((0, 50), (2, 50), (1, 2), (5, 50)):
        turns = await db.list_turns("s1", after_seq=after_seq, limit=limit)
        outlines = await db.list_turn_outlines("s1", after_seq=after_seq, limit=limit)
        assert outlines == [t.outline() for t in turns]
    assert await db.list_turn_outlines("no-session") == []
    for limit in (0, MAX_PAGE_SIZE + 1):
        with b.raises(ValueError):
            await db.list_turn_outlines("s1", limit=limit)
    with b.raises(ValueError):
        await db.list_turn_outlines("s1", after_seq=-1)


async def test_every_turn_field_round_trips(db: DatabaseInterface) -> None:
    """A turn with every field set comes back equal, with its seq."""
    turn = TurnRecord(
        session_id="s1",
        user_id="ann",
        user_message_id="m-user",
        coach_message_id="m-coach",
        state_before=CoachingState.IDENTITY_BRAINSTORMING,
        state_after=CoachingState.IDENTITY_REFINEMENT,
        requested_transition=CoachingState.IDENTITY_REFINEMENT,
        transition_refused_reason="needs 3 accepted identities",
        prompt_name="identity_brainstorming",
        prompt_version="v3",
        prompt_hash="sha256:abc123",
        system_prompt="You are a coach.\n{not a template}",
        model="gpt-5.4-mini",
        provider="openai",
        raw_output='{"message": "Hi", "actions": []}',
        actions=[
            ActionResultRecord(
                type="create_identity",
                params={"label": "Daily Walker", "category": "physical_expression", "note": None},
                status=ActionStatus.APPLIED,
            ),
            ActionResultRecord(
                type="accept_identity",
                params={"identity_id": "nope"},
                status=ActionStatus.REJECTED,
                reason="unknown identity id",
            ),
        ],
        input_tokens=1234,
        output_tokens=56,
        latency_ms=812.5,
        ttft_ms=95.25,
        status=TurnStatus.OK,
        error=None,
        details={"retries": 0, "usage": {"cached": 10}, "flags": [True, False]},
        created_at=datetime(2025, 6, 1, 8, 0, 0, 654321, tzinfo=UTC),
    )
    saved = await db.save_turn(turn)
    expected = turn.model_copy(update={"seq": 1})
    assert saved == expected
    assert await db.get_turn("s1", 1) == expected
    # Lists and lookups give the summary: everything but the prompt, raw output and details.
    assert await db.list_turns("s1") == [expected.summary()]
    assert await db.get_turn_for_message("s1", "m-user") == expected.summary()
    assert not hasattr(expected.summary(), "system_prompt")
    # Outlines keep what the turn changed: its phase decision, actions and outcome.
    [outline] = await db.list_turn_outlines("s1")
    assert outline == expected.summary().outline()
    assert outline.actions == turn.actions
    assert outline.transition_refused_reason == "needs 3 accepted identities"
    assert type(outline) is TurnOutline


async def test_a_second_ok_turn_for_one_message_raises_duplicate_turn_error(
    db: DatabaseInterface,
) -> None:
    """The same client message id answered twice gives one turn; the second save is refused."""
    await db.save_turn(b.turn("ann", "s1", "m1", raw_output="first"))
    with b.raises(DuplicateTurnError):
        await db.save_turn(b.turn("ann", "s1", "m1", raw_output="second"))
    turns = [await db.get_turn("s1", t.seq or 0) for t in await db.list_turns("s1")]
    assert [(t.seq, t.raw_output) for t in turns if t] == [(1, "first")]


async def test_failed_turns_may_be_retried_until_one_is_ok(db: DatabaseInterface) -> None:
    """Failed turns do not block a retry; get_turn_for_message returns the latest turn."""
    await db.save_turn(b.turn("ann", "s1", "m1", status=TurnStatus.FAILED))
    failed = await db.get_turn_for_message("s1", "m1")
    assert failed is not None
    assert (failed.seq, failed.status, failed.error) == (
        1,
        TurnStatus.FAILED,
        "the model timed out",
    )

    await db.save_turn(b.turn("ann", "s1", "m1", status=TurnStatus.FAILED))
    await db.save_turn(b.turn("ann", "s1", "m1", raw_output="worked"))
    latest = await db.get_turn_for_message("s1", "m1")
    assert latest is not None
    assert (latest.seq, latest.status) == (3, TurnStatus.OK)
    worked = await db.get_turn("s1", 3)
    assert worked is not None and worked.raw_output == "worked"
    assert [t.status for t in await db.list_turns("s1")] == [
        TurnStatus.FAILED,
        TurnStatus.FAILED,
        TurnStatus.OK,
    ]
    assert await db.get_turn_for_message("s1", "other") is None


async def test_after_an_ok_turn_no_further_turn_of_the_message_is_stored(
    db: DatabaseInterface,
) -> None:
    """Once a message has an ok turn, even a failed turn for it is refused; the ok turn stays."""
    await db.save_turn(b.turn("ann", "s1", "m1", raw_output="answered"))
    with b.raises(DuplicateTurnError):
        await db.save_turn(b.turn("ann", "s1", "m1", status=TurnStatus.FAILED))
    latest = await db.get_turn_for_message("s1", "m1")
    assert latest is not None
    assert (latest.seq, latest.status) == (1, TurnStatus.OK)
    answered = await db.get_turn("s1", 1)
    assert answered is not None and answered.raw_output == "answered"
    assert len(await db.list_turns("s1")) == 1
