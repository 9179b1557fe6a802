"""The stored records (pydantic v2): what every backend keeps and returns.

All timestamps are timezone-aware UTC; a naive datetime is taken to be UTC. Every ``dict`` or
``list`` field holds plain JSON (what ``model_dump(mode="json")`` produces), so records
round-trip unchanged through the JSON columns of the SQL backend.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from coach.enums import (
    ActionStatus,
    CoachingState,
    IdentityCategory,
    IdentityState,
    JobStatus,
    MessageRole,
    OriginKind,
    TurnStatus,
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new globally unique id (UUID4, canonical text form)."""
    return str(uuid.uuid4())


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]
JsonDict = dict[str, JsonValue]


class Record(BaseModel):
    """Base of every record: validated on assignment, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class UserRecord(Record):
    """A coaching client. ``data`` holds ``name``, ``goals`` and any other profile facts."""

    id: str
    data: JsonDict = Field(default_factory=dict)
    #: 0 until stored; each save stores the next version (see ``DatabaseInterface``).
    version: int = Field(default=0, ge=0)
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime = Field(default_factory=utcnow)


class StateRecord(Record):
    """The phase of one session and the identity it focuses on."""

    user_id: str
    session_id: str
    state: CoachingState = CoachingState.INTRODUCTION
    focus_identity_id: str | None = None
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime = Field(default_factory=utcnow)


class MessageRecord(Record):
    """One message of a conversation. Messages are append-only: never changed once stored,
    so the record is frozen and can be shared safely."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_id)
    role: MessageRole
    content: str
    #: For a coach reply, the user message it answers (replies and messages may interleave
    #: when two tabs send at once).
    reply_to: str | None = None
    created_at: UTCDateTime = Field(default_factory=utcnow)


class ContextRecord(Record):
    """The conversation of one session.

    ``messages`` may be the newest part of the conversation only (see
    ``DatabaseInterface.get_context``): ``first_message_index`` is the position of
    ``messages[0]`` in the whole conversation, so ``total_messages`` counts every stored message.
    ``version`` counts the saves; a record read at version *v* can only be saved over version *v*.
    ``user_data`` holds the rolling summary and other engine metadata.
    """

    user_id: str
    session_id: str
    messages: list[MessageRecord] = Field(default_factory=list)
    first_message_index: int = Field(default=0, ge=0)
    user_data: JsonDict = Field(default_factory=dict)
    version: int = Field(default=0, ge=0)
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime = Field(default_factory=utcnow)

    @property
    def total_messages(self) -> int:
        """How many messages the whole conversation holds, including those not loaded."""
        return self.first_message_index + len(self.messages)


class ActionItemRecord(Record):
    id: str = Field(default_factory=new_id)
    text: str
    done: bool = False
    created_at: UTCDateTime = Field(default_factory=utcnow)
    done_at: UTCDateTime | None = None


class IdentityRecord(Record):
    """An identity of a user. It belongs to the user; ``session_id`` is where it was found."""

    id: str = Field(default_factory=new_id)
    user_id: str
    label: str
    category: IdentityCategory
    description: str = ""
    state: IdentityState = IdentityState.PROPOSED
    affirmation: str | None = None
    visualization: str | None = None
    notes: list[str] = Field(default_factory=list)
    action_items: list[ActionItemRecord] = Field(default_factory=list)
    session_id: str | None = None
    #: 0 until stored; each save stores the next version (see ``DatabaseInterface``).
    version: int = Field(default=0, ge=0)
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime = Field(default_factory=utcnow)


class ActionResultRecord(Record):
    """One action the model asked for, and what became of it."""

    type: str
    params: JsonDict = Field(default_factory=dict)
    status: ActionStatus
    reason: str | None = None


class TurnOutline(Record):
    """What a turn changed, and nothing else: its phase decision, its actions and how it ended.

    The phase timeline, the identities' history and the turn-to-turn diff are drawn from these,
    for every turn of a session at once (``DatabaseInterface.list_turn_outlines``).
    """

    seq: int | None = None
    state_before: CoachingState
    state_after: CoachingState
    requested_transition: CoachingState | None = None
    transition_refused_reason: str | None = None
    actions: list[ActionResultRecord] = Field(default_factory=list)
    status: TurnStatus = TurnStatus.OK
    error: str | None = None
    created_at: UTCDateTime = Field(default_factory=utcnow)


class ModelUsage(Record):
    """The tokens one model used in one session's turns (``list_model_usage``): what its cost
    is computed from."""

    session_id: str
    provider: str
    model: str
    turns: int
    input_tokens: int
    output_tokens: int


class TurnSummary(TurnOutline):
    """A turn as lists show it: what happened and what it cost, without the prompt sent, the
    raw output and the details (see ``TurnRecord``).

    ``seq`` numbers the turns of a session from 1; the backend assigns it when the turn is
    first stored (leave it ``None``). A turn is stored ``pending`` with the user's message
    before the model is called, and ends ``ok`` or ``failed``; ``owner`` names the process
    running a pending turn and ``heartbeat_at`` when it last said it still does. A ``failed``
    turn has no coach message and says why in ``error``.
    """

    session_id: str
    user_id: str
    user_message_id: str
    coach_message_id: str | None = None
    prompt_name: str = ""
    prompt_version: str = ""
    prompt_hash: str = ""
    model: str = ""
    provider: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    owner: str | None = None
    heartbeat_at: UTCDateTime | None = None

    def outline(self) -> TurnOutline:
        return TurnOutline.model_validate(self.model_dump(include=set(TurnOutline.model_fields)))


class TurnRecord(TurnSummary):
    """The log of one turn: what the model saw, said and did, and what it cost."""

    system_prompt: str = ""
    raw_output: str = ""
    details: JsonDict = Field(default_factory=dict)

    def summary(self) -> TurnSummary:
        return TurnSummary.model_validate(self.model_dump(include=set(TurnSummary.model_fields)))


class TurnCommit(Record):
    """Records written together, as one unit, by ``DatabaseInterface.commit_turn``: the one
    write of the interface (the single-record saves are commits of one record).

    ``context`` carries the messages appended after the ones stored, and the version it was
    read at. ``identities`` are upserted whole, in order. ``turn`` is ``None`` for writes that
    are not a model turn (opening a session with its welcome message). Every part must belong
    to one user, and those with a session to one session.
    """

    context: ContextRecord | None = None
    state: StateRecord | None = None
    identities: list[IdentityRecord] = Field(default_factory=list)
    user: UserRecord | None = None
    turn: TurnRecord | None = None


class CommitResult(Record):
    """What ``commit_turn`` stored."""

    #: The time written records got as ``updated_at``.
    committed_at: UTCDateTime
    #: The context's new version and its creation time (``None`` without a context).
    context_version: int | None = None
    context_created_at: UTCDateTime | None = None
    #: The turn's sequence number in its session (``None`` without a turn).
    turn_seq: int | None = None


class UserSummary(Record):
    """One row of ``list_users``."""

    id: str
    name: str | None = None
    session_count: int
    created_at: UTCDateTime
    last_activity_at: UTCDateTime | None = None


class SessionSummary(Record):
    """One row of ``list_sessions``: a session with its client, phase, size and last activity."""

    session_id: str
    user_id: str
    #: The client's name (``data["name"]`` of the user), ``None`` when they have none. Two
    #: clients may share a name: ``user_id`` tells them apart.
    user_name: str | None = None
    state: CoachingState | None = None
    message_count: int
    turn_count: int
    created_at: UTCDateTime
    last_activity_at: UTCDateTime


class PromptVersion(Record):
    """One version of a prompt part (``persona``, ``introduction``, ``welcome``, ...): its text
    and front matter, as a coach saved it. Versions are immutable; ``version`` numbers a part's
    versions from 1 and is assigned by the store (leave it ``None``)."""

    part: str = Field(min_length=1)
    version: int | None = None
    body: str
    #: The prompt file's front matter: kind, phase, allowed actions, variables, description.
    front_matter: JsonDict = Field(default_factory=dict)
    author: str = ""
    note: str = ""
    created_at: UTCDateTime = Field(default_factory=utcnow)

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the body and front matter: equal for equal content."""
        canonical = json.dumps([self.body, self.front_matter], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def ref(self) -> str:
        """``part@version``, as turns record it."""
        return f"{self.part}@{self.version}"


class PromptLabel(Record):
    """A name pointing at one version of a part. ``active`` is what the coach uses; others
    (``default``, ``draft``, ...) are free. ``revision`` counts the label's moves: a move names
    the revision it saw, so of two coaches moving one label at once, the later is refused."""

    part: str
    label: str
    version: int
    revision: int = 1
    updated_by: str = ""
    updated_at: UTCDateTime = Field(default_factory=utcnow)


#: The most runs one experiment may ask for.
MAX_EXPERIMENT_RUNS = 10


class ExperimentRun(Record):
    """One new answer to an experiment's turn. Its actions and phase request are as the model
    proposed them, not applied."""

    experiment_id: str
    number: int = Field(ge=1, le=MAX_EXPERIMENT_RUNS)
    reply: str | None = None
    #: ``{"type": ..., "params": {...}}`` per proposed action.
    actions: list[JsonDict] = Field(default_factory=list)
    requested_phase: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float = 0.0
    #: Why the run failed (the model's error), or ``None``.
    error: str | None = None
    created_at: UTCDateTime = Field(default_factory=utcnow)


class StoredTask(Record):
    """What a task of the engine stored as it goes holds besides its work: it is ``running``
    (owned by a process, which beats its heartbeat for owners on another host), then ``done``
    or ``failed`` with the reason."""

    status: JobStatus = JobStatus.RUNNING
    error: str | None = None
    created_by: str = ""
    #: The process running it (``coach.process.ProcessId``), as a pending turn's ``owner``.
    owner: str | None = None
    #: When it last said it still runs, for owners on another host.
    heartbeat_at: UTCDateTime | None = None
    created_at: UTCDateTime = Field(default_factory=utcnow)
    ended_at: UTCDateTime | None = None

    def running_again(self, owner: str, **changes: Any) -> Self:
        """This task, which stopped, running again in process ``owner`` (a resume), with
        ``changes``."""
        update = {"status": JobStatus.RUNNING, "error": None, "ended_at": None}
        return self.model_copy(
            update={**update, "owner": owner, "heartbeat_at": utcnow(), **changes}
        )


class Experiment(StoredTask):
    """A stored turn answered again ``runs_requested`` times with another prompt version set or
    model, without touching the session: kept under a name, so a coach can come back to it.

    Its runs are stored as each ends (``add_experiment_run``); ``get_experiment`` returns them
    in ``runs``, by number. ``list_experiments`` leaves ``runs`` empty.
    """

    id: str = Field(default_factory=new_id)
    name: str = Field(min_length=1)
    session_id: str
    turn_seq: int = Field(ge=1)
    #: The prompt version set asked for (``PromptPin`` as JSON); ``None``: the active versions.
    pin: JsonDict | None = None
    #: The versions the runs used (``part@n+...``, as turns record them).
    prompt_version: str
    #: ``provider/model`` of the runs.
    model: str
    runs_requested: int = Field(ge=1, le=MAX_EXPERIMENT_RUNS)
    runs: list[ExperimentRun] = Field(default_factory=list)


class SessionOrigin(StoredTask):
    """Where a session came from: another session, forked after turn ``at_turn`` or replayed,
    and how far making it got. Made as a task of the engine: ``running`` (``turns_done`` of
    ``turns_total``), then ``done``, or ``failed`` with the reason (a cancelled one says so).
    """

    session_id: str
    source_session_id: str
    kind: OriginKind
    #: A fork: the last turn taken from the source; a replay: ``None`` (every turn).
    at_turn: int | None = Field(default=None, ge=0)
    #: The prompt version set asked for (``PromptPin`` as JSON); ``None``: the active one.
    pin: JsonDict | None = None
    #: ``provider/model`` of a live replay; ``""`` otherwise.
    model: str = ""
    turns_done: int = Field(default=0, ge=0)
    turns_total: int = Field(default=0, ge=0)
    #: How the new session differs from the source, turn by turn (``Difference`` as JSON).
    differences: list[JsonDict] = Field(default_factory=list)


#: The most conversations one eval run may play per scenario, and at once.
MAX_EVAL_REPEATS = 100
MAX_EVAL_CONCURRENCY = 32


class EvalConversation(Record):
    """One conversation of an eval run: a scenario played once, as a real stored session.

    Stored ``running`` when its session is opened (which tags the session with the run), and
    replaced when it ends: ``done`` with its checks, or ``failed`` with ``error`` when it could
    not be played to its end (the model failed, the process stopped). Failed turns do not fail
    the conversation; a scenario's checks judge them.
    """

    session_id: str
    run_id: str
    #: The scenario's name, one of the run's.
    scenario: str
    #: Which of the scenario's ``repeats`` plays this is (from 1).
    repeat: int = Field(ge=1, le=MAX_EVAL_REPEATS)
    user_id: str
    status: JobStatus = JobStatus.RUNNING
    error: str | None = None
    #: Every deterministic check passed (``None`` until it ends ``done``).
    passed: bool | None = None
    #: ``CheckOutcome`` as JSON per assertion, then the rubric's verdicts (``kind: rubric``).
    checks: list[JsonDict] = Field(default_factory=list)
    #: The conversation's own turns (a fixture's are not counted), and their cost.
    turns: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    #: Each turn's latency, in order.
    latencies_ms: list[float] = Field(default_factory=list)
    #: ``provider/model`` of the coach, and the prompt versions its turns used.
    model: str = ""
    prompt_version: str = ""
    created_at: UTCDateTime = Field(default_factory=utcnow)
    ended_at: UTCDateTime | None = None


class EvalRun(StoredTask):
    """Scenarios each played ``repeats`` times, at most ``concurrency`` conversations at once,
    as a task of the engine: its conversations are stored as they start and end, and
    ``get_eval_run`` returns them in ``conversations`` (by scenario, repeat, then start).
    ``list_eval_runs`` leaves ``conversations`` empty.
    """

    id: str = Field(default_factory=new_id)
    name: str = Field(min_length=1)
    #: The scenarios as they were when the run started (``Scenario`` as JSON), so a run can
    #: be resumed and read whatever happens to the files since.
    scenarios: list[JsonDict] = Field(min_length=1)
    repeats: int = Field(ge=1, le=MAX_EVAL_REPEATS)
    concurrency: int = Field(default=8, ge=1, le=MAX_EVAL_CONCURRENCY)
    #: The prompt version set asked for instead of each scenario's (``PromptPin`` as JSON).
    pin: JsonDict | None = None
    #: ``provider/model`` of the coach under test and of the simulated clients.
    model: str = ""
    client_model: str = ""
    #: Identical model requests answered once per run (opt-in): repeats are not independent.
    cached: bool = False
    conversations: list[EvalConversation] = Field(default_factory=list)

    @property
    def scenario_names(self) -> list[str]:
        return [str(s["name"]) for s in self.scenarios]

    @property
    def total(self) -> int:
        """The conversations the run plays: each scenario ``repeats`` times."""
        return len(self.scenarios) * self.repeats

    @property
    def played(self) -> set[tuple[str, int]]:
        """``(scenario, repeat)`` of the conversations played to their end (one cut short
        and played again on a resume counts once); a resume plays the others."""
        return {(c.scenario, c.repeat) for c in self.conversations if c.status is JobStatus.DONE}


class SessionRecords(Record):
    """One whole session as ``import_records`` writes it: its state, its context with every
    message (``first_message_index`` 0), its turns numbered from 1, and its origin."""

    session_id: str
    user_id: str
    created_at: UTCDateTime = Field(default_factory=utcnow)
    last_activity_at: UTCDateTime = Field(default_factory=utcnow)
    state: StateRecord | None = None
    context: ContextRecord | None = None
    turns: list[TurnRecord] = Field(default_factory=list)
    origin: SessionOrigin | None = None


class RecordBatch(Record):
    """Whole users and sessions, written together by ``import_records`` (all or nothing)."""

    users: list[UserRecord] = Field(default_factory=list)
    sessions: list[SessionRecords] = Field(default_factory=list)
    identities: list[IdentityRecord] = Field(default_factory=list)
    #: Prompt versions the turns used, stored under their own numbers where missing.
    prompt_versions: list[PromptVersion] = Field(default_factory=list)


class AuditEntry(Record):
    """One authoring or destructive action, or a sign-in: who, what, on which ids, when, and
    the outcome. Entries are appended, never changed, and hold ids only (never message
    content), so they stay when the records they name are deleted."""

    id: str = Field(default_factory=new_id)
    at: UTCDateTime = Field(default_factory=utcnow)
    #: Who: an e-mail, a name, or ``"local"`` when access control is off.
    actor: str
    #: ``viewer``, ``coach`` or ``admin``; ``""`` for a refused sign-in.
    role: str = ""
    #: What, e.g. ``delete_session``, ``sign_in``, ``activate_prompt``.
    action: str
    #: The ids acted on.
    target_ids: list[str] = Field(default_factory=list)
    outcome: Literal["ok", "refused", "failed"]
    #: Why it was refused or failed, counts; never message content.
    detail: str = ""


class TableStats(Record):
    """One table of ``DatabaseInterface.describe_storage``: its rows, size and growth."""

    name: str
    rows: int
    #: Bytes on disk with its indexes; ``None`` when the backend cannot tell (memory).
    bytes: int | None
    #: Rows created in the last 24 hours and 7 days, by the table's creation time; ``None``
    #: for a table without one.
    added_last_day: int | None
    added_last_week: int | None


class StorageReport(Record):
    """What a store holds, table by table, for the Admin page."""

    #: ``"memory"``, ``"sqlite"`` or ``"postgresql"``.
    backend: str
    #: The Alembic revision of the schema; ``None`` for memory.
    revision: str | None
    tables: list[TableStats]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paged list. Pass ``next_cursor`` back to get the next page;
    it is ``None`` on the last page."""

    items: list[T]
    next_cursor: str | None = None


__all__ = [
    "MAX_EVAL_CONCURRENCY",
    "MAX_EVAL_REPEATS",
    "MAX_EXPERIMENT_RUNS",
    "ActionItemRecord",
    "ActionResultRecord",
    "AuditEntry",
    "CommitResult",
    "ContextRecord",
    "EvalConversation",
    "EvalRun",
    "Experiment",
    "ExperimentRun",
    "IdentityRecord",
    "JsonDict",
    "MessageRecord",
    "Page",
    "PromptLabel",
    "PromptVersion",
    "Record",
    "RecordBatch",
    "SessionOrigin",
    "SessionRecords",
    "SessionSummary",
    "StateRecord",
    "StorageReport",
    "StoredTask",
    "TableStats",
    "TurnCommit",
    "TurnOutline",
    "TurnRecord",
    "TurnSummary",
    "UTCDateTime",
    "UserRecord",
    "UserSummary",
    "as_utc",
    "new_id",
    "utcnow",
]
