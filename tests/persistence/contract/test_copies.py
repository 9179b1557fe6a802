"""Contract: records passed in and returned are copies; changing one changes nothing stored."""

from __future__ import annotations

from coach.enums import ActionStatus, CoachingState, IdentityState, MessageRole
from coach.persistence import (
    ActionItemRecord,
    ActionResultRecord,
    DatabaseInterface,
    MessageRecord,
)

from . import builders as b


async def test_changing_a_returned_user_or_state_changes_nothing_stored(
    db: DatabaseInterface,
) -> None:
    """Mutating what get_user, save_user, get_state and save_state return leaves the store as is."""
    saved_user = await db.save_user(b.user("ann", data={"name": "Ann", "goals": ["run"]}))
    saved_user.data["name"] = "Changed"
    loaded_user = await db.get_user("ann")
    assert loaded_user is not None
    loaded_user.data["goals"].append("swim")  # type: ignore[union-attr]
    loaded_user.data["extra"] = True

    saved_state = await db.save_state(b.state("ann", "s1", CoachingState.IDENTITY_BRAINSTORMING))
    saved_state.state = CoachingState.ACCOUNTABILITY
    loaded_state = await db.get_state("ann", "s1")
    assert loaded_state is not None
    loaded_state.focus_identity_id = "changed"

    user = await db.get_user("ann")
    assert user is not None
    assert user.data == {"name": "Ann", "goals": ["run"]}
    state = await db.get_state("ann", "s1")
    assert state is not None
    assert (state.state, state.focus_identity_id) == (CoachingState.IDENTITY_BRAINSTORMING, None)


async def test_changing_a_returned_context_changes_nothing_stored(db: DatabaseInterface) -> None:
    """Mutating a loaded or saved context's messages or user data leaves the store as is."""
    saved = await db.save_context(
        b.context("ann", "s1", b.messages(2), user_data={"summary": {"text": "so far"}})
    )
    saved.messages[0] = b.message("changed by the caller")
    saved.user_data["summary"] = "changed"
    loaded = await db.get_context("ann", "s1")
    assert loaded is not None
    loaded.messages[1] = b.message("changed by the caller")
    loaded.messages.append(b.message("sneaked in"))
    loaded.user_data["summary"]["text"] = "changed"  # type: ignore[index]
    windowed = await db.get_context("ann", "s1", message_limit=1)
    assert windowed is not None
    windowed.messages[0] = b.message("changed by the caller")
    listed = await db.list_messages("s1")
    listed[0] = b.message("changed by the caller")

    stored = await db.get_context("ann", "s1")
    assert stored is not None
    assert [m.content for m in stored.messages] == ["message 0", "message 1"]
    assert stored.user_data == {"summary": {"text": "so far"}}
    assert [m.content for m in await db.list_messages("s1")] == ["message 0", "message 1"]


async def test_changing_a_returned_identity_or_turn_changes_nothing_stored(
    db: DatabaseInterface,
) -> None:
    """Mutating identities and turns returned by any method leaves the store as is."""
    item = ActionItemRecord(text="walk daily")
    saved_identity = await db.save_identity(
        b.identity("ann", "Daily Walker", notes=["first"], action_items=[item])
    )
    saved_identity.notes.append("from save")
    for loaded in (await db.get_identity(saved_identity.id), (await db.get_identities("ann"))[0]):
        assert loaded is not None
        loaded.notes.append("from get")
        loaded.action_items[0].text = "changed"
    updated = await db.update_identity(saved_identity.id, {"state": IdentityState.ACCEPTED})
    assert updated is not None
    updated.notes.clear()

    action = ActionResultRecord(
        type="create_identity", params={"label": "Daily Walker"}, status=ActionStatus.APPLIED
    )
    saved_turn = await db.save_turn(b.turn("ann", "s1", "m1", actions=[action], details={"a": 1}))
    saved_turn.actions[0].params["label"] = "changed"
    listed = (await db.list_turns("s1"))[0]
    listed.actions[0].params["label"] = "listed"
    opened = await db.get_turn("s1", 1)
    assert opened is not None
    opened.details["a"] = 2
    found = await db.get_turn_for_message("s1", "m1")
    assert found is not None
    found.actions.clear()

    identity = await db.get_identity(saved_identity.id)
    assert identity is not None
    assert identity.notes == ["first"]
    assert [i.text for i in identity.action_items] == ["walk daily"]
    stored_turn = await db.get_turn("s1", 1)
    assert stored_turn is not None
    assert stored_turn.actions[0].params == {"label": "Daily Walker"}
    assert stored_turn.details == {"a": 1}


async def test_changing_a_record_after_saving_it_changes_nothing_stored(
    db: DatabaseInterface,
) -> None:
    """The store keeps its own copy: the caller's record stays the caller's."""
    user = b.user("ann", data={"goals": ["run"]})
    await db.save_user(user)
    user.data["goals"].append("swim")  # type: ignore[union-attr]

    msgs = b.messages(2)
    ctx = b.context("ann", "s1", msgs, user_data={"k": ["v"]})
    await db.save_context(ctx)
    msgs[0] = b.message("changed")
    ctx.messages.append(MessageRecord(role=MessageRole.USER, content="sneaked in"))
    ctx.user_data["k"].append("w")  # type: ignore[union-attr]

    identity = b.identity("ann", "Daily Walker", notes=["first"])
    await db.save_identity(identity)
    identity.notes.append("changed")

    turn = b.turn("ann", "s1", "m1", details={"d": [1]})
    await db.save_turn(turn)
    turn.details["d"].append(2)  # type: ignore[union-attr]

    stored_user = await db.get_user("ann")
    assert stored_user is not None
    assert stored_user.data == {"goals": ["run"]}
    stored_ctx = await db.get_context("ann", "s1")
    assert stored_ctx is not None
    assert [m.content for m in stored_ctx.messages] == ["message 0", "message 1"]
    assert stored_ctx.user_data == {"k": ["v"]}
    stored_identity = await db.get_identity(identity.id)
    assert stored_identity is not None
    assert stored_identity.notes == ["first"]
    stored_turn = await db.get_turn("s1", 1)
    assert stored_turn is not None and stored_turn.details == {"d": [1]}
