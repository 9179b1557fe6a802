"""Replay: a session's user messages sent again, turn by turn, into a new session of a new
client, through the real engine (parsing, actions, the state machine, persistence).

- **Exact**: each message is answered with the model output its turn recorded; no model is
  asked.
- **Live**: a model answers, with the prompt versions a pin selects (the new session is pinned).

The replay must end where the original did: the same phases, phase decisions, actions (with
their outcomes and reasons) and identities. Every difference is reported by turn, so an exact
replay is a regression check of the engine: a change to a rule shows as the first turn that
comes out otherwise.

Ids differ between the two sessions: the identities and action items the replay creates get
new ids, so each recorded output is given the replay's ids for the ones the original had
created before it. A summary the original's model wrote is fed back as recorded too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import JsonValue

from coach.context import SUMMARY_TEXT
from coach.enums import ActionStatus, CoachingState, TurnStatus
from coach.errors import InputError, LLMResponseError
from coach.llm.base import LLMClient, LLMRequest
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    IdentityRecord,
    SessionOrigin,
    SessionSummary,
    TurnOutline,
    TurnRecord,
    TurnSummary,
    new_id,
)
from coach.prompts.library import PromptLibrary, PromptPin
from coach.prompts.variables import PROMPT_VARIABLES
from coach.service import CoachService
from coach.turns.events import TurnEvent, TurnResult
from coach.turns.recovery import INTERRUPTED as TURN_INTERRUPTED

#: Turns read from the original per page.
PAGE = 200
#: The ids an action creates, as its result's params name them.
CREATED_IDS = {"create_identity": "identity_id", "add_action_item": "action_item_id"}
#: The identity fields an exact replay must reproduce (and its action items).
IDENTITY_FIELDS = {
    "label",
    "category",
    "description",
    "state",
    "affirmation",
    "visualization",
    "notes",
}


@dataclass(frozen=True)
class Difference:
    """One way a replayed turn (or the end state) came out otherwise than the original."""

    seq: int
    what: str
    original: JsonValue
    replayed: JsonValue

    def describe(self, first: str = "was", second: str = "replayed") -> str:
        where = "at the end" if self.seq == 0 else f"turn {self.seq}"
        return (
            f"{where}: {self.what} {first} {json.dumps(self.original, ensure_ascii=False)}, "
            f"{second} {json.dumps(self.replayed, ensure_ascii=False)}"
        )


@dataclass
class ReplayReport:
    """What an exact replay did, and every difference from the original."""

    source_session_id: str
    user_id: str
    session_id: str
    turns: int = 0
    differences: list[Difference] = field(default_factory=list)
    #: Requests answered from the recording (turns and summaries); no model is ever asked.
    recorded_answers: int = 0

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def first_difference(self) -> Difference | None:
        turns = [d for d in self.differences if d.seq]
        return min(turns, key=lambda d: d.seq) if turns else next(iter(self.differences), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "source_session_id": self.source_session_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "turns": self.turns,
            "identical": self.identical,
            "recorded_answers": self.recorded_answers,
            "differences": [asdict(d) for d in self.differences],
        }


class RecordedLLMClient(ScriptedLLMClient):
    """Answers with what the turn being replayed recorded: its raw output (with the replay's
    ids), or the summary it wrote. It never asks a model.

    Its turns name the provider ``replay``, or the original turn's provider for a fork (a copy
    of the turns as they were).
    """

    provider = "replay"

    def __init__(self, *, as_original: bool = False) -> None:
        super().__init__(function=self._answer)
        self.as_original = as_original
        self.turn: TurnRecord | None = None
        #: The original's ids -> the replay's.
        self.ids: dict[str, str] = {}
        self.answered = 0

    def play(self, turn: TurnRecord) -> None:
        """Answer the next requests as ``turn`` was answered, by its model."""
        self.turn = turn
        self.model = turn.model
        if self.as_original:
            self.provider = turn.provider

    def _answer(self, request: LLMRequest) -> str | BaseException:
        turn = self.turn
        assert turn is not None, "no turn is being replayed"
        self.answered += 1
        if request.schema_name == "summary":
            summary = turn.details.get("summary")
            text = summary.get(SUMMARY_TEXT) if isinstance(summary, dict) else None
            if not isinstance(text, str):
                return LLMResponseError(
                    f"turn {turn.seq} wrote a summary before turns recorded its text"
                )
            return text
        if turn.status is TurnStatus.FAILED and not turn.raw_output:
            return LLMResponseError(turn.error or "the original turn failed")
        output = turn.raw_output
        for old, new in self.ids.items():
            output = output.replace(old, new)
        return output


class Replay:
    """One replay (or fork), step by step: ``prepare`` checks the source, ``begin`` opens the
    new session, ``turns`` replays turn by turn, ``finish`` compares the end and reports."""

    def __init__(
        self,
        db: DatabaseInterface,
        source: SessionSummary,
        turns: list[TurnSummary],
        *,
        client: LLMClient | None,
        prompts: PromptLibrary | None,
        fork: bool,
    ) -> None:
        self.db = db
        self.source = source
        self.source_turns = turns
        self.recorded = RecordedLLMClient(as_original=fork) if client is None else None
        engine_client = self.recorded if self.recorded is not None else client
        assert engine_client is not None
        self.service = CoachService(engine_client, db, prompts=prompts)
        self.report = ReplayReport(source.session_id, user_id=new_id(), session_id=new_id())
        #: A fork copies the first turns; it is not compared with the source's end.
        self.fork = fork
        #: The original's ids -> the replay's (the recorded outputs are given the replay's).
        self.ids: dict[str, str] = {} if self.recorded is None else self.recorded.ids
        #: The original's message ids -> the replay's.
        self.sent: dict[str, str] = {}
        #: How many of the source's turns are replayed already (a resumed replay's).
        self.position = 0
        #: The original message whose turn a crash cut off: sent already, answered again.
        self.resending: str | None = None

    @classmethod
    async def prepare(
        cls,
        db: DatabaseInterface,
        source_session_id: str,
        *,
        client: LLMClient | None = None,
        at_turn: int | None = None,
        prompts: PromptLibrary | None = None,
    ) -> Replay:
        """Check that the session can be replayed (up to turn ``at_turn``: a fork).

        Args:
            client: the model of a live replay; ``None`` for an exact one (recorded outputs).

        Raises:
            InputError: no such session or turn, a turn still running, or a session that
                continues an earlier one (it starts past the introduction).
        """
        summary = await db.get_session(source_session_id)
        if summary is None:
            raise InputError(f"session {source_session_id} does not exist")
        turns = await _turns(db, source_session_id)
        if at_turn is not None:
            if not 0 <= at_turn <= len(turns):
                raise InputError(
                    f"session {source_session_id} has turns 1 to {len(turns)}; "
                    f"there is no turn {at_turn} to fork at"
                )
            turns = turns[:at_turn]
        if any(t.status is TurnStatus.PENDING for t in turns):
            raise InputError(
                f"session {source_session_id} has a turn still being answered; "
                "try again when it ends"
            )
        if turns and turns[0].state_before is not CoachingState.INTRODUCTION:
            raise InputError(
                f"session {source_session_id} continues an earlier session of its client (it "
                f"starts in {turns[0].state_before.value}); a copy starts a new client, so use "
                "the client's first session"
            )
        return cls(db, summary, turns, client=client, prompts=prompts, fork=at_turn is not None)

    @classmethod
    async def resume(
        cls,
        db: DatabaseInterface,
        origin: SessionOrigin,
        *,
        client: LLMClient | None = None,
        prompts: PromptLibrary | None = None,
    ) -> Replay:
        """The replay (or fork) that made ``origin``'s session, from where it stopped: each
        turn the session holds is matched with the source turn it replayed (its differences
        and created ids learned again), and a turn cut off by a crash is answered again,
        never its message sent twice.

        Raises:
            InputError: as ``prepare``; the session is gone, has a turn still being answered,
                or holds turns its source does not (it was continued after it was made).
        """
        replay = await cls.prepare(
            db, origin.source_session_id, client=client, at_turn=origin.at_turn, prompts=prompts
        )
        made = await db.get_session(origin.session_id)
        if made is None:
            raise InputError(f"session {origin.session_id} does not exist any more")
        replay.report = ReplayReport(
            origin.source_session_id, user_id=made.user_id, session_id=origin.session_id
        )
        turns = await _turns(db, origin.session_id)
        if any(t.status is TurnStatus.PENDING for t in turns):
            raise InputError(
                f"session {origin.session_id} has a turn still being answered; "
                "try again when it ends"
            )
        cut = None  # a turn cut off by a crash: answered again by a retry of its message
        for position, original in enumerate(replay.source_turns):
            if replay._skips(original):
                continue
            while turns and _interrupted(turns[0]) and not _interrupted(original):
                cut = turns.pop(0)
            if not turns:
                break
            replayed, cut = turns.pop(0), None
            replay.sent.setdefault(original.user_message_id, replayed.user_message_id)
            replay.report.differences += turn_differences(original, replayed, replay.ids)
            _learn_ids(original, replayed, replay.ids)
            replay.position = position + 1
        if turns:
            raise InputError(
                f"session {origin.session_id} holds turns its source does not (it was "
                "continued after it was made); it cannot be resumed"
            )
        following = [t for t in replay.source_turns[replay.position :] if not replay._skips(t)]
        if cut is not None and following:
            replay.resending = following[0].user_message_id
            replay.sent.setdefault(replay.resending, cut.user_message_id)
        replay.report.turns = replay.position
        return replay

    def _skips(self, turn: TurnSummary) -> bool:
        """A live replay sends each message once: a retry of a failed turn is skipped (but the
        turn a crash cut off is answered again)."""
        message = turn.user_message_id
        return self.recorded is None and message in self.sent and message != self.resending

    async def begin(self, pin: PromptPin | None = None) -> None:
        """Open the new session of the new client (a copy of the original one by name)."""
        report = self.report
        await self.service.start_session(
            report.user_id,
            session_id=report.session_id,
            user_name=await _client_name(self.db, self.source_turns),
        )
        if pin is not None:
            await self.service.pin_prompts(report.user_id, report.session_id, pin)

    async def turns(self) -> AsyncIterator[int]:
        """Replay the turns one by one, yielding how many are done."""
        report = self.report
        ahead = self.source_turns[self.position :]
        for done, stored in enumerate(ahead, start=self.position + 1):
            if self._skips(stored):
                continue
            original = await self.db.get_turn(self.source.session_id, stored.seq or 0)
            assert original is not None
            if self.recorded is not None:
                self.recorded.play(original)
            replayed = _outline(await _send(self.service, self.db, report, original, self.sent))
            self.resending = None
            report.differences += turn_differences(original, replayed, self.ids)
            _learn_ids(original, replayed, self.ids)
            report.turns = done
            yield done

    async def finish(self) -> ReplayReport:
        report = self.report
        if not self.fork:
            report.differences += await _end_differences(
                self.db, self.source.user_id, report, self.ids
            )
        report.recorded_answers = 0 if self.recorded is None else self.recorded.answered
        await self.service.aclose()
        return report


async def replay_session(
    db: DatabaseInterface,
    source_session_id: str,
    *,
    client: LLMClient | None = None,
    pin: PromptPin | None = None,
    prompts: PromptLibrary | None = None,
    on_turn: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Replay the session into a new session of a new client and return the report with
    every difference from the original (``SessionJobs`` runs the same as a task).

    Args:
        client: the model of a live replay; ``None`` for an exact one (the recorded outputs).
        pin: the prompt versions of the new session (the active ones by default).
        on_turn: called with (turns replayed, turns in all) after each turn.

    Raises:
        InputError: as ``Replay.prepare``.
        PromptError: the pin selects no valid version set.
    """
    replay = await Replay.prepare(db, source_session_id, client=client, prompts=prompts)
    await replay.begin(pin)
    async for done in replay.turns():
        if on_turn is not None:
            on_turn(done, len(replay.source_turns))
    return await replay.finish()


async def _turns(db: DatabaseInterface, session_id: str) -> list[TurnSummary]:
    turns: list[TurnSummary] = []
    while page := await db.list_turns(session_id, after_seq=len(turns), limit=PAGE):
        turns += page
    return turns


async def _client_name(db: DatabaseInterface, turns: Sequence[TurnSummary]) -> str | None:
    """The client's name as the first turn's prompt had it (later turns may have changed it)."""
    if not turns:
        return None
    first = await db.get_turn(turns[0].session_id, turns[0].seq or 0)
    variables = first.details.get(PROMPT_VARIABLES) if first else None
    name = variables.get("client_name") if isinstance(variables, dict) else None
    return name if isinstance(name, str) else None


async def _send(
    service: CoachService,
    db: DatabaseInterface,
    report: ReplayReport,
    original: TurnRecord,
    sent: dict[str, str],
) -> TurnResult:
    """Send the original turn's message (again, for a retried one) into the replay."""
    retried = sent.get(original.user_message_id)
    if retried is not None:
        events = service.retry_turn(report.user_id, report.session_id, retried)
    else:
        message = await db.get_message(original.session_id, original.user_message_id)
        if message is None:
            raise InputError(
                f"message {original.user_message_id} of turn {original.seq} is no longer stored"
            )
        sent[message.id] = new_id()
        events = service.send_message(
            report.user_id, report.session_id, message.content, client_message_id=sent[message.id]
        )
    return await _last(events)


async def _last(events: AsyncIterator[TurnEvent]) -> TurnResult:
    result = None
    async for event in events:
        result = event
    assert isinstance(result, TurnResult), "a turn ends with its result"
    return result


def turn_differences(
    original: TurnOutline, replayed: TurnOutline, ids: dict[str, str] | None
) -> list[Difference]:
    """How the replayed turn differs from the original: with the original's ids given as the
    replay's (``ids``), or with every id left out (``None``: two sessions of their own)."""
    seq = original.seq or 0
    pairs: list[tuple[str, JsonValue, JsonValue]] = [
        ("status", original.status.value, replayed.status.value),
        ("phase before", original.state_before.value, replayed.state_before.value),
        ("phase after", original.state_after.value, replayed.state_after.value),
        (
            "requested phase",
            _value(original.requested_transition),
            _value(replayed.requested_transition),
        ),
        (
            "phase change refusal",
            original.transition_refused_reason,
            replayed.transition_refused_reason,
        ),
        ("actions", _actions(original, ids), _actions(replayed, None if ids is None else {})),
    ]
    return [Difference(seq, what, a, b) for what, a, b in pairs if a != b]


def _actions(turn: TurnOutline, ids: dict[str, str] | None) -> JsonValue:
    """The turn's actions as compared: type, params (created ids left out; every id, without
    ``ids``), outcome, reason."""
    shown: list[JsonValue] = []
    for action in turn.actions:
        params = {
            k: v
            for k, v in action.params.items()
            if k != CREATED_IDS.get(action.type) and (ids is not None or not k.endswith("_id"))
        }
        text = json.dumps(params, sort_keys=True, ensure_ascii=False)
        reason = action.reason or ""
        for old, new in (ids or {}).items():
            text, reason = text.replace(old, new), reason.replace(old, new)
        shown.append([action.type, json.loads(text), action.status.value, reason])
    return shown


def _learn_ids(original: TurnOutline, replayed: TurnOutline, ids: dict[str, str]) -> None:
    """Map the ids the original turn created to those its replay created, action by action."""
    for a, b in zip(original.actions, replayed.actions, strict=False):
        key = CREATED_IDS.get(a.type)
        if key is None or a.type != b.type or ActionStatus.APPLIED not in (a.status, b.status):
            continue
        old, new = a.params.get(key), b.params.get(key)
        if isinstance(old, str) and isinstance(new, str):
            ids[old] = new


async def _end_differences(
    db: DatabaseInterface, original_user: str, report: ReplayReport, ids: dict[str, str]
) -> list[Difference]:
    """The identities the two sessions ended with (those the original session found), and its
    phase."""
    original = {
        ids.get(i.id, i.id): identity_facts(i)
        for i in await db.get_identities(original_user)
        if i.session_id == report.source_session_id
    }
    replayed = {i.id: identity_facts(i) for i in await db.get_identities(report.user_id)}
    differences = [
        Difference(0, f"identity {key}", original.get(key), replayed.get(key))
        for key in sorted(set(original) | set(replayed))
        if original.get(key) != replayed.get(key)
    ]
    states = [
        await db.get_state(user, session)
        for user, session in (
            (original_user, report.source_session_id),
            (report.user_id, report.session_id),
        )
    ]
    a, b = (None if s is None else s.state.value for s in states)
    if a != b:
        differences.append(Difference(0, "phase", a, b))
    return differences


def identity_facts(identity: IdentityRecord) -> dict[str, JsonValue]:
    """What a replay or comparison checks of an identity (its id left out)."""
    shown: dict[str, JsonValue] = identity.model_dump(mode="json", include=IDENTITY_FIELDS)
    shown["action_items"] = [[item.text, item.done] for item in identity.action_items]
    return shown


def _outline(result: TurnResult) -> TurnOutline:
    """What the replayed turn did, as its result says (no need to read it back)."""
    fields = result.model_dump(include=set(TurnOutline.model_fields))
    return TurnOutline.model_validate({**fields, "seq": result.turn_seq})


def _interrupted(turn: TurnSummary) -> bool:
    """A turn whose process died before it was answered (marked by recovery)."""
    return turn.status is TurnStatus.FAILED and turn.error == TURN_INTERRUPTED


def _value(state: CoachingState | None) -> str | None:
    return None if state is None else state.value
