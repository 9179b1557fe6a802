"""Access control at the engine: every action of the ``Workbench`` is checked against the
actor's role whatever the page does, refused with the role it needs and nothing changed, and
writes exactly one audit row with its outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from coach.access.roles import NEEDED, Action, Actor, Role, check
from coach.access.workbench import Workbench
from coach.errors import AccessDeniedError, CoachError
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import AuditEntry, PromptLabel, utcnow
from coach.prompts import lab
from coach.prompts.store import ACTIVE
from coach.service import CoachService
from coach.sessions.bundles import export_session
from coach.sessions.retention import plan_retention
from tests.engine.eval_helpers import coach, scenario


@dataclass
class Bench:
    """A service holding the demo session, and a spare client and session to delete."""

    service: CoachService
    user_id: str
    session_id: str
    spare_user_id: str
    spare_session_id: str
    scenarios: Path


Call = Callable[[Workbench, Bench], Awaitable[Any]]


async def active_persona(db: DatabaseInterface) -> PromptLabel:
    [label] = [x for x in await db.list_prompt_labels("persona") if x.label == ACTIVE]
    return label


async def _activate_persona(w: Workbench, version: int) -> PromptLabel:
    seen = (await active_persona(w.db)).revision
    return await w.activate_prompt("persona", version, expected_revision=seen)


async def edited_persona(db: DatabaseInterface) -> str:
    """The active persona's file with one more line."""
    active = await db.get_prompt_version("persona", (await active_persona(db)).version)
    assert active is not None
    return lab.version_text(active) + "\nBe brief.\n"


async def _save_persona(w: Workbench) -> Any:
    return await w.save_prompt("persona", await edited_persona(w.db), note="briefer")


async def _import(w: Workbench, b: Bench) -> Any:
    return await w.import_bundle(await export_session(b.service.db, b.session_id))


async def _retention(w: Workbench, b: Bench) -> Any:
    # Every session is "inactive" seen from a year ahead.
    plan = await plan_retention(b.service.db, 30, now=utcnow() + timedelta(days=365))
    handle = await w.run_retention(plan)
    await handle.ended()
    return handle


async def _edit_client(w: Workbench, b: Bench) -> Any:
    user = await b.service.db.get_user(b.spare_user_id)
    assert user is not None
    return await w.edit_client(user, name="Renamed Example")


#: One call per checked action, with arguments that work on ``Bench``.
CALLS: dict[Action, Call] = {
    Action.LOAD_DEMO: lambda w, b: w.load_demo(),
    Action.COPY_DEMO: lambda w, b: w.copy_demo(b.session_id),
    Action.START_SESSION: lambda w, b: w.start_session(user_name="Zed Example"),
    Action.SEND_MESSAGE: lambda w, b: w.send_message(b.user_id, b.session_id, "Hello again"),
    Action.RETRY_TURN: lambda w, b: w.retry_turn(b.user_id, b.session_id),
    Action.SAVE_PROMPT: lambda w, b: _save_persona(w),
    Action.ACTIVATE_PROMPT: lambda w, b: _activate_persona(w, 1),
    Action.PIN_PROMPTS: lambda w, b: w.pin_prompts(b.user_id, b.session_id, None),
    Action.TRY_TURN: lambda w, b: w.try_turn(b.session_id, 1, runs=1),
    Action.FORK: lambda w, b: w.fork(b.session_id, 2),
    Action.REPLAY: lambda w, b: w.replay(b.session_id),
    Action.CANCEL_REPLAY: lambda w, b: w.cancel_replay(b.session_id),
    Action.RESUME_REPLAY: lambda w, b: w.resume_replay(b.session_id),
    Action.START_EVAL: lambda w, b: w.start_eval([scenario()], repeats=1),
    Action.RESUME_EVAL: lambda w, b: w.resume_eval("no-such-run"),
    Action.CANCEL_EVAL: lambda w, b: w.cancel_eval("no-such-run"),
    Action.MAKE_SCENARIO: lambda w, b: w.make_scenario(
        b.session_id, 2, name="from-demo", directory=b.scenarios
    ),
    Action.EDIT_CLIENT: _edit_client,
    Action.DELETE_SESSION: lambda w, b: w.delete_session(b.spare_session_id),
    Action.DELETE_USER: lambda w, b: w.delete_user(b.spare_user_id),
    Action.IMPORT_BUNDLE: _import,
    Action.RUN_RETENTION: _retention,
    Action.CANCEL_RETENTION: lambda w, b: w.cancel_retention(),
}

#: Each (action, role) pair: refused when the role is below the one needed, allowed otherwise.
REFUSED = [(a, r) for a in CALLS for r in Role if r.rank < NEEDED[a].rank]
ALLOWED = [(a, r) for a in CALLS for r in Role if r.rank >= NEEDED[a].rank]


@pytest.fixture
async def bench(tmp_path: Path) -> Any:
    db = InMemoryDatabase()
    service = CoachService(ScriptedLLMClient(function=coach()), db)
    local = Workbench(service, Actor.local())
    demo = await local.load_demo()
    spare = await local.start_session(user_name="Spare Example")
    yield Bench(
        service,
        demo.user_id,
        demo.session_id,
        spare.user_id,
        spare.session_id,
        tmp_path / "scenarios",
    )
    await service.aclose()


async def snapshot(b: Bench) -> tuple[Any, ...]:
    """What any action would change."""
    db = b.service.db
    return (
        await db.count_records(),
        [(x.part, x.label, x.version) for x in await db.list_prompt_labels()],
        len(await db.list_prompt_versions("persona")),
        len(await db.list_eval_runs()),
        len(await db.list_experiments()),
        (await db.get_context(b.user_id, b.session_id)),
        b.scenarios.exists(),
    )


async def entries(b: Bench) -> list[AuditEntry]:
    return (await b.service.db.list_audit_entries(limit=200)).items


async def written_since(b: Bench, count: int) -> list[AuditEntry]:
    """The rows written after the first ``count`` ones."""
    now = await entries(b)
    return now[: len(now) - count]


def test_every_checked_action_has_a_role_and_a_call_here() -> None:
    assert set(NEEDED) == set(Action) - {Action.SIGN_IN}
    assert set(CALLS) == set(NEEDED)


@pytest.mark.parametrize(("action", "role"), REFUSED)
async def test_a_role_below_the_one_needed_is_refused_with_nothing_changed(
    bench: Bench, action: Action, role: Role
) -> None:
    workbench = Workbench(bench.service, Actor("vic@example.org", role, via="oidc"))
    before, logged = await snapshot(bench), len(await entries(bench))

    with pytest.raises(AccessDeniedError) as refused:
        await CALLS[action](workbench, bench)

    assert f"needs the {NEEDED[action].value} role" in str(refused.value)
    assert f"signed in as {role.value}" in str(refused.value)
    assert await snapshot(bench) == before
    new = await written_since(bench, logged)
    assert [(e.actor, e.role, e.action, e.outcome) for e in new] == [
        ("vic@example.org", role.value, action.value, "refused")
    ]
    assert new[0].detail == str(refused.value)


@pytest.mark.parametrize(("action", "role"), ALLOWED)
async def test_an_allowed_action_runs_and_writes_one_audit_row(
    bench: Bench, action: Action, role: Role
) -> None:
    workbench = Workbench(bench.service, Actor("ana@example.org", role, via="oidc"))
    logged = len(await entries(bench))

    try:
        await CALLS[action](workbench, bench)
        outcome = "ok"
    except CoachError:  # refused by the engine itself (no failed turn to retry, no such run)
        outcome = "failed"

    new = await written_since(bench, logged)
    assert [(e.actor, e.role, e.action, e.outcome) for e in new] == [
        ("ana@example.org", role.value, action.value, outcome)
    ]
    expected_failures = {Action.RETRY_TURN, Action.RESUME_EVAL, Action.RESUME_REPLAY}
    assert (outcome == "failed") == (action in expected_failures), new[0].detail


async def test_the_audit_row_never_holds_the_message_text(bench: Bench) -> None:
    workbench = Workbench(bench.service, Actor("ana@example.org", Role.COACH, via="header"))
    await workbench.send_message(
        bench.user_id, bench.session_id, "my secret fear of heights", client_message_id="m-1"
    )
    [row] = (await entries(bench))[:1]
    assert row.action == "send_message"
    assert row.target_ids == [bench.user_id, bench.session_id, "m-1"]
    assert "heights" not in row.model_dump_json()


async def test_what_is_made_carries_the_author(bench: Bench) -> None:
    workbench = Workbench(bench.service, Actor("ana@example.org", Role.ADMIN, via="oidc"))
    saved = await workbench.save_prompt(
        "persona", await edited_persona(bench.service.db), note="terse"
    )
    assert saved.version.author == "ana@example.org"
    moved = await _activate_persona(workbench, saved.version.version or 0)
    assert (moved.label, moved.updated_by) == (ACTIVE, "ana@example.org")
    typed = Workbench(bench.service, Actor.local(), author="Kim")
    assert (await typed.fork(bench.session_id, 1)).created_by == "Kim"


def test_check_names_the_role_needed_and_the_role_held() -> None:
    with pytest.raises(AccessDeniedError) as refused:
        check(Actor("bo@example.org", Role.COACH), Action.DELETE_SESSION)
    assert str(refused.value).startswith(
        "Delete session needs the admin role; bo@example.org is signed in as coach."
    )
    check(Actor("bo@example.org", Role.ADMIN), Action.DELETE_SESSION)
    check(Actor("bo@example.org", Role.VIEWER), Action.SIGN_IN)
