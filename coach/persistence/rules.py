"""The rules of ``DatabaseInterface``, written once.

Each backend reads what is stored (a session's owner, its context's version and size, the
user's identities), calls these pure checks, and writes only when they pass. So the memory and
SQL backends accept and refuse the same writes, with the same exception types and messages.
The SQL backend also keeps unique indexes behind the label and turn rules, for writers in other
transactions; it reports their violations with the errors built here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from coach.enums import IdentityState, JobStatus, TurnStatus
from coach.errors import (
    ConcurrencyError,
    DuplicateLabelError,
    DuplicateTurnError,
    IdsTakenError,
    NotFoundError,
    OwnershipError,
    PersistenceError,
    TurnInProgressError,
)
from coach.persistence.records import (
    AuditEntry,
    ContextRecord,
    EvalConversation,
    EvalRun,
    Experiment,
    ExperimentRun,
    IdentityRecord,
    JsonDict,
    MessageRecord,
    PromptLabel,
    PromptVersion,
    RecordBatch,
    SessionOrigin,
    SessionRecords,
    TurnCommit,
    TurnRecord,
    utcnow,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

#: Fields of an identity that ``update_identity`` refuses to change.
FROZEN_IDENTITY_FIELDS = frozenset({"id", "user_id", "created_at"})


def check_page_size(limit: int) -> None:
    """Raise ``ValueError`` unless ``1 <= limit <= MAX_PAGE_SIZE``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}, got {limit}")


def check_keyset_page(limit: int, after: int, name: str) -> None:
    """A keyset page: ``check_page_size``, and the key to start after (``name``) not negative."""
    check_page_size(limit)
    if after < 0:
        raise ValueError(f"{name} must be 0 or more, got {after}")


def label_key(label: str) -> str:
    """The form in which labels are compared for uniqueness (case-insensitive, trimmed)."""
    return " ".join(label.split()).casefold()


def merged_user_data(current: JsonDict, data: Mapping[str, Any]) -> JsonDict:
    """``current`` with ``data``'s top-level keys replaced (a new dict)."""
    return {**current, **data}


def apply_identity_changes(identity: IdentityRecord, changes: Mapping[str, Any]) -> IdentityRecord:
    """Return a validated copy of ``identity`` with ``changes`` applied and ``updated_at`` now.

    Raises:
        ValueError: a field that does not exist or cannot be changed, or an invalid value.
    """
    unknown = set(changes) - set(IdentityRecord.model_fields)
    frozen = set(changes) & FROZEN_IDENTITY_FIELDS
    if unknown or frozen:
        raise ValueError(f"cannot change identity fields: {sorted(unknown | frozen)}")
    data = identity.model_dump()
    data.update(changes)
    data["updated_at"] = utcnow()
    try:
        return IdentityRecord.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"invalid identity change: {e}") from e


# -- what a backend reads before a write ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredSession:
    """What is stored of a session when a write begins."""

    user_id: str
    #: ``None`` when the session has no context yet.
    context_version: int | None
    message_count: int


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """The live turn of a user message: its ``ok`` or ``pending`` turn (at most one)."""

    seq: int
    status: TurnStatus


@dataclass(frozen=True, slots=True)
class StoredIdentity:
    """What the rules need of a stored identity."""

    id: str
    user_id: str
    label: str
    dismissed: bool
    version: int

    @classmethod
    def of(cls, identity: IdentityRecord, *, version: int | None = None) -> StoredIdentity:
        return cls(
            identity.id,
            identity.user_id,
            identity.label,
            identity.state is IdentityState.DISMISSED,
            identity.version if version is None else version,
        )


# -- the checks ----------------------------------------------------------------------------------


def commit_owner(commit: TurnCommit) -> tuple[str, str | None]:
    """The user, and the session if any, that every part of ``commit`` must belong to.

    Raises:
        ValueError: the commit is empty, or its parts name different sessions.
        OwnershipError: its parts name different users.
    """
    parts: list[tuple[str, str, str | None]] = []
    if commit.context is not None:
        parts.append(("context", commit.context.user_id, commit.context.session_id))
    if commit.state is not None:
        parts.append(("state", commit.state.user_id, commit.state.session_id))
    if commit.turn is not None:
        parts.append(("turn", commit.turn.user_id, commit.turn.session_id))
    if commit.user is not None:
        parts.append(("user record", commit.user.id, None))
    parts += [(f"identity {i.id!r}", i.user_id, None) for i in commit.identities]
    if not parts:
        raise ValueError("an empty commit: give at least one record to write")
    first_kind, owner, _ = parts[0]
    session = next((s for _, _, s in parts if s is not None), None)
    for kind, user_id, session_id in parts:
        if session_id is not None and session_id != session:
            raise ValueError(f"the {kind} is for session {session_id!r}, not {session!r}")
        if user_id != owner:
            raise OwnershipError(
                f"the {kind} belongs to user {user_id!r}, the {first_kind} to {owner!r}; "
                "a commit writes the records of one user"
            )
    return owner, session


def check_session_owner(session_id: str, stored: StoredSession | None, user_id: str) -> None:
    """Session ids are global: a session of another user cannot be written for ``user_id``."""
    if stored is not None and stored.user_id != user_id:
        raise OwnershipError(
            f"session {session_id!r} belongs to another user, not to {user_id!r}; "
            "session ids are global: start a new session id for this user"
        )


def check_commit(
    commit: TurnCommit, stored: StoredSession | None, *, live: StoredTurn | None
) -> list[MessageRecord]:
    """Check a whole commit against what is stored; return the messages it appends.

    Args:
        stored: the commit's session as stored (``None``: a new session, or no session).
        live: the live (``ok`` or ``pending``) turn of the commit's turn's user message.

    Raises:
        ValueError, OwnershipError: as ``commit_owner``, or the session is another user's.
        DuplicateTurnError, TurnInProgressError, ConcurrencyError: as ``check_turn``; checked
            before the context (whose version is then stale too: the same message sent twice).
        ConcurrencyError, PersistenceError: as ``new_messages``.
    """
    owner, session_id = commit_owner(commit)
    if session_id is not None:
        check_session_owner(session_id, stored, owner)
    if commit.turn is not None:
        check_turn(commit.turn, live)
    if commit.context is None:
        return []
    return new_messages(commit.context, stored)


def check_turn(turn: TurnRecord, live: StoredTurn | None) -> None:
    """A user message has at most one live turn: a new turn (no ``seq``) needs none, and a
    turn with a ``seq`` completes (or refreshes) that pending turn.

    Raises:
        DuplicateTurnError: a new turn for a message that has an ``ok`` turn.
        TurnInProgressError: a new turn for a message whose turn is still pending.
        ConcurrencyError: the turn to complete is no longer pending (it was completed, or
            marked interrupted, by someone else).
    """
    where = f"of session {turn.session_id!r}"
    if turn.seq is None:
        if live is None:
            return
        if live.status is TurnStatus.OK:
            raise duplicate_turn(turn.session_id, turn.user_message_id)
        raise TurnInProgressError(
            f"message {turn.user_message_id!r} {where} already has a turn in progress "
            f"(turn {live.seq}); follow it instead of sending the message again"
        )
    if live is None or live.seq != turn.seq or live.status is not TurnStatus.PENDING:
        raise turn_not_pending(turn)


def turn_not_pending(turn: TurnRecord) -> ConcurrencyError:
    return ConcurrencyError(
        f"turn {turn.seq} of session {turn.session_id!r} is no longer in progress: it was "
        "completed or marked interrupted by someone else; reload the session to see it"
    )


def new_messages(context: ContextRecord, stored: StoredSession | None) -> list[MessageRecord]:
    """Check a context save against what is stored; return the messages it appends.

    Raises:
        ConcurrencyError: the version is stale (someone saved in between), or 0 for a context
            that exists.
        PersistenceError: the record drops stored messages, skips some, or repeats an id.
    """
    sid = context.session_id
    check_version(
        f"the context of session {sid!r}",
        None if stored is None else stored.context_version,
        context.version,
    )
    count = 0 if stored is None else stored.message_count
    if not context.first_message_index <= count <= context.total_messages:
        raise PersistenceError(
            f"the context of session {sid!r} holds messages {context.first_message_index}.."
            f"{context.total_messages} but {count} are stored: messages are append-only, so a "
            "saved context must end at or after the stored messages and start at or before "
            "their end; load the context again before saving it"
        )
    ids = [m.id for m in context.messages]
    if len(set(ids)) != len(ids):
        raise PersistenceError(
            f"the context of session {sid!r} holds the same message id twice; "
            "every message needs an id of its own"
        )
    return context.messages[count - context.first_message_index :]


def check_version(what: str, stored: int | None, given: int) -> None:
    """A record read at version ``given`` (0: a new record) may only replace version ``stored``
    (``None``: nothing stored).

    Raises:
        ConcurrencyError: someone else saved (or deleted) the record since it was read.
    """
    if given == (stored or 0):
        return
    if given == 0:
        raise ConcurrencyError(
            f"{what} already exists (version {stored}); load it and apply the change again"
        )
    shown = "it was deleted" if stored is None else f"the stored version is {stored}"
    raise ConcurrencyError(
        f"{what} was saved by someone else (version {given} was read, {shown}); "
        "reload it and apply the change again"
    )


def check_identities(
    identities: Sequence[IdentityRecord], stored: Iterable[StoredIdentity]
) -> None:
    """Check identities to upsert, in order, against the stored ones.

    Args:
        stored: the stored identities of the identities' user, and any stored identity with
            the id of one being written.

    Raises:
        OwnershipError: an id is another user's identity.
        ConcurrencyError: an identity's version is not the stored one (0 for one that exists).
        DuplicateLabelError: a label clashes (case-insensitively) with another non-dismissed
            identity of the user, as stored or as written earlier in ``identities``.
    """
    current = {s.id: s for s in stored}
    for identity in identities:
        existing = current.get(identity.id)
        if existing is not None and existing.user_id != identity.user_id:
            raise identity_owner_error(identity)
        check_version(
            f"identity {identity.label!r} ({identity.id})",
            None if existing is None else existing.version,
            identity.version,
        )
        written = StoredIdentity.of(identity, version=identity.version + 1)
        if not written.dismissed:
            key = label_key(identity.label)
            for other in current.values():
                if (
                    other.id != identity.id
                    and other.user_id == identity.user_id
                    and not other.dismissed
                    and label_key(other.label) == key
                ):
                    raise duplicate_label(identity)
        current[identity.id] = written


# -- errors shared with the storage's own guards ----------------------------------------------


def duplicate_label(identity: IdentityRecord) -> DuplicateLabelError:
    return DuplicateLabelError(
        f"user {identity.user_id!r} already has an identity labelled {identity.label!r} "
        "(labels are compared case-insensitively); choose another label or dismiss the other "
        "identity first"
    )


def identity_owner_error(identity: IdentityRecord) -> OwnershipError:
    return OwnershipError(
        f"identity {identity.id!r} belongs to another user than {identity.user_id!r}; "
        "give a new identity a new id"
    )


def duplicate_turn(session_id: str, user_message_id: str) -> DuplicateTurnError:
    return DuplicateTurnError(
        f"message {user_message_id!r} of session {session_id!r} already has a completed turn; "
        "load the session to see its reply instead of sending it again"
    )


def message_ids_taken(session_id: str, taken: Iterable[str]) -> PersistenceError:
    return PersistenceError(
        f"saving the messages of session {session_id!r} failed: message ids already stored: "
        f"{', '.join(sorted(taken))}; every message needs an id of its own"
    )


# --- prompt versions and labels -----------------------------------------------------------------


def check_new_prompt_version(version: PromptVersion) -> None:
    """A version to add: not yet numbered, with a body."""
    if version.version is not None:
        raise ValueError(
            f"a new version of prompt part {version.part!r} is numbered by the store; "
            f"leave version unset (got {version.version})"
        )
    if not version.body.strip():
        raise ValueError(f"a version of prompt part {version.part!r} needs a body; it is empty")


def check_label_move(
    part: str,
    label: str,
    version: int,
    *,
    target: PromptVersion | None,
    current: PromptLabel | None,
    expected_revision: int | None,
    by: str,
) -> PromptLabel:
    """Moving ``label`` of ``part`` to ``version``: the version must exist in that part, and
    the label must still be at the revision the caller saw (``None``: not created yet).

    Returns:
        The label as it is to be stored, at its next revision.
    """
    if not label.strip():
        raise ValueError(f"a label of prompt part {part!r} needs a name")
    if target is None:
        raise NotFoundError(
            f"prompt part {part!r} has no version {version}; "
            "pick one of its versions (python -m coach prompts list)"
        )
    seen = None if current is None else current.revision
    if seen != expected_revision:
        raise label_moved(part, label, current)
    return PromptLabel(
        part=part,
        label=label,
        version=version,
        revision=1 if current is None else current.revision + 1,
        updated_by=by,
        updated_at=utcnow(),
    )


def label_moved(part: str, label: str, current: PromptLabel | None) -> ConcurrencyError:
    if current is None:
        return ConcurrencyError(f"label {label!r} of prompt part {part!r} does not exist")
    return ConcurrencyError(
        f"label {label!r} of prompt part {part!r} changed since you loaded it: it points at "
        f"version {current.version} (revision {current.revision}, set by "
        f"{current.updated_by or 'someone'} at {current.updated_at:%Y-%m-%d %H:%M:%S} UTC). "
        "Reload and decide again."
    )


# -- experiments ---------------------------------------------------------------------------------


def check_new_experiment(experiment: Experiment, *, session_exists: bool) -> None:
    """An experiment to add: running, without runs, on a stored session."""
    if experiment.status is not JobStatus.RUNNING or experiment.ended_at is not None:
        raise ValueError(f"a new experiment is running, not {experiment.status.value}")
    if experiment.runs:
        raise ValueError("a new experiment holds no runs yet; add them with add_experiment_run")
    if not session_exists:
        raise NotFoundError(f"session {experiment.session_id} does not exist")


def check_experiment_run(
    run: ExperimentRun, experiment: Experiment | None, *, numbers_taken: Iterable[int]
) -> None:
    """A run to add: to a running experiment, numbered within its runs, once."""
    running = _running_experiment(run.experiment_id, experiment)
    if run.number > running.runs_requested:
        raise ValueError(
            f"experiment {running.name!r} asked for {running.runs_requested} runs; "
            f"there is no run {run.number}"
        )
    if run.number in set(numbers_taken):
        raise run_taken(running, run.number)


def run_taken(experiment: Experiment, number: int) -> ConcurrencyError:
    return ConcurrencyError(f"experiment {experiment.name!r} holds run {number} already")


def ended_experiment(
    experiment_id: str, experiment: Experiment | None, error: str | None
) -> Experiment:
    """The running experiment as it is to be stored when it ends (its runs left as they are)."""
    running = _running_experiment(experiment_id, experiment)
    status = JobStatus.DONE if error is None else JobStatus.FAILED
    return running.model_copy(update={"status": status, "error": error, "ended_at": utcnow()})


def _running_experiment(experiment_id: str, experiment: Experiment | None) -> Experiment:
    if experiment is None:
        raise NotFoundError(f"experiment {experiment_id} does not exist")
    if experiment.status is not JobStatus.RUNNING:
        raise ConcurrencyError(
            f"experiment {experiment.name!r} has ended ({experiment.status.value}); "
            "its runs can no longer change"
        )
    return experiment


def check_session_origin(origin: SessionOrigin, *, session_exists: bool) -> None:
    if not session_exists:
        raise NotFoundError(
            f"session {origin.session_id} does not exist; store it before where it came from"
        )


# -- eval runs -----------------------------------------------------------------------------------


def check_eval_run(run: EvalRun) -> None:
    """A run to store: ``ended_at`` set exactly when it has ended.

    Raises:
        ValueError: ``ended_at`` set on a running run, or missing on an ended one.
    """
    _check_ended_at(f"eval run {run.name!r}", run.status, run.ended_at)


def check_eval_conversation(
    conversation: EvalConversation,
    run: EvalRun | None,
    *,
    session_owner: str | None,
    stored: EvalConversation | None,
) -> None:
    """A conversation to store (or replace): of a stored run and session, one of the run's
    plays, replacing only a running conversation of the same run.

    Args:
        run: the conversation's run as stored (``None``: no such run).
        session_owner: the user of the conversation's session (``None``: no such session).
        stored: the conversation stored under its session, if any.

    Raises:
        NotFoundError: no such run or session.
        ValueError: a scenario the run does not play, a repeat above its ``repeats``, or
            ``ended_at`` set on a running conversation (or missing on an ended one).
        OwnershipError: the session is another user's, or the stored conversation another run's.
        ConcurrencyError: the stored conversation has ended.
    """
    sid = conversation.session_id
    if run is None:
        raise NotFoundError(
            f"eval run {conversation.run_id} does not exist; store the run before its conversations"
        )
    if session_owner is None:
        raise NotFoundError(
            f"session {sid} does not exist; open the session before storing its conversation"
        )
    if conversation.scenario not in run.scenario_names:
        raise ValueError(
            f"eval run {run.name!r} does not play scenario {conversation.scenario!r}; "
            f"its scenarios are {', '.join(run.scenario_names)}"
        )
    if conversation.repeat > run.repeats:
        raise ValueError(
            f"eval run {run.name!r} plays each scenario {run.repeats} times; "
            f"there is no repeat {conversation.repeat}"
        )
    _check_ended_at(
        f"the eval conversation of session {sid}", conversation.status, conversation.ended_at
    )
    if session_owner != conversation.user_id:
        raise OwnershipError(
            f"session {sid} belongs to another user, not to {conversation.user_id!r}; "
            "store the conversation under its session's user"
        )
    if stored is None:
        return
    if stored.run_id != conversation.run_id:
        raise OwnershipError(
            f"session {sid} holds a conversation of eval run {stored.run_id}, not of "
            f"{conversation.run_id}; a session plays one conversation: open a new session"
        )
    if stored.status is not JobStatus.RUNNING:
        raise ConcurrencyError(
            f"the eval conversation of session {sid} has ended ({stored.status.value}); "
            "an ended conversation is not changed again"
        )


def with_conversations(run: EvalRun, conversations: Iterable[EvalConversation]) -> EvalRun:
    """``run`` holding ``conversations`` (copies) in the order ``get_eval_run`` returns them:
    by scenario in the run's order, then repeat, then start."""
    position = {name: i for i, name in enumerate(run.scenario_names)}
    ordered = sorted(
        conversations,
        key=lambda c: (position.get(c.scenario, len(position)), c.repeat, c.created_at),
    )
    return run.model_copy(
        deep=True, update={"conversations": [c.model_copy(deep=True) for c in ordered]}
    )


def _check_ended_at(what: str, status: JobStatus, ended_at: datetime | None) -> None:
    running = status is JobStatus.RUNNING
    if running and ended_at is not None:
        raise ValueError(f"{what} is running, so it has no ended_at; leave it unset")
    if not running and ended_at is None:
        raise ValueError(f"{what} has ended ({status.value}); give it its ended_at")


# -- imports -------------------------------------------------------------------------------------


def batch_problems(batch: RecordBatch, stored_users: Iterable[str] = ()) -> list[str]:
    """Every way the records to import do not hold together, each as ``path: problem``.
    ``stored_users``: users the store holds, to whom the batch may add sessions."""
    problems: list[str] = []
    users = {u.id for u in batch.users} | set(stored_users)
    owners: dict[str, str] = {}
    seen: dict[tuple[str, str], str] = {}

    def once(kind: str, record_id: str, path: str) -> None:
        if (kind, record_id) in seen:
            problems.append(
                f"{path}: {kind} id {record_id} is used twice (also at {seen[(kind, record_id)]})"
            )
        seen[(kind, record_id)] = path

    for i, user in enumerate(batch.users):
        once("user", user.id, f"users[{i}]")
    for i, version in enumerate(batch.prompt_versions):
        if version.version is None:
            problems.append(f"prompt_versions[{i}].version: a stored version has its number")
        else:
            once("prompt version", version.ref, f"prompt_versions[{i}]")
    for i, session in enumerate(batch.sessions):
        path = f"sessions[{i}]"
        once("session", session.session_id, path)
        owners[session.session_id] = session.user_id
        if session.user_id not in users:
            problems.append(f"{path}.user_id: user {session.user_id} is not among the users")
        problems += _session_problems(session, path, once)
    for i, identity in enumerate(batch.identities):
        path = f"identities[{i}]"
        once("identity", identity.id, path)
        if identity.user_id not in users:
            problems.append(f"{path}.user_id: user {identity.user_id} is not among the users")
        owner = owners.get(identity.session_id or "")
        if identity.session_id is not None and owner is None:
            problems.append(
                f"{path}.session_id: session {identity.session_id} is not among the sessions"
            )
        elif owner is not None and owner != identity.user_id:
            problems.append(
                f"{path}: identity {identity.label!r} of user {identity.user_id} names session "
                f"{identity.session_id}, which is user {owner}'s"
            )
    return problems


def _session_problems(
    session: SessionRecords, path: str, once: Callable[[str, str, str], None]
) -> list[str]:
    problems: list[str] = []
    for name, record in (("state", session.state), ("context", session.context)):
        if record is not None and (record.user_id, record.session_id) != (
            session.user_id,
            session.session_id,
        ):
            problems.append(f"{path}.{name}: belongs to another user or session")
    messages = [] if session.context is None else session.context.messages
    if session.context is not None and session.context.first_message_index:
        problems.append(
            f"{path}.context.first_message_index: must be 0 (every message is imported)"
        )
    ids = {m.id for m in messages}
    for j, message in enumerate(messages):
        once("message", message.id, f"{path}.context.messages[{j}]")
        if message.reply_to is not None and message.reply_to not in ids:
            problems.append(
                f"{path}.context.messages[{j}].reply_to: message {message.reply_to} is not "
                "in this session"
            )
    for j, turn in enumerate(session.turns):
        where = f"{path}.turns[{j}]"
        if turn.seq != j + 1:
            problems.append(f"{where}.seq: must be {j + 1} (turns are numbered from 1, in order)")
        if (turn.user_id, turn.session_id) != (session.user_id, session.session_id):
            problems.append(f"{where}: belongs to another user or session")
        for field_name in ("user_message_id", "coach_message_id"):
            message_id = getattr(turn, field_name)
            if message_id is not None and message_id not in ids:
                problems.append(
                    f"{where}.{field_name}: message {message_id} is not in this session"
                )
    if session.origin is not None and session.origin.session_id != session.session_id:
        problems.append(f"{path}.origin.session_id: must be {session.session_id}")
    return problems


def outside_users(batch: RecordBatch) -> list[str]:
    """The users the batch's sessions and identities belong to that it does not hold."""
    own = {u.id for u in batch.users}
    named = {s.user_id for s in batch.sessions} | {i.user_id for i in batch.identities}
    return sorted(named - own)


def check_batch(batch: RecordBatch, stored_users: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` listing every problem of ``batch_problems``."""
    problems = batch_problems(batch, stored_users)
    if problems:
        raise ValueError("the records to import do not hold together:\n- " + "\n- ".join(problems))


def batch_ids(batch: RecordBatch) -> dict[str, list[str]]:
    """The ids the batch would store, by kind (each must be new)."""
    return {
        "user": [u.id for u in batch.users],
        "session": [s.session_id for s in batch.sessions],
        "message": [
            m.id for s in batch.sessions if s.context is not None for m in s.context.messages
        ],
        "identity": [i.id for i in batch.identities],
    }


def ids_taken(taken: Mapping[str, Sequence[str]]) -> IdsTakenError:
    shown = "; ".join(
        f"{kind} {', '.join(ids[:5])}{' and more' if len(ids) > 5 else ''}"
        for kind, ids in taken.items()
        if ids
    )
    return IdsTakenError(
        f"these ids are stored already: {shown}. Nothing was imported; import under new ids "
        "(leave out --keep-ids) or delete those records first"
    )


def prompt_versions_to_store(
    batch: RecordBatch,
    stored: Mapping[tuple[str, int], PromptVersion | None],
    same_content: Mapping[tuple[str, int], PromptVersion | None],
) -> list[PromptVersion]:
    """The batch's prompt versions the store lacks. ``stored``: what the store holds at each
    version's part and number; ``same_content``: a stored version of the part with the same
    content, if any. Raises ``IdsTakenError`` for a number the store holds with other content,
    or content the store holds under another number (a part holds each content once)."""
    missing, conflicts = [], []
    for version in batch.prompt_versions:
        key = (version.part, version.version or 0)
        held, twin = stored.get(key), same_content.get(key)
        if held is not None and held.content_hash != version.content_hash:
            conflicts.append(f"{version.ref} is stored here with other content")
        elif held is None and twin is not None:
            conflicts.append(f"{version.ref} is stored here as {twin.ref}")
        elif held is None:
            missing.append(version)
    if conflicts:
        raise IdsTakenError(
            f"the bundle's prompt versions do not match this database's: {'; '.join(conflicts)}. "
            "Nothing was imported; import under new ids (leave out --keep-ids): the bundle's "
            "versions then take this database's numbers"
        )
    return missing


# -- the audit log and the storage report --------------------------------------------------------


def audit_order(entry: AuditEntry) -> tuple[datetime, str]:
    """The key ``list_audit_entries`` sorts by, newest first: the time, then the id."""
    return entry.at, entry.id


def audit_id_taken(entry_id: str) -> IdsTakenError:
    return IdsTakenError(
        f"the audit log holds an entry with id {entry_id!r} already; entries are never "
        "replaced: give a new entry a new id"
    )


def growth_since(now: datetime) -> tuple[datetime, datetime]:
    """The times from which ``describe_storage`` counts a table's rows as added in the last
    day and the last week (inclusive)."""
    return now - timedelta(days=1), now - timedelta(days=7)
