"""Contract: a session's state is one record, replaced on save and deleted on its own."""

from __future__ import annotations

from coach.enums import CoachingState
from coach.persistence import DatabaseInterface

from . import builders as b


async def test_save_state_stores_phase_and_focus(db: DatabaseInterface) -> None:
    """get_state returns the phase and focus identity that save_state stored."""
    saved = await db.save_state(
        b.state("ann", "s1", CoachingState.IDENTITY_REFINEMENT, focus_identity_id="i-1")
    )
    loaded = await db.get_state("ann", "s1")
    assert loaded is not None
    assert (loaded.user_id, loaded.session_id, loaded.state, loaded.focus_identity_id) == (
        "ann",
        "s1",
        CoachingState.IDENTITY_REFINEMENT,
        "i-1",
    )
    assert (saved.state, saved.focus_identity_id) == (loaded.state, loaded.focus_identity_id)


async def test_save_state_replaces_the_previous_state(db: DatabaseInterface) -> None:
    """The last save_state wins, including clearing the focus identity."""
    await db.save_state(
        b.state("ann", "s1", CoachingState.IDENTITY_REFINEMENT, focus_identity_id="i-1")
    )
    await db.save_state(b.state("ann", "s1", CoachingState.IDENTITY_BRAINSTORMING))
    loaded = await db.get_state("ann", "s1")
    assert loaded is not None
    assert (loaded.state, loaded.focus_identity_id) == (CoachingState.IDENTITY_BRAINSTORMING, None)
    assert (await db.count_records())["states"] == 1


async def test_delete_state_removes_the_state_only(db: DatabaseInterface) -> None:
    """delete_state returns True once; the session and its context stay."""
    await db.save_context(b.context("ann", "s1", b.messages(2)))
    await db.save_state(b.state("ann", "s1", CoachingState.IDENTITY_BRAINSTORMING))
    assert await db.delete_state("ann", "s1") is True
    assert await db.delete_state("ann", "s1") is False
    assert await db.get_state("ann", "s1") is None
    session = await db.get_session("s1")
    assert session is not None
    assert (session.state, session.message_count) == (None, 2)
    assert await db.get_context("ann", "s1") is not None
