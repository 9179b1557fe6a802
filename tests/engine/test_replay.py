"""Exact replay: the recorded model outputs fed back through the real engine reproduce the
session (phases, decisions, actions, identities) with no model asked; a changed rule shows as
the first turn that comes out otherwise."""

from __future__ import annotations

import pytest

from coach import state_machine
from coach.demo import DEMO_STEPS, play_demo
from coach.errors import InputError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.factory import create_database_from_url
from coach.persistence.memory import InMemoryDatabase
from coach.service import CoachService
from coach.sessions.compare import compare_sessions
from coach.sessions.replay import replay_session
from tests.records import stored_turns


async def test_the_demo_session_replays_exactly(db: DatabaseInterface) -> None:
    demo = await play_demo(db)
    seen: list[tuple[int, int]] = []
    report = await replay_session(db, demo.session_id, on_turn=lambda *p: seen.append(p))
    assert report.differences == [], [d.describe() for d in report.differences]
    assert report.turns == len(DEMO_STEPS) and seen[-1] == (10, 10)
    # Every request was answered from the recording: one per turn, no model.
    assert report.recorded_answers == report.turns
    original = await stored_turns(db, demo.session_id)
    replayed = await stored_turns(db, report.session_id)
    assert [t.provider for t in replayed] == ["replay"] * 10
    assert [(t.state_before, t.state_after, len(t.actions)) for t in original] == [
        (t.state_before, t.state_after, len(t.actions)) for t in replayed
    ]
    replay_user = await db.get_user(report.user_id)
    assert replay_user is not None and replay_user.data["name"] == "Maya"
    assert len(await db.get_identities(report.user_id)) == len(
        await db.get_identities(demo.user_id)
    )


@pytest.mark.slow
async def test_a_300_turn_session_with_summaries_replays_exactly(sqlite_url: str) -> None:
    db = create_database_from_url(sqlite_url)
    await db.initialize()
    try:
        demo = await play_demo(db, steps=DEMO_STEPS * 30)
        report = await replay_session(db, demo.session_id)
        compared = await compare_sessions(db, demo.session_id, report.session_id)
    finally:
        await db.close()
    assert compared.first_divergence is None and compared.a.turns == compared.b.turns == 300
    assert report.turns == 300
    assert report.differences == [], [d.describe() for d in report.differences[:5]]
    summaries = report.recorded_answers - report.turns
    assert summaries > 5  # the long conversation was summarized again and again, as recorded


async def test_a_changed_guard_shows_as_the_first_differing_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    turns = await stored_turns(db, demo.session_id)
    refinement = state_machine.S.IDENTITY_REFINEMENT
    asking = [t.seq for t in turns if t.requested_transition is refinement]
    made = next(t.seq for t in turns if t.state_after is refinement)
    monkeypatch.setattr(state_machine, "MIN_ACCEPTED_IDENTITIES", 4)
    report = await replay_session(db, demo.session_id)
    # The guard is asked first at the earliest turn requesting refinement: its reason changes.
    first = report.first_difference
    assert first is not None and first.seq == asking[0]
    assert "needs at least 4 accepted identities" in first.describe()
    # The move the original made is refused now, and the session stays behind from there on.
    at_move = {d.what: d for d in report.differences if d.seq == made}
    assert at_move["phase after"].replayed == "identity_brainstorming"
    assert any(d.what == "phase" and d.seq == 0 for d in report.differences)


async def test_what_cannot_be_replayed_exactly_is_refused() -> None:
    db = InMemoryDatabase()
    with pytest.raises(InputError, match="does not exist"):
        await replay_session(db, "nope")
    demo = await play_demo(db)
    # The client's second session continues the first: it starts past the introduction.
    service = CoachService(ScriptedLLMClient([{"message": "Welcome back."}]), db)
    later = await service.start_session(demo.user_id)
    await service.send_message_and_wait(demo.user_id, later.session_id, "I am back")
    with pytest.raises(InputError, match="continues an earlier session"):
        await replay_session(db, later.session_id)
