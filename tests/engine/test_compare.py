"""Comparing two sessions: a fork continued otherwise diverges at the turn after the fork, an
exact replay nowhere; identities, totals and the phase paths side by side; the transcript a
page at a time."""

from __future__ import annotations

import pytest

from coach.demo import DEMO_STEPS, play_demo
from coach.errors import InputError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService
from coach.sessions.compare import compare_sessions, transcript_page

AT = 6


async def made(service: CoachService, started: object) -> str:
    session_id = started.session_id  # type: ignore[attr-defined]
    handle = service.sessions.handle(session_id)
    assert handle is not None
    await handle.ended()
    assert handle.error is None
    return session_id


async def test_a_continued_fork_diverges_after_the_fork(db: DatabaseInterface) -> None:
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient([{"message": "Something else entirely."}]), db)
    fork = await made(service, await service.sessions.fork(demo.session_id, AT))
    fork_user = (await db.get_session(fork)).user_id  # type: ignore[union-attr]
    original_next = DEMO_STEPS[AT].user
    await service.send_message_and_wait(fork_user, fork, original_next)

    found = await compare_sessions(db, demo.session_id, fork)
    assert found.first_divergence == AT + 1
    assert found.first_text_divergence == AT + 1  # same message, another reply
    assert found.first_event_divergence == AT + 1  # the original's turn 7 acted, the fork's not
    assert any("actions" in line for line in found.event_divergence)
    assert (found.a.turns, found.b.turns) == (len(DEMO_STEPS), AT + 1)
    assert found.a.phase_path[:AT] == found.b.phase_path[:AT]
    assert found.a.input_tokens > found.b.input_tokens > 0
    # The identities the original found after the fork are only in A.
    assert found.identities and {c.change for c in found.identities} <= {"only in A", "changed"}
    payload = found.as_json()
    assert payload["first_divergence"] == AT + 1

    rows = await transcript_page(db, demo.session_id, fork, after_seq=AT - 2, limit=3)
    assert [r.seq for r in rows] == [AT - 1, AT, AT + 1]
    assert [r.differs for r in rows] == [False, False, True]
    assert rows[2].a_texts[0] == rows[2].b_texts[0] == original_next
    assert rows[2].b_texts[1] == "Something else entirely."
    tail = await transcript_page(db, demo.session_id, fork, after_seq=AT + 1, limit=5)
    assert [(r.seq, r.b is None, r.differs) for r in tail] == [
        (seq, True, True) for seq in range(AT + 2, len(DEMO_STEPS) + 1)
    ]


async def test_an_exact_replay_does_not_diverge(db: DatabaseInterface) -> None:
    demo = await play_demo(db)
    service = CoachService(ScriptedLLMClient(), db)
    replay = await made(service, await service.sessions.replay(demo.session_id))
    found = await compare_sessions(db, demo.session_id, replay)
    assert (found.first_divergence, found.event_divergence, found.identities) == (None, [], [])
    assert found.a.phase_path == found.b.phase_path and found.a.turns == len(DEMO_STEPS)


async def test_a_missing_session_is_named(db: DatabaseInterface) -> None:
    demo = await play_demo(db)
    with pytest.raises(InputError, match="session nope does not exist"):
        await compare_sessions(db, demo.session_id, "nope")
