"""Contract: identities belong to their user, keep labels unique among the non-dismissed ones, and
change only through allowed fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from coach.enums import IdentityCategory, IdentityState
from coach.errors import DuplicateLabelError
from coach.persistence import ActionItemRecord, DatabaseInterface, IdentityRecord

from . import builders as b


async def test_every_identity_field_round_trips(db: DatabaseInterface) -> None:
    """An identity with every field set comes back equal except updated_at, which is now."""
    created = datetime(2025, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    identity = IdentityRecord(
        user_id="ann",
        label="Creative Visionary",
        category=IdentityCategory.PASSIONS_AND_TALENTS,
        description="Makes new things every week",
        state=IdentityState.REFINED,
        affirmation="I am a creative visionary.",
        visualization="Morning light, a sketchbook open, coffee steaming.",
        notes=["loves painting", "wants a studio"],
        action_items=[
            ActionItemRecord(text="sketch 10 minutes", created_at=created),
            ActionItemRecord(text="join a class", done=True, created_at=created, done_at=created),
        ],
        session_id="s1",
        created_at=created,
        updated_at=created,
    )
    before = b.tick()
    saved = await db.save_identity(identity)
    loaded = await db.get_identity(identity.id)
    assert loaded is not None
    assert loaded.updated_at >= before
    assert saved.updated_at == loaded.updated_at
    expected = identity.model_copy(update={"updated_at": loaded.updated_at, "version": 1})
    assert loaded == expected
    assert saved == expected
    assert await db.get_identities("ann") == [expected]


async def test_get_identities_returns_creation_order_including_dismissed(
    db: DatabaseInterface,
) -> None:
    """get_identities lists a user's identities oldest first, dismissed ones too, others' never."""
    labels = ["First One", "Second One", "Third One"]
    for label, state in zip(
        labels,
        [IdentityState.ACCEPTED, IdentityState.DISMISSED, IdentityState.PROPOSED],
        strict=True,
    ):
        await db.save_identity(b.identity("ann", label, state=state))
    await db.save_identity(b.identity("bob", "Bob's Own"))
    assert [i.label for i in await db.get_identities("ann")] == labels
    assert [i.label for i in await db.get_identities("bob")] == ["Bob's Own"]


async def test_get_identities_filters_by_session(db: DatabaseInterface) -> None:
    """session_id keeps the identities found in that session; without it all sessions count."""
    await db.save_identity(b.identity("ann", "Found In One", session_id="s1"))
    await db.save_identity(b.identity("ann", "Found In Two", session_id="s2"))
    await db.save_identity(b.identity("ann", "Found Nowhere"))
    assert [i.label for i in await db.get_identities("ann", session_id="s1")] == ["Found In One"]
    assert [i.label for i in await db.get_identities("ann", session_id="s2")] == ["Found In Two"]
    assert len(await db.get_identities("ann")) == 3


async def test_a_label_clash_ignoring_case_and_spacing_raises_duplicate_label_error(
    db: DatabaseInterface,
) -> None:
    """Labels are compared in label_key form; a clash among non-dismissed identities is refused."""
    await db.save_identity(b.identity("ann", "Creative Visionary"))
    for clash in ("creative visionary", "CREATIVE VISIONARY", "  Creative   Visionary "):
        with b.raises(DuplicateLabelError):
            await db.save_identity(b.identity("ann", clash, state=IdentityState.ACCEPTED))
    assert [i.label for i in await db.get_identities("ann")] == ["Creative Visionary"]


async def test_labels_may_repeat_across_users_dismissals_and_resaves(
    db: DatabaseInterface,
) -> None:
    """Another user, a dismissed identity, or the same identity saved again never clash."""
    mine = await db.save_identity(b.identity("ann", "Creative Visionary"))
    await db.save_identity(b.identity("bob", "Creative Visionary"))
    again = await db.save_identity(mine.model_copy(update={"description": "saved again"}))
    await db.save_identity(again.model_copy(update={"state": IdentityState.DISMISSED}))
    await db.save_identity(b.identity("ann", "creative visionary", state=IdentityState.DISMISSED))
    await db.save_identity(b.identity("ann", "Creative visionary"))
    states = [(i.label, i.state) for i in await db.get_identities("ann")]
    assert states == [
        ("Creative Visionary", IdentityState.DISMISSED),
        ("creative visionary", IdentityState.DISMISSED),
        ("Creative visionary", IdentityState.PROPOSED),
    ]


async def test_update_identity_changes_the_named_fields_only(db: DatabaseInterface) -> None:
    """update_identity applies the changes, keeps the rest and created_at, and sets updated_at."""
    original = await db.save_identity(
        b.identity("ann", "Daily Walker", description="walks", notes=["a"], session_id="s1")
    )
    before = b.tick()
    item = ActionItemRecord(text="walk to work")
    updated = await db.update_identity(
        original.id,
        {
            "label": "Daily Runner",
            "state": IdentityState.ACCEPTED,
            "notes": ["a", "b"],
            "action_items": [item.model_dump(mode="json")],
            "affirmation": "I am a runner.",
        },
    )
    stored = await db.get_identity(original.id)
    assert stored is not None
    assert updated == stored
    assert (stored.label, stored.state, stored.notes, stored.affirmation) == (
        "Daily Runner",
        IdentityState.ACCEPTED,
        ["a", "b"],
        "I am a runner.",
    )
    assert stored.action_items == [item]
    assert (stored.description, stored.session_id, stored.user_id) == ("walks", "s1", "ann")
    assert stored.created_at == original.created_at
    assert stored.updated_at >= before


REFUSED_CHANGES: list[dict[str, Any]] = [
    {"id": "new-id"},
    {"user_id": "bob"},
    {"created_at": "2020-01-01T00:00:00Z"},
    {"colour": "red"},
    {"state": "not-a-state"},
    {"category": "astrology"},
]


async def test_update_identity_refuses_frozen_unknown_or_invalid_changes(
    db: DatabaseInterface,
) -> None:
    """A frozen or unknown field or an invalid value raises ValueError and changes nothing."""
    original = await db.save_identity(b.identity("ann", "Daily Walker"))
    for changes in REFUSED_CHANGES:
        with b.raises(ValueError):
            await db.update_identity(original.id, {"label": "Changed Too", **changes})
    assert await db.get_identity(original.id) == original
    assert await db.get_identities("bob") == []


async def test_update_identity_to_a_clashing_label_or_revived_clash_raises(
    db: DatabaseInterface,
) -> None:
    """Renaming onto a taken label, or un-dismissing onto one, raises DuplicateLabelError."""
    await db.save_identity(b.identity("ann", "Night Owl"))
    walker = await db.save_identity(b.identity("ann", "Daily Walker"))
    old = await db.save_identity(b.identity("ann", "night owl", state=IdentityState.DISMISSED))
    with b.raises(DuplicateLabelError):
        await db.update_identity(walker.id, {"label": "NIGHT OWL"})
    with b.raises(DuplicateLabelError):
        await db.update_identity(old.id, {"state": IdentityState.ACCEPTED})
    assert await db.get_identity(walker.id) == walker
    assert await db.get_identity(old.id) == old


async def test_delete_identity_removes_that_identity_only(db: DatabaseInterface) -> None:
    """delete_identity returns True once and leaves the user's other identities."""
    first = await db.save_identity(b.identity("ann", "First One"))
    second = await db.save_identity(b.identity("ann", "Second One"))
    assert await db.delete_identity(first.id) is True
    assert await db.delete_identity(first.id) is False
    assert await db.get_identity(first.id) is None
    assert await db.get_identities("ann") == [second]
    assert (await db.count_records())["identities"] == 1
