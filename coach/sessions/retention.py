"""Retention: delete the sessions nobody has touched for N days, as a task of the engine.

1. **Plan** (a dry run, changes nothing): the sessions last active before the cut-off, and the
   clients whose every session is among them. Those clients are deleted too, with their
   identities and data: a client with no session left is kept by nothing but their personal
   data.
2. **Run**: session by session, each deleted in one transaction (``delete_session``: its state,
   context, messages, turns, origin and eval conversation), then the emptied clients
   (``delete_user``). A session active again since the plan is kept; so is a client who has a
   session again. The task shows its progress and can be cancelled: what it deleted stays
   deleted, and a new plan shows what is left.

The audit log keeps who ran it and the ids (never any content).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from coach.errors import InputError
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import SessionSummary, utcnow
from coach.sessions.jobs import CANCELLED, JobHandle, RunningTasks
from coach.sessions.listing import all_sessions

logger = logging.getLogger(__name__)

#: Only one retention task runs at a time in a process.
KEY = "retention"


@dataclass(frozen=True)
class RetentionPlan:
    """What a retention run would delete."""

    inactive_days: int
    cutoff: datetime
    sessions: tuple[SessionSummary, ...]
    #: Clients all of whose sessions are in the plan: deleted with them.
    emptied_user_ids: tuple[str, ...]

    @property
    def target_ids(self) -> list[str]:
        return [s.session_id for s in self.sessions] + list(self.emptied_user_ids)

    def describe(self) -> str:
        return (
            f"{len(self.sessions)} session(s) inactive for {self.inactive_days} day(s) (last "
            f"active before {self.cutoff:%Y-%m-%d %H:%M} UTC), of "
            f"{len({s.user_id for s in self.sessions})} client(s); "
            f"{len(self.emptied_user_ids)} client(s) have no other session and are deleted with "
            "their identities"
        )


@dataclass
class RetentionOutcome:
    """What a run did (so far)."""

    deleted_sessions: int = 0
    kept_active: int = 0
    deleted_users: int = 0

    def describe(self) -> str:
        kept = f"; {self.kept_active} kept (active again)" if self.kept_active else ""
        return (
            f"deleted {self.deleted_sessions} session(s) and {self.deleted_users} client(s){kept}"
        )


async def plan_retention(
    db: DatabaseInterface, inactive_days: int, *, now: datetime | None = None
) -> RetentionPlan:
    """The sessions last active more than ``inactive_days`` days ago. Changes nothing.

    Raises:
        InputError: ``inactive_days`` is below 1.
    """
    if inactive_days < 1:
        raise InputError("Retention keeps sessions at least 1 day: choose 1 or more days.")
    cutoff = (now or utcnow()) - timedelta(days=inactive_days)
    sessions = await all_sessions(db, active_before=cutoff)
    emptied = []
    for user_id in dict.fromkeys(s.user_id for s in sessions):
        recent = await db.list_sessions(user_id=user_id, active_after=cutoff, limit=1)
        if not recent.items:
            emptied.append(user_id)
    return RetentionPlan(inactive_days, cutoff, tuple(sessions), tuple(emptied))


class RetentionJobs(RunningTasks[None]):
    """Runs retention plans as tasks of the engine, one at a time."""

    def __init__(self, db: DatabaseInterface) -> None:
        super().__init__()
        self.db = db
        #: The outcome of the latest run in this process (while it runs: so far).
        self.outcome: RetentionOutcome | None = None

    def start(self, plan: RetentionPlan) -> JobHandle:
        """Start deleting what ``plan`` lists. Must be called on the engine's loop.

        Raises:
            InputError: a retention task runs already, or the plan is empty.
        """
        if self.handle(KEY) is not None:
            raise InputError("Retention is running already; wait for it or cancel it.")
        if not plan.sessions:
            raise InputError("Nothing to delete: no session is past the cut-off.")
        handle = JobHandle(key=KEY, total=len(plan.sessions) + len(plan.emptied_user_ids))
        self.outcome = RetentionOutcome()
        self._launch(handle, self._run(plan, handle, self.outcome), name="coach-retention")
        return handle

    async def _run(self, plan: RetentionPlan, handle: JobHandle, outcome: RetentionOutcome) -> None:
        error: str | None = None
        try:
            for session in plan.sessions:
                await self._delete_session(session.session_id, plan.cutoff, outcome)
                handle.step(handle.done + 1)
            for user_id in plan.emptied_user_ids:
                if not (await self.db.list_sessions(user_id=user_id, limit=1)).items:
                    outcome.deleted_users += await self.db.delete_user(user_id)
                handle.step(handle.done + 1)
        except asyncio.CancelledError:
            error = CANCELLED
        except Exception as e:  # the task's end: shown on the handle
            logger.exception("retention failed")
            error = f"failed: {e}"
        self._ended(handle, error, abandoned=False)

    async def _delete_session(
        self, session_id: str, cutoff: datetime, outcome: RetentionOutcome
    ) -> None:
        now = await self.db.get_session(session_id)
        if now is None:
            return  # deleted meanwhile
        if now.last_activity_at >= cutoff:
            outcome.kept_active += 1
            return
        outcome.deleted_sessions += await self.db.delete_session(session_id)
