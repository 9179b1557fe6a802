"""The in-memory backend: a real implementation of ``DatabaseInterface`` kept in dicts.

It obeys every rule of the contract as an SQL store does, so tests and the offline demo can use
it in place of SQLite or PostgreSQL. Records are copied on the way in and on the way out
(messages are frozen, so they are shared). Each operation runs under one ``asyncio.Lock``; a
commit makes every check (``rules``) before it changes anything (``store``), which makes it
all-or-nothing. About 600 lines: the whole interface, one short method each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from coach.enums import CoachingState, JobStatus, OriginKind, TurnStatus
from coach.errors import PersistenceError
from coach.persistence.base import DEFAULT_PAGE_SIZE, DatabaseInterface
from coach.persistence.memory.store import SessionRow, Store, copy
from coach.persistence.paging import decode_cursor, encode_cursor, page_of
from coach.persistence.records import (
    AuditEntry,
    CommitResult,
    ContextRecord,
    EvalConversation,
    EvalRun,
    Experiment,
    ExperimentRun,
    IdentityRecord,
    MessageRecord,
    ModelUsage,
    Page,
    PromptLabel,
    PromptVersion,
    RecordBatch,
    SessionOrigin,
    SessionSummary,
    StateRecord,
    StorageReport,
    TurnCommit,
    TurnRecord,
    TurnSummary,
    UserRecord,
    UserSummary,
    as_utc,
    utcnow,
)
from coach.persistence.rules import (
    audit_id_taken,
    audit_order,
    check_batch,
    check_eval_conversation,
    check_eval_run,
    check_experiment_run,
    check_keyset_page,
    check_label_move,
    check_new_experiment,
    check_new_prompt_version,
    check_page_size,
    check_session_origin,
    ended_experiment,
    ids_taken,
    outside_users,
    with_conversations,
)


class InMemoryDatabase(DatabaseInterface):
    """``DatabaseInterface`` in process memory. Nothing survives the process."""

    backend_name = "memory"

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._closed = False
        self._store = Store()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        async with self._lock:
            if self._closed:
                raise PersistenceError(
                    "the in-memory database is closed; create a new one with "
                    "create_database(DatabaseType.MEMORY)"
                )
            yield

    # -- lifecycle -------------------------------------------------------------------------------

    async def initialize(self) -> None:
        async with self._open():
            pass

    async def check_schema(self) -> None:
        async with self._open():  # no schema to check; a closed database still fails
            pass

    async def close(self) -> None:
        self._closed = True

    async def count_records(self) -> dict[str, int]:
        async with self._open():
            return {
                "users": len(self._store.users),
                "sessions": len(self._store.sessions),
                "states": len(self._store.states),
                "contexts": len(self._store.contexts),
                "messages": len(self._store.message_sessions),
                "identities": len(self._store.identities),
                "turns": sum(len(turns) for turns in self._store.turns.values()),
            }

    # -- the one write ---------------------------------------------------------------------------

    async def commit_turn(self, commit: TurnCommit) -> CommitResult:
        async with self._open():
            return self._store.commit(commit, utcnow())

    # -- users -----------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserRecord | None:
        async with self._open():
            user = self._store.users.get(user_id)
            return None if user is None else copy(user)

    def _user_summary(self, user: UserRecord) -> UserSummary:
        sessions = [s for s in self._store.sessions.values() if s.user_id == user.id]
        return UserSummary(
            id=user.id,
            name=_name(user),
            session_count=len(sessions),
            created_at=user.created_at,
            last_activity_at=max((s.last_activity_at for s in sessions), default=None),
        )

    async def list_users(
        self,
        *,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[UserSummary]:
        check_page_size(limit)
        after = None if cursor is None else decode_cursor(cursor)
        async with self._open():
            users = list(self._store.users.values())
            if search:
                prefix = search.casefold()
                users = [u for u in users if _user_matches(u, prefix)]
            rows = sorted(users, key=lambda u: (u.created_at, u.id), reverse=True)
            if after is not None:
                rows = [u for u in rows if (u.created_at, u.id) < after]
            page = rows[:limit]
            more = len(rows) > limit
            return Page[UserSummary](
                items=[self._user_summary(u) for u in page],
                next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more else None,
            )

    async def delete_user(self, user_id: str) -> bool:
        async with self._open():
            for session_id in [s for s, v in self._store.sessions.items() if v.user_id == user_id]:
                self._store.delete_session(session_id)
            for identity_id in [
                i.id for i in self._store.identities.values() if i.user_id == user_id
            ]:
                del self._store.identities[identity_id]
            return self._store.users.pop(user_id, None) is not None

    # -- sessions --------------------------------------------------------------------------------

    def _session_summary(self, session_id: str) -> SessionSummary:
        session = self._store.sessions[session_id]
        state = self._store.states.get(session_id)
        return SessionSummary(
            session_id=session_id,
            user_id=session.user_id,
            user_name=self._user_name(session.user_id),
            state=None if state is None else state.state,
            message_count=len(self._store.messages.get(session_id, ())),
            turn_count=len(self._store.turns.get(session_id, ())),
            created_at=session.created_at,
            last_activity_at=session.last_activity_at,
        )

    def _user_name(self, user_id: str) -> str | None:
        user = self._store.users.get(user_id)
        return None if user is None else _name(user)

    async def get_session(self, session_id: str) -> SessionSummary | None:
        async with self._open():
            if session_id not in self._store.sessions:
                return None
            return self._session_summary(session_id)

    async def list_sessions(
        self,
        *,
        user_id: str | None = None,
        state: CoachingState | None = None,
        active_after: datetime | None = None,
        active_before: datetime | None = None,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[SessionSummary]:
        check_page_size(limit)
        after = None if cursor is None else decode_cursor(cursor)
        low = None if active_after is None else as_utc(active_after)
        high = None if active_before is None else as_utc(active_before)
        prefix = search.casefold() if search else None

        def keep(sid: str, s: SessionRow) -> bool:
            stored_state = self._store.states.get(sid)
            return (
                (after is None or (s.last_activity_at, sid) < after)
                and (user_id is None or s.user_id == user_id)
                and (state is None or (stored_state is not None and stored_state.state == state))
                and (low is None or s.last_activity_at >= low)
                and (high is None or s.last_activity_at < high)
                and (
                    prefix is None
                    or sid.casefold().startswith(prefix)
                    or s.user_id.casefold().startswith(prefix)
                    or (self._user_name(s.user_id) or "").casefold().startswith(prefix)
                )
            )

        async with self._open():
            newest_first = sorted(
                self._store.sessions.items(),
                key=lambda kv: (kv[1].last_activity_at, kv[0]),
                reverse=True,
            )
            rows = [(sid, s) for sid, s in newest_first if keep(sid, s)][: limit + 1]
            page = rows[:limit]
            more = len(rows) > limit
            return Page[SessionSummary](
                items=[self._session_summary(sid) for sid, _ in page],
                next_cursor=encode_cursor(page[-1][1].last_activity_at, page[-1][0])
                if more
                else None,
            )

    async def delete_session(self, session_id: str) -> bool:
        async with self._open():
            if session_id not in self._store.sessions:
                return False
            self._store.delete_session(session_id)
            return True

    # -- state -----------------------------------------------------------------------------------

    async def get_state(self, user_id: str, session_id: str) -> StateRecord | None:
        async with self._open():
            state = self._store.states.get(session_id)
            return None if state is None or state.user_id != user_id else copy(state)

    async def delete_state(self, user_id: str, session_id: str) -> bool:
        async with self._open():
            state = self._store.states.get(session_id)
            if state is None or state.user_id != user_id:
                return False
            del self._store.states[session_id]
            return True

    # -- context ---------------------------------------------------------------------------------

    async def get_context(
        self, user_id: str, session_id: str, *, message_limit: int | None = None
    ) -> ContextRecord | None:
        if message_limit is not None and message_limit < 0:
            raise ValueError(f"message_limit must be 0 or more, got {message_limit}")
        async with self._open():
            stored = self._store.contexts.get(session_id)
            if stored is None or stored.user_id != user_id:
                return None
            messages = self._store.messages.get(session_id, [])
            start = 0 if message_limit is None else max(0, len(messages) - message_limit)
            return stored.model_copy(
                deep=True, update={"messages": messages[start:], "first_message_index": start}
            )

    async def delete_context(self, user_id: str, session_id: str) -> bool:
        async with self._open():
            stored = self._store.contexts.get(session_id)
            if stored is None or stored.user_id != user_id:
                return False
            self._store.delete_messages(session_id)
            del self._store.contexts[session_id]
            return True

    async def get_message(self, session_id: str, message_id: str) -> MessageRecord | None:
        async with self._open():
            if self._store.message_sessions.get(message_id) != session_id:
                return None
            return next(m for m in self._store.messages[session_id] if m.id == message_id)

    async def list_messages(
        self, session_id: str, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[MessageRecord]:
        if start < 0 or limit < 0:
            raise ValueError(f"start and limit must be 0 or more, got {start} and {limit}")
        async with self._open():
            return self._store.messages.get(session_id, [])[start : start + limit]

    # -- identities ------------------------------------------------------------------------------

    async def get_identities(
        self, user_id: str, *, session_id: str | None = None
    ) -> list[IdentityRecord]:
        async with self._open():
            found = [
                i
                for i in self._store.identities.values()
                if i.user_id == user_id and (session_id is None or i.session_id == session_id)
            ]
            return [copy(i) for i in sorted(found, key=lambda i: (i.created_at, i.id))]

    async def get_identity(self, identity_id: str) -> IdentityRecord | None:
        async with self._open():
            identity = self._store.identities.get(identity_id)
            return None if identity is None else copy(identity)

    async def delete_identity(self, identity_id: str) -> bool:
        async with self._open():
            return self._store.identities.pop(identity_id, None) is not None

    # -- turns -----------------------------------------------------------------------------------

    async def list_turns(
        self, session_id: str, *, after_seq: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[TurnSummary]:
        check_keyset_page(limit, after_seq, "after_seq")
        async with self._open():
            turns = self._store.turns.get(session_id, [])[after_seq : after_seq + limit]
            return [t.summary() for t in turns]

    async def get_turn(self, session_id: str, seq: int) -> TurnRecord | None:
        async with self._open():
            turns = self._store.turns.get(session_id, [])
            return copy(turns[seq - 1]) if 1 <= seq <= len(turns) else None

    async def get_turn_for_message(
        self, session_id: str, user_message_id: str
    ) -> TurnSummary | None:
        async with self._open():
            for turn in reversed(self._store.turns.get(session_id, [])):
                if turn.user_message_id == user_message_id:
                    return turn.summary()
            return None

    async def list_pending_turns(self, *, limit: int = DEFAULT_PAGE_SIZE) -> list[TurnSummary]:
        return await self._turns_with_status(TurnStatus.PENDING, limit, newest_first=False)

    async def list_model_usage(self, session_ids: Sequence[str]) -> list[ModelUsage]:
        check_page_size(len(session_ids) or 1)
        async with self._open():
            usage: dict[tuple[str, str, str], ModelUsage] = {}
            for session_id in dict.fromkeys(session_ids):
                for turn in self._store.turns.get(session_id, []):
                    key = (session_id, turn.provider, turn.model)
                    found = usage.setdefault(
                        key,
                        ModelUsage(
                            session_id=session_id,
                            provider=turn.provider,
                            model=turn.model,
                            turns=0,
                            input_tokens=0,
                            output_tokens=0,
                        ),
                    )
                    found.turns += 1
                    found.input_tokens += turn.input_tokens or 0
                    found.output_tokens += turn.output_tokens or 0
            return sorted(usage.values(), key=lambda u: (u.session_id, u.provider, u.model))

    async def list_failed_turns(self, *, limit: int = DEFAULT_PAGE_SIZE) -> list[TurnSummary]:
        return await self._turns_with_status(TurnStatus.FAILED, limit, newest_first=True)

    async def _turns_with_status(
        self, status: TurnStatus, limit: int, *, newest_first: bool
    ) -> list[TurnSummary]:
        check_page_size(limit)
        async with self._open():
            found = [t for ts in self._store.turns.values() for t in ts if t.status is status]
            found.sort(key=lambda t: (t.created_at, t.session_id, t.seq or 0), reverse=newest_first)
            return [t.summary() for t in found[:limit]]

    # -- prompt versions and labels ---------------------------------------------------------

    async def add_prompt_version(self, version: PromptVersion) -> PromptVersion:
        check_new_prompt_version(version)
        async with self._open():
            versions = self._store.prompt_versions.setdefault(version.part, {})
            content_hash = version.content_hash
            same = next((v for v in versions.values() if v.content_hash == content_hash), None)
            if same is not None:
                return copy(same)
            number = max(versions, default=0) + 1
            stored = version.model_copy(deep=True, update={"version": number})
            versions[number] = stored
            return copy(stored)

    async def list_prompt_versions(
        self, part: str, *, after_version: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[PromptVersion]:
        check_keyset_page(limit, after_version, "after_version")
        async with self._open():
            versions = self._store.prompt_versions.get(part, {})
            numbers = sorted(n for n in versions if n > after_version)[:limit]
            return [copy(versions[n]) for n in numbers]

    async def get_prompt_version(self, part: str, version: int) -> PromptVersion | None:
        async with self._open():
            found = self._store.prompt_version(part, version)
            return None if found is None else copy(found)

    async def list_prompt_labels(self, part: str | None = None) -> list[PromptLabel]:
        async with self._open():
            labels = sorted(self._store.prompt_labels.items())
            return [copy(v) for (p, _), v in labels if part is None or p == part]

    async def set_prompt_label(
        self,
        part: str,
        label: str,
        version: int,
        *,
        expected_revision: int | None,
        by: str = "",
    ) -> PromptLabel:
        async with self._open():
            moved = check_label_move(
                part,
                label,
                version,
                target=self._store.prompt_version(part, version),
                current=self._store.prompt_labels.get((part, label)),
                expected_revision=expected_revision,
                by=by,
            )
            self._store.prompt_labels[(part, label)] = moved
            return copy(moved)

    # -- experiments ---------------------------------------------------------------------------

    async def add_experiment(self, experiment: Experiment) -> Experiment:
        async with self._open():
            check_new_experiment(
                experiment, session_exists=experiment.session_id in self._store.sessions
            )
            self._store.experiments[experiment.id] = copy(experiment)
            return copy(experiment)

    async def add_experiment_run(self, run: ExperimentRun) -> ExperimentRun:
        async with self._open():
            experiment = self._store.experiments.get(run.experiment_id)
            taken = [] if experiment is None else [r.number for r in experiment.runs]
            check_experiment_run(run, experiment, numbers_taken=taken)
            assert experiment is not None
            experiment.runs.append(copy(run))
            experiment.heartbeat_at = run.created_at
            return copy(run)

    async def end_experiment(self, experiment_id: str, *, error: str | None = None) -> Experiment:
        async with self._open():
            ended = ended_experiment(
                experiment_id, self._store.experiments.get(experiment_id), error
            )
            self._store.experiments[experiment_id] = ended
            return _with_runs_by_number(ended)

    async def get_experiment(self, experiment_id: str) -> Experiment | None:
        async with self._open():
            experiment = self._store.experiments.get(experiment_id)
            return None if experiment is None else _with_runs_by_number(experiment)

    async def list_experiments(
        self,
        *,
        session_id: str | None = None,
        status: JobStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[Experiment]:
        check_page_size(limit)
        async with self._open():
            found = [
                e
                for e in self._store.experiments.values()
                if (session_id is None or e.session_id == session_id)
                and (status is None or e.status is status)
            ]
            found.sort(key=lambda e: (e.created_at, e.id), reverse=True)
            return [e.model_copy(deep=True, update={"runs": []}) for e in found[:limit]]

    # -- audit log and storage -------------------------------------------------------------

    async def add_audit_entry(self, entry: AuditEntry) -> AuditEntry:
        async with self._open():
            if entry.id in self._store.audit:
                raise audit_id_taken(entry.id)
            self._store.audit[entry.id] = copy(entry)
            return copy(entry)

    async def list_audit_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AuditEntry]:
        check_page_size(limit)
        after = None if cursor is None else decode_cursor(cursor)
        async with self._open():
            found = [
                e
                for e in self._store.audit.values()
                if (after is None or audit_order(e) < after)
                and (actor is None or e.actor == actor)
                and (action is None or e.action == action)
                and (target_id is None or target_id in e.target_ids)
            ]
            found.sort(key=audit_order, reverse=True)
            return page_of([copy(e) for e in found[: limit + 1]], limit, audit_order)

    async def describe_storage(self) -> StorageReport:
        async with self._open():
            return StorageReport(
                backend=self.backend_name, revision=None, tables=self._store.table_stats(utcnow())
            )

    # -- imports -------------------------------------------------------------------------------

    async def import_records(self, batch: RecordBatch) -> None:
        async with self._open():
            stored = [u for u in outside_users(batch) if u in self._store.users]
            check_batch(batch, stored)
            taken = self._store.taken_ids(batch)
            if any(taken.values()):
                raise ids_taken(taken)
            self._store.import_prompt_versions(batch)  # checks before anything is written
            self._store.import_records(batch)

    # -- session origins -----------------------------------------------------------------------

    async def save_session_origin(self, origin: SessionOrigin) -> SessionOrigin:
        async with self._open():
            check_session_origin(origin, session_exists=origin.session_id in self._store.sessions)
            self._store.origins[origin.session_id] = copy(origin)
            return copy(origin)

    async def get_session_origin(self, session_id: str) -> SessionOrigin | None:
        async with self._open():
            origin = self._store.origins.get(session_id)
            return None if origin is None else copy(origin)

    async def list_session_origins(
        self,
        *,
        source_session_id: str | None = None,
        status: JobStatus | None = None,
        kind: OriginKind | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[SessionOrigin]:
        check_page_size(limit)
        async with self._open():
            found = [
                o
                for o in self._store.origins.values()
                if (source_session_id is None or o.source_session_id == source_session_id)
                and (status is None or o.status is status)
                and (kind is None or o.kind is kind)
            ]
            found.sort(key=lambda o: (o.created_at, o.session_id), reverse=True)
            return [copy(o) for o in found[:limit]]

    # -- eval runs -----------------------------------------------------------------------------

    async def save_eval_run(self, run: EvalRun) -> EvalRun:
        check_eval_run(run)
        async with self._open():
            stored = run.model_copy(deep=True, update={"conversations": []})
            self._store.eval_runs[run.id] = stored
            return copy(stored)

    async def save_eval_conversation(self, conversation: EvalConversation) -> EvalConversation:
        async with self._open():
            run = self._store.eval_runs.get(conversation.run_id)
            session = self._store.sessions.get(conversation.session_id)
            check_eval_conversation(
                conversation,
                run,
                session_owner=None if session is None else session.user_id,
                stored=self._store.eval_conversations.get(conversation.session_id),
            )
            assert run is not None
            self._store.eval_conversations[conversation.session_id] = copy(conversation)
            if run.status is JobStatus.RUNNING:
                run.heartbeat_at = utcnow()
            return copy(conversation)

    async def get_eval_run(self, run_id: str) -> EvalRun | None:
        async with self._open():
            run = self._store.eval_runs.get(run_id)
            if run is None:
                return None
            return with_conversations(
                run, (c for c in self._store.eval_conversations.values() if c.run_id == run_id)
            )

    async def list_eval_runs(
        self, *, status: JobStatus | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[EvalRun]:
        check_page_size(limit)
        async with self._open():
            found = [
                r for r in self._store.eval_runs.values() if status is None or r.status is status
            ]
            found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
            return [copy(r) for r in found[:limit]]


def _with_runs_by_number(experiment: Experiment) -> Experiment:
    runs = sorted(experiment.runs, key=lambda r: r.number)
    return experiment.model_copy(deep=True, update={"runs": runs})


def _name(user: UserRecord) -> str | None:
    """The client's name: ``data["name"]`` when it is text (as the SQL backends store it)."""
    name = user.data.get("name")
    return name if isinstance(name, str) else None


def _user_matches(user: UserRecord, prefix: str) -> bool:
    name = _name(user) or ""
    return user.id.casefold().startswith(prefix) or name.casefold().startswith(prefix)


__all__ = ["InMemoryDatabase"]
