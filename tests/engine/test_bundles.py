"""Bundles: export a session or a user, import it into another backend and export again (equal
apart from ids, or wholly with ``keep_ids``); every bad bundle is refused with its problems and
changes nothing; the Coach page's older export is upgraded; the schema file is the format's."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from coach.demo import play_demo
from coach.errors import IdsTakenError, LLMRateLimitError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.factory import create_database_from_url
from coach.persistence.memory import InMemoryDatabase
from coach.prompts.library import PromptPin
from coach.service import CoachService
from coach.sessions.bundles import (
    SCHEMA_PATH,
    Bundle,
    BundleError,
    bundle_schema,
    export_session,
    export_user,
    import_bundle,
    moved_versions,
    read_bundle,
)
from tests.records import new_introduction, stored_turns

LEGACY_EXPORT = Path(__file__).with_name("data") / "session-export-v1.json"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def rich_user(db: DatabaseInterface) -> tuple[str, str]:
    """The demo client with a second session holding a failed turn, and a fork of the demo
    session (a session with an origin): (user id, demo session id)."""
    demo = await play_demo(db)
    service = CoachService(
        ScriptedLLMClient([LLMRateLimitError("429"), {"message": "Back again."}]), db
    )
    later = await service.start_session(demo.user_id)
    failed = await service.send_message_and_wait(demo.user_id, later.session_id, "Still here")
    assert not failed.ok
    fork = await service.sessions.fork(demo.session_id, 4)
    handle = service.sessions.handle(fork.session_id)
    assert handle is not None
    await handle.ended()
    return demo.user_id, demo.session_id


def without_ids(bundle: Bundle) -> Any:
    """The bundle's JSON with each id replaced by its order of first appearance."""
    seen: dict[str, str] = {}
    text = bundle.model_dump_json(exclude={"exported_at"})
    return json.loads(UUID.sub(lambda m: seen.setdefault(m.group(), f"id-{len(seen)}"), text))


@pytest.fixture
async def sqlite_db(migrated_sqlite_url: str) -> AsyncIterator[DatabaseInterface]:
    db = create_database_from_url(migrated_sqlite_url)
    yield db
    await db.close()


@pytest.fixture
async def postgres_db(migrated_postgres_url: str) -> AsyncIterator[DatabaseInterface]:
    db = create_database_from_url(migrated_postgres_url)
    yield db
    await db.close()


async def test_a_user_round_trips_sqlite_to_postgresql_to_memory(
    sqlite_db: DatabaseInterface, postgres_db: DatabaseInterface
) -> None:
    user_id, _ = await rich_user(sqlite_db)
    first = await export_user(sqlite_db, user_id)
    memory = InMemoryDatabase()
    assert len(first.records.sessions) == 2 and first.records.prompt_versions
    # New ids (the default): equal apart from the ids.
    imported = await import_bundle(postgres_db, read_bundle(first.to_json()))
    second = await export_user(postgres_db, imported.users[0].id)
    assert without_ids(second) == without_ids(first)
    assert second.records.users[0].id != user_id
    # The same ids: equal, whole; then PostgreSQL to memory, the same.
    await import_bundle(memory, read_bundle(second.to_json()), keep_ids=True)
    third = await export_user(memory, second.records.users[0].id)
    assert third.model_dump(exclude={"exported_at"}) == second.model_dump(exclude={"exported_at"})
    # The fork's lineage travelled with it.
    origins = [s.origin for s in third.records.sessions if s.origin is not None]
    assert origins == [] or all(o.kind.value == "fork" for o in origins)


async def test_an_imported_session_goes_on_in_the_engine(db: DatabaseInterface) -> None:
    source = InMemoryDatabase()
    demo = await play_demo(source)
    bundle = await export_session(source, demo.session_id)
    stored = await import_bundle(db, read_bundle(bundle.to_json()))
    [session] = stored.sessions
    service = CoachService(ScriptedLLMClient([{"message": "Welcome back to it."}]), db)
    result = await service.send_message_and_wait(session.user_id, session.session_id, "Hello")
    assert result.ok and result.turn_seq == len(session.turns) + 1


async def test_the_coach_pages_older_export_is_upgraded(db: DatabaseInterface) -> None:
    """A file the Coach page exported before bundles (format version 1: the demo session)."""
    legacy = LEGACY_EXPORT.read_text()
    assert json.loads(legacy)["version"] == 1
    bundle = read_bundle(legacy)
    assert bundle.format_version == 2
    stored = await import_bundle(db, bundle)
    [session] = stored.sessions
    assert len(session.turns) == 10 and len(stored.identities) == 4
    summary = await db.get_session(session.session_id)
    assert summary is not None and summary.turn_count == 10 and summary.message_count == 21


def bad(bundle: Bundle, change: Any) -> str:
    document = json.loads(bundle.to_json())
    change(document)
    return json.dumps(document)


async def test_bad_bundles_say_why_and_change_nothing(db: DatabaseInterface) -> None:
    source = InMemoryDatabase()
    demo = await play_demo(source)
    bundle = await export_session(source, demo.session_id)
    text = bundle.to_json()
    session = "records.sessions[0]"

    def role(d: dict[str, Any]) -> None:
        d["records"]["sessions"][0]["context"]["messages"][3]["role"] = "robot"

    def dangling(d: dict[str, Any]) -> None:
        d["records"]["sessions"][0]["turns"][2]["coach_message_id"] = "gone"

    def foreign(d: dict[str, Any]) -> None:
        d["records"]["identities"][0]["user_id"] = "someone-else"

    cases = {
        "truncated JSON": (text[: len(text) // 2], "not JSON"),
        "unknown format version": (
            bad(bundle, lambda d: d.update(format_version=9)),
            "format_version: 9 is unknown",
        ),
        "missing section": (
            bad(bundle, lambda d: d["records"].pop("identities")),
            "records.identities: the section is missing",
        ),
        "unknown role": (bad(bundle, role), f"{session}.context.messages[3].role: Input should"),
        "turn at a missing message": (
            bad(bundle, dangling),
            f"{session}.turns[2].coach_message_id: message gone is not in this session",
        ),
        "identity of another user": (
            bad(bundle, foreign),
            "records.identities[0].user_id: user someone-else is not among the users",
        ),
        "not a bundle": (json.dumps([1, 2]), "a JSON list, not an object"),
        "empty file": (" \n", "the file is empty"),
    }
    before = await db.count_records()
    for name, (data, problem) in cases.items():
        with pytest.raises(BundleError) as refused:
            await import_bundle(db, read_bundle(data))
        assert problem in str(refused.value), (name, str(refused.value))
    # Every problem at once.
    with pytest.raises(BundleError) as refused:
        read_bundle(bad(bundle, lambda d: (dangling(d), foreign(d))))
    assert len(refused.value.problems) == 3  # the identity breaks two rules
    assert await db.count_records() == before


def test_a_bundle_over_the_limit_is_refused_before_it_is_parsed() -> None:
    huge = b'{"format": "identity-coach-bundle", "pad": "' + b"x" * 25_000_000 + b'"}'
    with pytest.raises(
        BundleError, match=r"at most 25 MB can be imported\. Raise COACH_MAX_BUNDLE_MB"
    ):
        read_bundle(huge)
    with pytest.raises(BundleError, match="format_version: None is unknown"):  # read: under 30 MB
        read_bundle(huge, max_mb=30)


async def test_prompt_versions_take_the_numbers_of_the_database_they_go_into(
    db: DatabaseInterface,
) -> None:
    """Two databases whose coaches each saved an introduction of their own as version 2: the
    bundle's version goes in as the next free number, the turn and the session's pin name it,
    and the session goes on with it; imported again, it finds that version stored."""
    source = InMemoryDatabase()
    coach = CoachService(ScriptedLLMClient([{"message": "Hello."}]), source)
    started = await coach.start_session("u1", user_name="Ana")  # loads the prompt files: @1
    mine = await new_introduction(source, "MARKER-A", activate=True)
    await coach.pin_prompts("u1", started.session_id, PromptPin(versions={"introduction": mine}))
    assert (await coach.send_message_and_wait("u1", started.session_id, "Hi")).ok
    text = (await export_session(source, started.session_id)).to_json()

    here = CoachService(ScriptedLLMClient([{"message": "Welcome back."}]), db)
    await here.start_session("u2", user_name="Bo")  # loads the same prompt files: @1
    theirs = await new_introduction(db, "MARKER-C", activate=False)
    assert mine == theirs == 2

    bundle = read_bundle(text)
    stored = await import_bundle(db, bundle)
    assert moved_versions(bundle, stored) == ["introduction@2 is introduction@3 here"]
    [session] = stored.sessions
    [turn] = await stored_turns(db, session.session_id)
    assert turn.prompt_version == "persona@1+response_format@1+introduction@3"
    assert "MARKER-A" in turn.system_prompt
    moved = await db.get_prompt_version("introduction", 3)
    assert moved is not None and "MARKER-A" in moved.body
    kept = await db.get_prompt_version("introduction", 2)
    assert kept is not None and "MARKER-C" in kept.body
    result = await here.send_message_and_wait(session.user_id, session.session_id, "Again")
    assert result.ok
    [_, again] = await stored_turns(db, session.session_id)
    assert again.prompt_version == turn.prompt_version and "MARKER-A" in again.system_prompt

    again = await import_bundle(db, read_bundle(text))
    assert moved_versions(bundle, again) == ["introduction@2 is introduction@3 here"]
    assert [v.version for v in await db.list_prompt_versions("introduction")] == [1, 2, 3]
    # Under its own ids the numbers are the bundle's: refused, saying what to do.
    with pytest.raises(IdsTakenError, match=r"introduction@2 is stored here with other content"):
        await import_bundle(db, read_bundle(text), keep_ids=True)
    assert [v.version for v in await db.list_prompt_versions("introduction")] == [1, 2, 3]


async def test_keep_ids_over_stored_ids_is_refused(db: DatabaseInterface) -> None:
    demo = await play_demo(db)
    bundle = await export_session(db, demo.session_id)
    before = await db.count_records()
    with pytest.raises(IdsTakenError, match="these ids are stored already: user"):
        await import_bundle(db, read_bundle(bundle.to_json()), keep_ids=True)
    assert await db.count_records() == before
    # Under new ids it goes in next to the original.
    await import_bundle(db, read_bundle(bundle.to_json()))
    assert (await db.count_records())["sessions"] == before["sessions"] + 1


async def test_the_schema_file_is_the_formats_and_bundles_follow_it() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(json.dumps(bundle_schema()))
    db = InMemoryDatabase()
    user_id, _ = await rich_user(db)
    document = json.loads((await export_user(db, user_id)).to_json())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    document["records"]["sessions"][0]["context"]["messages"][0]["role"] = "robot"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
