"""Contract: users are stored whole, merged by update_user_data and summarised by list_users."""

from __future__ import annotations

from datetime import UTC, datetime

from coach.persistence import DatabaseInterface

from . import builders as b


async def test_save_user_stores_the_record_and_returns_it(db: DatabaseInterface) -> None:
    """save_user returns the stored user; get_user returns the same id, data and created_at."""
    created = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    saved = await db.save_user(
        b.user("ann", data={"name": "Ann", "goals": ["run"]}, created_at=created)
    )
    loaded = await db.get_user("ann")
    assert loaded is not None
    assert (loaded.id, loaded.data, loaded.created_at) == (
        "ann",
        {"name": "Ann", "goals": ["run"]},
        created,
    )
    assert (saved.id, saved.data, saved.created_at) == (loaded.id, loaded.data, loaded.created_at)


async def test_save_user_replaces_data_keeps_created_at_and_sets_updated_at(
    db: DatabaseInterface,
) -> None:
    """Saving an existing user replaces its data, keeps created_at and sets updated_at to now."""
    first = datetime(2020, 1, 1, tzinfo=UTC)
    await db.save_user(b.user("ann", data={"name": "Ann", "goals": ["run"]}, created_at=first))
    before = b.tick()
    await db.save_user(
        b.user("ann", data={"name": "Anna"}, created_at=datetime(2025, 1, 1, tzinfo=UTC), version=1)
    )
    stored = await db.get_user("ann")
    assert stored is not None
    assert stored.data == {"name": "Anna"}
    assert stored.created_at == first
    assert stored.updated_at >= before


async def test_update_user_data_replaces_top_level_keys_only(db: DatabaseInterface) -> None:
    """update_user_data merges by top-level key: named keys are replaced whole, others are kept."""
    await db.save_user(
        b.user("ann", data={"name": "Ann", "goals": ["run"], "prefs": {"tone": "warm", "len": 1}})
    )
    updated = await db.update_user_data(
        "ann", {"goals": ["swim"], "prefs": {"len": 2}, "new": None}
    )
    expected = {"name": "Ann", "goals": ["swim"], "prefs": {"len": 2}, "new": None}
    assert updated is not None
    assert updated.data == expected
    stored = await db.get_user("ann")
    assert stored is not None
    assert stored.data == expected
    assert stored.updated_at >= stored.created_at


async def test_list_users_summarises_name_session_count_and_last_activity(
    db: DatabaseInterface,
) -> None:
    """A user's summary carries data["name"], the number of sessions and the latest activity."""
    await db.save_user(b.user("ann", data={"name": "Ann"}))
    await db.save_user(b.user("bob"))
    await db.save_context(b.context("ann", "s1", b.messages(1)))
    await db.save_context(b.context("ann", "s2", b.messages(1)))

    rows = {row.id: row for row in (await db.list_users()).items}
    s1, s2 = await db.get_session("s1"), await db.get_session("s2")
    assert s1 is not None and s2 is not None
    assert (rows["ann"].name, rows["ann"].session_count) == ("Ann", 2)
    assert rows["ann"].last_activity_at == max(s1.last_activity_at, s2.last_activity_at)
    assert (rows["bob"].name, rows["bob"].session_count, rows["bob"].last_activity_at) == (
        None,
        0,
        None,
    )


async def test_list_users_search_matches_id_or_name_prefix_ignoring_case(
    db: DatabaseInterface,
) -> None:
    """search keeps users whose id or name starts with the text, in any case."""
    await db.save_user(b.user("anchor-1", data={"name": "Zara"}))
    await db.save_user(b.user("bob-2", data={"name": "Anne"}))
    await db.save_user(b.user("zed-3", data={"name": "Zoë"}))
    cases = {"an": {"anchor-1", "bob-2"}, "BO": {"bob-2"}, "z": {"anchor-1", "zed-3"}, "x": set()}
    for search, expected in cases.items():
        found = {u.id for u in (await db.list_users(search=search)).items}
        assert found == expected, search
