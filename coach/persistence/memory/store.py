"""The in-memory store: every record in dicts, and the one write that checks, then applies.

``InMemoryDatabase`` (this package's ``__init__``) wraps a ``Store`` with the async interface,
one lock, and copies on the way in and out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from coach.enums import TurnStatus
from coach.persistence import rules
from coach.persistence.records import (
    AuditEntry,
    CommitResult,
    ContextRecord,
    EvalConversation,
    EvalRun,
    Experiment,
    IdentityRecord,
    MessageRecord,
    PromptLabel,
    PromptVersion,
    RecordBatch,
    SessionOrigin,
    StateRecord,
    TableStats,
    TurnCommit,
    TurnRecord,
    TurnSummary,
    UserRecord,
)
from coach.persistence.rules import StoredIdentity, StoredSession, StoredTurn

M = TypeVar("M", bound=BaseModel)


def _version_keys(batch: RecordBatch) -> list[tuple[str, int]]:
    return [(v.part, v.version or 0) for v in batch.prompt_versions]


def copy(record: M) -> M:
    return record.model_copy(deep=True)


V = TypeVar("V", UserRecord, IdentityRecord)


def saved(record: V, existing: V | None, now: datetime) -> V:
    """A copy of a versioned record as stored: at its next version, updated now, created when
    it was first stored."""
    return record.model_copy(
        deep=True,
        update={
            "version": record.version + 1,
            "created_at": record.created_at if existing is None else existing.created_at,
            "updated_at": now,
        },
    )


@dataclass(frozen=True)
class SessionRow:
    user_id: str
    created_at: datetime
    last_activity_at: datetime


@dataclass
class Store:
    """The records. States, contexts, messages and turns are keyed by session id: a session
    has one owner."""

    users: dict[str, UserRecord] = field(default_factory=dict)
    sessions: dict[str, SessionRow] = field(default_factory=dict)
    states: dict[str, StateRecord] = field(default_factory=dict)
    #: Stored without their messages.
    contexts: dict[str, ContextRecord] = field(default_factory=dict)
    messages: dict[str, list[MessageRecord]] = field(default_factory=dict)
    #: Message id -> session id.
    message_sessions: dict[str, str] = field(default_factory=dict)
    identities: dict[str, IdentityRecord] = field(default_factory=dict)
    turns: dict[str, list[TurnRecord]] = field(default_factory=dict)
    #: Session id -> user message id -> its live (ok or pending) turn.
    live: dict[str, dict[str, StoredTurn]] = field(default_factory=dict)
    #: Part -> its versions by number.
    prompt_versions: dict[str, dict[int, PromptVersion]] = field(default_factory=dict)
    prompt_labels: dict[tuple[str, str], PromptLabel] = field(default_factory=dict)
    #: Experiment id -> the experiment with its runs, in the order they were added.
    experiments: dict[str, Experiment] = field(default_factory=dict)
    #: Session id -> where the session came from (a fork or replay).
    origins: dict[str, SessionOrigin] = field(default_factory=dict)
    #: Eval run id -> the run, without its conversations.
    eval_runs: dict[str, EvalRun] = field(default_factory=dict)
    #: Session id -> the eval conversation played in it.
    eval_conversations: dict[str, EvalConversation] = field(default_factory=dict)
    #: Audit entry id -> the entry; never deleted.
    audit: dict[str, AuditEntry] = field(default_factory=dict)

    def commit(self, commit: TurnCommit, now: datetime) -> CommitResult:
        """Check every part of ``commit`` (``rules``), then write it all: a refused commit
        changes nothing."""
        owner, session_id = rules.commit_owner(commit)
        turn = commit.turn
        live = None if turn is None else self._live_turn(turn)
        new = rules.check_commit(commit, self.stored_session(session_id), live=live)
        if commit.user is not None:
            stored_user = self.users.get(owner)
            rules.check_version(
                f"user {owner!r}",
                None if stored_user is None else stored_user.version,
                commit.user.version,
            )
        taken = [m.id for m in new if m.id in self.message_sessions]
        if taken and commit.context is not None:
            raise rules.message_ids_taken(commit.context.session_id, taken)
        rules.check_identities(commit.identities, self.stored_identities(commit.identities))
        for identity in commit.identities:
            if identity.session_id is not None:
                rules.check_session_owner(
                    identity.session_id,
                    self.stored_session(identity.session_id),
                    identity.user_id,
                )
        # Every check passed: nothing below can fail.
        return self._apply(commit, owner, session_id, new, now)

    def _apply(
        self,
        commit: TurnCommit,
        owner: str,
        session_id: str | None,
        new: list[MessageRecord],
        now: datetime,
    ) -> CommitResult:
        if commit.user is not None:
            self._save_user(commit.user, now)
        elif owner not in self.users:
            # A placeholder: at version 0, as not saved by anyone yet.
            self.users[owner] = UserRecord(id=owner, created_at=now, updated_at=now)
        if session_id is not None:
            self._touch_session(owner, session_id, now)
        result = CommitResult(committed_at=now)
        if commit.context is not None:
            result.context_version, result.context_created_at = self._save_context(
                commit.context, new, now
            )
        if commit.state is not None:
            self.states[commit.state.session_id] = copy(commit.state)
        for identity in commit.identities:
            if identity.session_id is not None and identity.session_id not in self.sessions:
                # Editing an identity later is not activity in the session it was found in,
                # so only a new session is registered.
                self._touch_session(owner, identity.session_id, now)
            self.identities[identity.id] = saved(identity, self.identities.get(identity.id), now)
        if commit.turn is not None:
            result.turn_seq = self._save_turn(commit.turn)
        return result

    def import_records(self, batch: RecordBatch) -> None:
        """Store the batch's records as they are (checked: new ids, consistent)."""
        for user in batch.users:
            self.users[user.id] = copy(user)
        for session in batch.sessions:
            sid = session.session_id
            self.sessions[sid] = SessionRow(
                session.user_id, session.created_at, session.last_activity_at
            )
            if session.state is not None:
                self.states[sid] = copy(session.state)
            if session.context is not None:
                self.contexts[sid] = session.context.model_copy(deep=True, update={"messages": []})
                self.messages[sid] = list(session.context.messages)
                for message in session.context.messages:
                    self.message_sessions[message.id] = sid
            self.turns[sid] = [copy(t) for t in session.turns]
            self.live[sid] = {
                t.user_message_id: StoredTurn(t.seq or 0, t.status)
                for t in session.turns
                if t.status is not TurnStatus.FAILED
            }
            if session.origin is not None:
                self.origins[sid] = copy(session.origin)
        for identity in batch.identities:
            self.identities[identity.id] = copy(identity)

    def import_prompt_versions(self, batch: RecordBatch) -> None:
        """Store the batch's prompt versions the store lacks, under their own numbers."""
        stored = {key: self.prompt_version(*key) for key in _version_keys(batch)}
        same = {
            (v.part, v.version or 0): next(
                (
                    x
                    for x in self.prompt_versions.get(v.part, {}).values()
                    if x.content_hash == v.content_hash
                ),
                None,
            )
            for v in batch.prompt_versions
        }
        for version in rules.prompt_versions_to_store(batch, stored, same):
            self.prompt_versions.setdefault(version.part, {})[version.version or 0] = copy(version)

    def prompt_version(self, part: str, version: int) -> PromptVersion | None:
        return self.prompt_versions.get(part, {}).get(version)

    def taken_ids(self, batch: RecordBatch) -> dict[str, list[str]]:
        stored: dict[str, Mapping[str, object]] = {
            "user": self.users,
            "session": self.sessions,
            "message": self.message_sessions,
            "identity": self.identities,
        }
        return {
            kind: [i for i in ids if i in stored[kind]]
            for kind, ids in rules.batch_ids(batch).items()
        }

    def stored_session(self, session_id: str | None) -> StoredSession | None:
        session = None if session_id is None else self.sessions.get(session_id)
        if session is None or session_id is None:
            return None
        context = self.contexts.get(session_id)
        return StoredSession(
            user_id=session.user_id,
            context_version=None if context is None else context.version,
            message_count=len(self.messages.get(session_id, ())),
        )

    def stored_identities(self, written: Iterable[IdentityRecord]) -> list[StoredIdentity]:
        ids = {i.id for i in written}
        users = {i.user_id for i in written}
        return [
            StoredIdentity.of(i)
            for i in self.identities.values()
            if i.id in ids or i.user_id in users
        ]

    def _touch_session(self, user_id: str, session_id: str, now: datetime) -> None:
        session = self.sessions.get(session_id)
        created_at = now if session is None else session.created_at
        self.sessions[session_id] = SessionRow(user_id, created_at, now)

    def _save_user(self, user: UserRecord, now: datetime) -> None:
        self.users[user.id] = saved(user, self.users.get(user.id), now)

    def _save_context(
        self, context: ContextRecord, new: list[MessageRecord], now: datetime
    ) -> tuple[int, datetime]:
        sid = context.session_id
        stored = self.contexts.get(sid)
        created_at = context.created_at if stored is None else stored.created_at
        version = context.version + 1
        self.contexts[sid] = ContextRecord(
            user_id=context.user_id,
            session_id=sid,
            user_data=context.model_dump(include={"user_data"})["user_data"],
            version=version,
            created_at=created_at,
            updated_at=now,
        )
        self.messages.setdefault(sid, []).extend(new)
        for message in new:
            self.message_sessions[message.id] = sid
        return version, created_at

    def _live_turn(self, turn: TurnSummary) -> StoredTurn | None:
        return self.live.get(turn.session_id, {}).get(turn.user_message_id)

    def _save_turn(self, turn: TurnRecord) -> int:
        turns = self.turns.setdefault(turn.session_id, [])
        seq = turn.seq or len(turns) + 1
        stored = turn.model_copy(deep=True, update={"seq": seq})
        if turn.seq is None:
            turns.append(stored)
        else:
            turns[seq - 1] = stored  # completes its pending turn (checked by the rules)
        live = self.live.setdefault(turn.session_id, {})
        if turn.status is TurnStatus.FAILED:
            live.pop(turn.user_message_id, None)
        else:
            live[turn.user_message_id] = StoredTurn(seq, turn.status)
        return seq

    def delete_session(self, session_id: str) -> None:
        self.delete_messages(session_id)
        self.states.pop(session_id, None)
        self.contexts.pop(session_id, None)
        self.turns.pop(session_id, None)
        self.live.pop(session_id, None)
        del self.sessions[session_id]
        self.origins.pop(session_id, None)
        self.eval_conversations.pop(session_id, None)  # its run stays
        for experiment in list(self.experiments.values()):
            if experiment.session_id == session_id:
                del self.experiments[experiment.id]
        for identity in list(self.identities.values()):
            if identity.session_id == session_id:
                self.identities[identity.id] = identity.model_copy(update={"session_id": None})

    def delete_messages(self, session_id: str) -> None:
        for message in self.messages.pop(session_id, ()):
            del self.message_sessions[message.id]

    def table_stats(self, now: datetime) -> list[TableStats]:
        """The records per SQL table holding the same ones, with their growth (the size of
        records in memory is unknown)."""
        day, week = rules.growth_since(now)
        experiment_runs = [r for e in self.experiments.values() for r in e.runs]
        created: dict[str, Collection[datetime]] = {
            "users": [u.created_at for u in self.users.values()],
            "sessions": [s.created_at for s in self.sessions.values()],
            "states": [s.created_at for s in self.states.values()],
            "contexts": [c.created_at for c in self.contexts.values()],
            "messages": [m.created_at for ms in self.messages.values() for m in ms],
            "identities": [i.created_at for i in self.identities.values()],
            "turns": [t.created_at for ts in self.turns.values() for t in ts],
            "prompt_versions": [
                v.created_at for vs in self.prompt_versions.values() for v in vs.values()
            ],
            "experiments": [e.created_at for e in self.experiments.values()],
            "experiment_runs": [r.created_at for r in experiment_runs],
            "session_origins": [o.created_at for o in self.origins.values()],
            "eval_runs": [r.created_at for r in self.eval_runs.values()],
            "eval_conversations": [c.created_at for c in self.eval_conversations.values()],
            "audit_log": [e.at for e in self.audit.values()],
        }
        stats = [
            TableStats(
                name=name,
                rows=len(times),
                bytes=None,
                added_last_day=sum(t >= day for t in times),
                added_last_week=sum(t >= week for t in times),
            )
            for name, times in created.items()
        ]
        labels = TableStats(
            name="prompt_labels",
            rows=len(self.prompt_labels),
            bytes=None,
            added_last_day=None,
            added_last_week=None,
        )
        return [*stats, labels]
