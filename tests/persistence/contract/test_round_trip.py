"""Contract: text, JSON and timestamps come back exactly as stored; timestamps are UTC-aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from coach.enums import ActionStatus, MessageRole
from coach.persistence import (
    ActionItemRecord,
    ActionResultRecord,
    DatabaseInterface,
)

from . import builders as b

AWKWARD_TEXTS = [
    "plain ascii",
    "emoji 👩🏽‍💻🚀🏳️‍🌈 and flags 🇳🇱",
    "RTL: مرحبا بك في التدريب — שלום עולם",
    "combining: e\u0301 n\u0303 and zero\u200bwidth\u200djoiners\ufeff",
    "controls:" + "".join(chr(c) for c in range(1, 32)) + "\x7f\x85",
    "quotes ' \" ` \\ and %s %(name)s {braces} $1 ;-- DROP TABLE users;",
    "  leading and trailing whitespace\n\n",
    "",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 beyond the BMP 𠜎𠜱",
]

NESTED_JSON: dict[str, Any] = {
    "name": "Zoë 👋",
    "goals": ["run a 10k", "read 12 books"],
    "empty": {},
    "none": None,
    "flags": [True, False],
    "numbers": {"int": 42, "negative": -7, "big": 2**40, "float": 3.25, "small": 1e-7},
    "deep": {"a": {"b": {"c": [1, {"d": ["e", {"f": None}]}]}}},
    "unicode key ✓": "שלום",
    "mixed": [1, "two", 3.5, None, [], {}],
}


def all_timestamps(record: Any) -> list[datetime]:
    """Every datetime in a record, nested records and lists included."""
    found: list[datetime] = []
    values = record.__dict__.values() if isinstance(record, BaseModel) else record
    for value in values:
        if isinstance(value, datetime):
            found.append(value)
        elif isinstance(value, list | BaseModel):
            found.extend(all_timestamps(value))
    return found


async def test_timestamps_come_back_utc_aware_whatever_zone_was_saved(
    db: DatabaseInterface,
) -> None:
    """Naive (taken as UTC) and non-UTC times are stored as the same instant, returned in UTC."""
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    plus_five = datetime(2024, 5, 6, 12, 8, 9, 123456, tzinfo=timezone(timedelta(hours=5)))
    instant = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

    await db.save_user(b.user("ann", created_at=naive))
    await db.save_context(
        b.context(
            "ann", "s1", [b.message("a", created_at=naive), b.message("b", created_at=plus_five)]
        )
    )
    await db.save_state(b.state("ann", "s1", created_at=plus_five, updated_at=naive))
    item = ActionItemRecord(text="x", created_at=naive, done=True, done_at=plus_five)
    identity = await db.save_identity(
        b.identity("ann", "Daily Walker", created_at=plus_five, action_items=[item])
    )
    await db.save_turn(b.turn("ann", "s1", created_at=plus_five))

    user = await db.get_user("ann")
    ctx = await db.get_context("ann", "s1")
    state = await db.get_state("ann", "s1")
    stored_identity = await db.get_identity(identity.id)
    turns = await db.list_turns("s1")
    session = await db.get_session("s1")
    users = (await db.list_users()).items
    assert user and ctx and state and stored_identity and turns and session and users

    assert user.created_at == instant
    assert [m.created_at for m in ctx.messages] == [instant, instant]
    assert stored_identity.created_at == instant
    assert stored_identity.action_items[0].created_at == instant
    assert stored_identity.action_items[0].done_at == instant
    assert turns[0].created_at == instant
    records = [user, ctx, state, stored_identity, turns[0], session, *users]
    records += await db.list_messages("s1")
    stamps = [t for r in records for t in all_timestamps(r)]
    assert len(stamps) == 19
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in stamps), stamps


async def test_awkward_text_round_trips_exactly(db: DatabaseInterface) -> None:
    """Emoji, RTL, combining marks, control characters and quotes come back unchanged everywhere."""
    msgs = [b.message(text) for text in AWKWARD_TEXTS]
    await db.save_user(b.user("ann", data={"name": AWKWARD_TEXTS[1], "all": AWKWARD_TEXTS}))
    await db.save_context(b.context("ann", "s1", msgs, user_data={"summary": AWKWARD_TEXTS[2]}))
    identity = await db.save_identity(
        b.identity("ann", AWKWARD_TEXTS[1], description=AWKWARD_TEXTS[4], notes=AWKWARD_TEXTS)
    )
    await db.save_turn(
        b.turn("ann", "s1", system_prompt=AWKWARD_TEXTS[5], raw_output=AWKWARD_TEXTS[4])
    )

    ctx = await db.get_context("ann", "s1")
    assert ctx is not None
    assert [m.content for m in ctx.messages] == AWKWARD_TEXTS
    assert ctx.user_data == {"summary": AWKWARD_TEXTS[2]}
    user = await db.get_user("ann")
    assert user is not None
    assert user.data == {"name": AWKWARD_TEXTS[1], "all": AWKWARD_TEXTS}
    stored = await db.get_identity(identity.id)
    assert stored is not None
    assert (stored.label, stored.description, stored.notes) == (
        AWKWARD_TEXTS[1],
        AWKWARD_TEXTS[4],
        AWKWARD_TEXTS,
    )
    turn = await db.get_turn("s1", 1)
    assert turn is not None
    assert (turn.system_prompt, turn.raw_output) == (AWKWARD_TEXTS[5], AWKWARD_TEXTS[4])
    assert [u.name for u in (await db.list_users()).items] == [AWKWARD_TEXTS[1]]


async def test_a_100_kb_message_round_trips(db: DatabaseInterface) -> None:
    """A 100 KB message with multi-byte characters is stored and loaded whole."""
    content = ("Lorem ipsum ✓ שלום 👋 " * 5000)[:100_000]
    await db.save_context(b.context("ann", "s1", [b.message(content, MessageRole.COACH)]))
    ctx = await db.get_context("ann", "s1")
    assert ctx is not None
    assert ctx.messages[0].content == content
    assert (await db.list_messages("s1"))[0].content == content


async def test_nested_plain_json_round_trips_in_every_json_field(db: DatabaseInterface) -> None:
    """User data, context user_data, turn details and action params keep nested plain JSON."""
    await db.save_user(b.user("ann", data=NESTED_JSON))
    await db.save_context(b.context("ann", "s1", user_data=NESTED_JSON))
    action = ActionResultRecord(
        type="save_user_info", params=NESTED_JSON, status=ActionStatus.APPLIED
    )
    await db.save_turn(b.turn("ann", "s1", details=NESTED_JSON, actions=[action]))
    updated = await db.update_user_data("ann", {"extra": NESTED_JSON["deep"]})

    user = await db.get_user("ann")
    ctx = await db.get_context("ann", "s1")
    turn = await db.get_turn("s1", 1)
    assert user and ctx and updated and turn
    assert user.data == {**NESTED_JSON, "extra": NESTED_JSON["deep"]}
    assert updated.data == user.data
    assert ctx.user_data == NESTED_JSON
    assert turn.details == NESTED_JSON
    assert turn.actions == [action]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        max_size=200,
    ),
    data=st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.text(
            alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
            max_size=20,
        ),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.text(
                    alphabet=st.characters(
                        blacklist_categories=["Cs"], blacklist_characters="\x00"
                    ),
                    max_size=10,
                ),
                children,
                max_size=4,
            )
        ),
        max_leaves=12,
    ),
)
async def test_any_text_and_plain_json_round_trip(
    db: DatabaseInterface, text: str, data: Any
) -> None:
    """Any NUL-free text as message content and any plain JSON as user data come back equal."""
    session = b.uid("session")
    await db.save_context(b.context("ann", session, [b.message(text)], user_data={"value": data}))
    ctx = await db.get_context("ann", session)
    assert ctx is not None
    assert (ctx.messages[0].content, ctx.user_data) == (text, {"value": data})
