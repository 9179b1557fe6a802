"""``Workbench``: every authoring or destructive action, for one signed-in actor.

This is the one place that decides: each method checks the actor's role (``roles.check``),
does the work through the engine, and writes one audit row with the outcome (``ok``,
``refused`` with the role needed, or ``failed`` with the error). Pages call these methods and
never the engine's changing calls directly, so hiding a button is only a courtesy: a viewer who
sends the request anyway is refused here.

A task (a fork, a replay, an eval run, retention) is audited when it starts; its own stored
record (or progress) says how it ended. The audit row is written after the work: if the
database fails in between, the action stands and the error says its audit row is missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from coach import clients
from coach.access.roles import Action, Actor, Role, check
from coach.demo import is_demo_session, play_demo
from coach.enums import IdentityState
from coach.errors import AccessDeniedError, InputError
from coach.evals.make import MadeScenario, scenario_from_session
from coach.evals.scenario import Scenario
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    AuditEntry,
    EvalRun,
    Experiment,
    IdentityRecord,
    PromptLabel,
    RecordBatch,
    SessionOrigin,
    UserRecord,
)
from coach.prompts import lab
from coach.prompts.library import PromptPin
from coach.prompts.store import ACTIVE
from coach.service import CoachService, StartedSession
from coach.sessions.bundles import Bundle, import_bundle
from coach.sessions.jobs import JobHandle
from coach.sessions.retention import KEY as RETENTION
from coach.sessions.retention import RetentionPlan
from coach.turns import TurnHandle, TurnResult

T = TypeVar("T")
Outcome = Literal["ok", "refused", "failed"]


class Workbench:
    """The engine's changing actions, checked against ``actor``'s role and audited.

    Args:
        author: the name stored as the author of what is made (prompt versions, forks, runs);
            default: the actor's name. With access control off, the page passes the name the
            user typed.
    """

    def __init__(self, service: CoachService, actor: Actor, *, author: str | None = None):
        self.service = service
        self.db = service.db
        self.actor = actor
        self.by = author or actor.name

    async def _run(
        self,
        action: Action,
        targets: Sequence[str],
        work: Callable[[], Awaitable[T]],
        *,
        detail: Callable[[T], str] | None = None,
    ) -> T:
        """Check, do ``work``, and write one audit row (``detail`` of the result for an
        ``ok`` one)."""
        try:
            check(self.actor, action)
        except AccessDeniedError as e:
            await self.audit(action, targets, "refused", str(e))
            raise
        try:
            result = await work()
        except Exception as e:
            await self.audit(action, targets, "failed", f"{type(e).__name__}: {e}")
            raise
        await self.audit(action, targets, "ok", detail(result) if detail else "")
        return result

    async def audit(
        self, action: Action, targets: Sequence[str], outcome: Outcome, detail: str = ""
    ) -> None:
        """Write one audit row for this actor."""
        await write_audit(
            self.db, self.actor.name, self.actor.role, action, targets, outcome, detail
        )

    # -- chat ------------------------------------------------------------------------------------

    async def load_demo(self) -> StartedSession:
        """Store the demo session (a sample client's whole journey)."""
        return await self._run(
            Action.LOAD_DEMO,
            [],
            lambda: play_demo(self.db),
            detail=lambda s: f"user {s.user_id}, session {s.session_id}",
        )

    async def copy_demo(self, session_id: str) -> StartedSession:
        """A fresh copy of the demo session ``session_id``: the demo played again for a new
        client, which leaves ``session_id`` (and every other stored session) as it is.

        Raises:
            InputError: ``session_id`` is not a demo session.
        """

        async def copy() -> StartedSession:
            if not await is_demo_session(self.db, session_id):
                raise InputError(f"session {session_id} is not a demo session; nothing copied")
            return await play_demo(self.db)

        return await self._run(
            Action.COPY_DEMO,
            [session_id],
            copy,
            detail=lambda s: f"user {s.user_id}, session {s.session_id}",
        )

    async def start_session(
        self, user_id: str | None = None, *, user_name: str | None = None
    ) -> StartedSession:
        return await self._run(
            Action.START_SESSION,
            [user_id] if user_id else [],
            lambda: self.service.start_session(user_id, user_name=user_name),
            detail=lambda s: f"user {s.user_id}, session {s.session_id}",
        )

    async def send_message(
        self, user_id: str, session_id: str, text: str, *, client_message_id: str | None = None
    ) -> TurnHandle | TurnResult:
        """Never audits the message's text: only its ids."""
        return await self._run(
            Action.SEND_MESSAGE,
            [user_id, session_id, *([client_message_id] if client_message_id else [])],
            lambda: self.service.submit(
                user_id, session_id, text, client_message_id=client_message_id
            ),
        )

    async def retry_turn(
        self, user_id: str, session_id: str, user_message_id: str | None = None
    ) -> TurnHandle | TurnResult:
        return await self._run(
            Action.RETRY_TURN,
            [user_id, session_id, *([user_message_id] if user_message_id else [])],
            lambda: self.service.retry(user_id, session_id, user_message_id),
        )

    # -- prompts ---------------------------------------------------------------------------------

    async def save_prompt(self, part: str, text: str, *, note: str) -> lab.Saved:
        return await self._run(
            Action.SAVE_PROMPT,
            [part],
            lambda: lab.save_edit(self.db, part, text, author=self.by, note=note),
            detail=lambda saved: saved.describe(),
        )

    async def activate_prompt(
        self, part: str, version: int, *, expected_revision: int | None
    ) -> PromptLabel:
        """Point ``active`` at the version (rolling back is activating an earlier one); a move
        by someone else since ``expected_revision`` is refused."""
        return await self._run(
            Action.ACTIVATE_PROMPT,
            [f"{part}@{version}"],
            lambda: self.db.set_prompt_label(
                part, ACTIVE, version, expected_revision=expected_revision, by=self.by
            ),
        )

    async def pin_prompts(self, user_id: str, session_id: str, pin: PromptPin | None) -> None:
        await self._run(
            Action.PIN_PROMPTS,
            [user_id, session_id],
            lambda: self.service.pin_prompts(user_id, session_id, pin),
        )

    async def try_turn(
        self,
        session_id: str,
        seq: int,
        *,
        runs: int,
        pin: PromptPin | None = None,
        model: str | None = None,
        name: str = "",
    ) -> Experiment:
        return await self._run(
            Action.TRY_TURN,
            [session_id],
            lambda: self.service.experiments.start(
                session_id, seq, runs=runs, pin=pin, model=model, name=name, by=self.by
            ),
            detail=lambda e: f"experiment {e.id} on turn {seq}, {runs} run(s)",
        )

    # -- forks, replays, bundles -----------------------------------------------------------------

    async def fork(
        self, session_id: str, at_turn: int, *, same_client: bool = False
    ) -> SessionOrigin:
        return await self._run(
            Action.FORK,
            [session_id],
            lambda: self.service.sessions.fork(
                session_id, at_turn, same_client=same_client, by=self.by
            ),
            detail=lambda o: f"new session {o.session_id} after turn {at_turn}",
        )

    async def replay(
        self, session_id: str, *, live: bool = False, pin: PromptPin | None = None
    ) -> SessionOrigin:
        return await self._run(
            Action.REPLAY,
            [session_id],
            lambda: self.service.sessions.replay(session_id, live=live, pin=pin, by=self.by),
            detail=lambda o: f"new session {o.session_id} ({'live' if live else 'exact'})",
        )

    async def resume_replay(self, session_id: str) -> SessionOrigin:
        return await self._run(
            Action.RESUME_REPLAY,
            [session_id],
            lambda: self.service.sessions.resume(session_id),
            detail=lambda o: f"from turn {o.turns_done + 1} of {o.turns_total}",
        )

    async def cancel_replay(self, session_id: str) -> bool:
        """Stop the fork or replay making ``session_id``. Must run on the engine's loop (as
        everything here does, through ``AppRuntime.run``)."""
        return await self._run(
            Action.CANCEL_REPLAY, [session_id], _now(self.service.sessions.cancel, session_id)
        )

    async def import_bundle(self, bundle: Bundle, *, keep_ids: bool = False) -> RecordBatch:
        return await self._run(
            Action.IMPORT_BUNDLE,
            [],
            lambda: import_bundle(self.db, bundle, keep_ids=keep_ids),
            detail=lambda stored: (
                f"{len(stored.users)} user(s), sessions "
                + ", ".join(s.session_id for s in stored.sessions)
            ),
        )

    # -- evals -----------------------------------------------------------------------------------

    async def start_eval(self, scenarios: Sequence[Scenario], **options: Any) -> EvalRun:
        """Start an eval run (``EvalJobs.start``'s options)."""
        return await self._run(
            Action.START_EVAL,
            [s.name for s in scenarios],
            lambda: self.service.evals.start(scenarios, by=self.by, **options),
            detail=lambda run: f"run {run.id}",
        )

    async def resume_eval(self, run_id: str) -> EvalRun:
        return await self._run(
            Action.RESUME_EVAL, [run_id], lambda: self.service.evals.resume(run_id, by=self.by)
        )

    async def cancel_eval(self, run_id: str) -> bool:
        return await self._run(
            Action.CANCEL_EVAL, [run_id], _now(self.service.evals.cancel, run_id)
        )

    async def make_scenario(
        self, session_id: str, at_turn: int, *, name: str, directory: Path
    ) -> tuple[MadeScenario, Path]:
        """Make a scenario from the session after ``at_turn`` and write it (and its fixture)
        into ``directory``; returns it and its path."""

        async def make() -> tuple[MadeScenario, Path]:
            made = await scenario_from_session(self.db, session_id, at_turn, name=name)
            return made, made.write(directory)

        return await self._run(
            Action.MAKE_SCENARIO, [session_id], make, detail=lambda made: str(made[1])
        )

    # -- editing a client ------------------------------------------------------------------------

    async def edit_client(
        self, user: UserRecord, *, name: str | None = None, goals: Sequence[str] | None = None
    ) -> UserRecord:
        """Change the client's name and/or goals, from ``user`` as the page showed it
        (``clients.edit_user``). The audit row names the fields, never their values."""

        async def edit() -> tuple[UserRecord, list[str]]:
            return await clients.edit_user(self.db, user, name=name, goals=goals)

        stored, _ = await self._run(Action.EDIT_CLIENT, [user.id], edit, detail=_edited)
        return stored

    async def edit_identity(
        self,
        identity: IdentityRecord,
        *,
        label: str | None = None,
        state: IdentityState | None = None,
    ) -> IdentityRecord:
        """Change an identity's label and/or state, from ``identity`` as the page showed it
        (``clients.edit_identity``)."""

        async def edit() -> tuple[IdentityRecord, list[str]]:
            return await clients.edit_identity(self.db, identity, label=label, state=state)

        stored, _ = await self._run(
            Action.EDIT_CLIENT, [identity.user_id, identity.id], edit, detail=_edited
        )
        return stored

    # -- deleting --------------------------------------------------------------------------------

    async def delete_session(self, session_id: str) -> bool:
        return await self._run(
            Action.DELETE_SESSION, [session_id], lambda: self.db.delete_session(session_id)
        )

    async def delete_user(self, user_id: str) -> bool:
        return await self._run(Action.DELETE_USER, [user_id], lambda: self.db.delete_user(user_id))

    async def run_retention(self, plan: RetentionPlan) -> JobHandle:
        """Start deleting what a retention plan (its dry run) lists."""
        return await self._run(
            Action.RUN_RETENTION,
            plan.target_ids,
            _now(self.service.retention.start, plan),
            detail=lambda _: plan.describe(),
        )

    async def cancel_retention(self) -> bool:
        return await self._run(
            Action.CANCEL_RETENTION, [], _now(self.service.retention.cancel, RETENTION)
        )


async def write_audit(
    db: DatabaseInterface,
    name: str,
    role: Role | None,
    action: Action,
    targets: Sequence[str],
    outcome: Outcome,
    detail: str = "",
) -> None:
    """Append one audit row (``role`` ``None``: a refused sign-in)."""
    await db.add_audit_entry(
        AuditEntry(
            actor=name,
            role=role.value if role else "",
            action=action.value,
            target_ids=list(targets),
            outcome=outcome,
            detail=detail,
        )
    )


def _edited(result: tuple[Any, list[str]]) -> str:
    fields = result[1]
    return f"edited {', '.join(fields)}" if fields else "no change"


def _now(call: Callable[..., T], *args: Any) -> Callable[[], Awaitable[T]]:
    """A synchronous call as ``_run``'s work (it runs on the engine's loop)."""

    async def work() -> T:
        return call(*args)

    return work
