"""``coach.inspection``: what the inspector derives from the stored records, without Streamlit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from coach.demo import play_demo
from coach.enums import ActionStatus, CoachingState, IdentityState, MessageRole, TurnStatus
from coach.inspection import (
    activity_bounds,
    as_json,
    diff_snapshots,
    identities_by_state,
    identity_history,
    identity_rows,
    latest_window_turn,
    load_session_view,
    load_turn_outlines,
    message_rows,
    message_status,
    phase_label,
    phase_number,
    phase_timeline,
    prompt_refs,
    replay,
    timeline_points,
    turn_rows,
    unanswered_user_messages,
    window_view,
)
from coach.persistence import DatabaseInterface, DatabaseType, create_database
from coach.persistence.records import (
    ActionResultRecord,
    IdentityRecord,
    MessageRecord,
    TurnRecord,
)


@dataclass
class Demo:
    db: DatabaseInterface
    user_id: str
    session_id: str
    turns: list[TurnRecord]
    identities: list[IdentityRecord]

    def identity(self, label: str) -> IdentityRecord:
        return next(i for i in self.identities if i.label == label)


@pytest.fixture
async def demo() -> AsyncIterator[Demo]:
    """The demo session, played into an in-memory database."""
    db = create_database(DatabaseType.MEMORY)
    await db.initialize()
    info = await play_demo(db)
    yield Demo(
        db=db,
        user_id=info.user_id,
        session_id=info.session_id,
        turns=[
            turn
            for summary in await db.list_turns(info.session_id)
            if (turn := await db.get_turn(info.session_id, summary.seq or 0)) is not None
        ],
        identities=await db.get_identities(info.user_id),
    )
    await db.close()


def turn(seq: int, **fields: object) -> TurnRecord:
    values: dict[str, object] = {
        "session_id": "s",
        "user_id": "u",
        "seq": seq,
        "user_message_id": f"m{seq}",
        "state_before": CoachingState.INTRODUCTION,
        "state_after": CoachingState.INTRODUCTION,
    }
    values.update(fields)
    return TurnRecord.model_validate(values)


def applied(type_: str, **params: object) -> ActionResultRecord:
    return ActionResultRecord.model_validate(
        {"type": type_, "params": params, "status": ActionStatus.APPLIED}
    )


# --- phases -------------------------------------------------------------------------------------


def test_phase_numbers_and_labels_cover_all_six_phases() -> None:
    assert [phase_number(p) for p in CoachingState] == [1, 2, 3, 4, 5, 6]
    assert phase_label(CoachingState.IDENTITY_BRAINSTORMING) == "Brainstorming"
    assert phase_label(None) == "—"


def test_timeline_says_which_moves_were_made_refused_or_not_requested(demo: Demo) -> None:
    steps = phase_timeline(demo.turns)
    assert [s.outcome for s in steps] == [
        "refused",
        "moved",
        "no request",
        "refused",
        "moved",
        "no request",
        "moved",
        "moved",
        "moved",
        "no request",
    ]
    refused = steps[3]
    assert refused.requested is CoachingState.IDENTITY_REFINEMENT
    assert refused.reason and "at least 3 accepted identities" in refused.reason
    assert steps[-1].state_after is CoachingState.ACCOUNTABILITY
    assert steps[0].row()["requested"] == "action_planning"


def test_a_failed_turn_is_on_the_timeline_with_its_error() -> None:
    [step] = phase_timeline([turn(1, status=TurnStatus.FAILED, error="rate limited")])
    assert (step.outcome, step.reason) == ("failed", "rate limited")


def test_timeline_points_start_at_turn_zero_and_mark_refused_requests(demo: Demo) -> None:
    points = timeline_points(phase_timeline(demo.turns))
    assert points[0] == {
        "turn": 0,
        "phase": "Introduction",
        "phase_number": 1,
        "kind": "start",
        "detail": "",
    }
    refused = [p for p in points if p["kind"] == "refused request"]
    assert [(p["turn"], p["phase"]) for p in refused] == [(1, "Action planning"), (4, "Refinement")]
    assert len(points) == 1 + len(demo.turns) + 2


def test_a_session_that_stayed_put_after_a_request_is_stayed() -> None:
    same = turn(1, requested_transition=CoachingState.INTRODUCTION)
    assert phase_timeline([same])[0].outcome == "stayed"
    assert timeline_points([]) == []


# --- identities ---------------------------------------------------------------------------------


def test_identity_history_attributes_every_action_to_its_identity(demo: Demo) -> None:
    events = identity_history(demo.turns, demo.identities)
    creative = demo.identity("Creative Visionary")
    mine = [(e.seq, e.action, e.status) for e in events if e.identity_id == creative.id]
    assert mine == [
        (3, "create_identity", ActionStatus.APPLIED),
        (3, "create_identity", ActionStatus.REJECTED),  # the duplicate label, found by label
        (4, "accept_identity", ActionStatus.APPLIED),
        (6, "select_focus_identity", ActionStatus.APPLIED),
        (6, "set_affirmation", ActionStatus.APPLIED),
        (7, "mark_identity_refined", ActionStatus.APPLIED),
        (8, "save_visualization", ActionStatus.APPLIED),
        (9, "add_action_item", ActionStatus.APPLIED),
        (9, "add_action_item", ActionStatus.APPLIED),
        (10, "complete_action_item", ActionStatus.APPLIED),  # found by the action item's id
    ]
    duplicate = next(e for e in events if e.status is ActionStatus.REJECTED and e.seq == 3)
    assert duplicate.reason and "duplicate label" in duplicate.reason
    assert "label='creative visionary'" in duplicate.change
    stray = [e for e in events if e.identity_id not in {i.id for i in demo.identities}]
    assert [(e.action, e.identity_id) for e in stray] == [("set_affirmation", "not-yet")]
    assert all(e.action != "transition_state" for e in events)


def test_identity_history_follows_items_added_in_the_same_log() -> None:
    turns = [
        turn(
            1, actions=[applied("add_action_item", identity_id="i1", text="x", action_item_id="a")]
        ),
        turn(2, actions=[applied("complete_action_item", action_item_id="a")]),
    ]
    assert [e.identity_id for e in identity_history(turns)] == ["i1", "i1"]


def test_identity_rows_list_the_most_developed_first(demo: Demo) -> None:
    rows = identity_rows(demo.identities, session_id=demo.session_id)
    assert [r["state"] for r in rows] == ["refined", "accepted", "accepted", "dismissed"]
    assert rows[0]["label"] == "Creative Visionary"
    assert rows[0]["action items"] == "1/2 done"
    assert all(r["found here"] for r in rows)
    groups = identities_by_state(demo.identities)
    assert [state for state, _ in groups] == [
        IdentityState.REFINED,
        IdentityState.ACCEPTED,
        IdentityState.DISMISSED,
    ]


# --- replay and diff ----------------------------------------------------------------------------


def test_replay_rebuilds_the_session_turn_by_turn(demo: Demo) -> None:
    snapshots = replay(demo.turns)
    assert len(snapshots) == len(demo.turns) + 1
    start, end = snapshots[0], snapshots[-1]
    assert (start.seq, start.state, start.identities) == (0, CoachingState.INTRODUCTION, {})
    creative = demo.identity("Creative Visionary")
    assert end.state is CoachingState.ACCOUNTABILITY
    assert end.focus_identity_id == creative.id
    final = end.identities[creative.id]
    assert final["state"] == "refined"
    assert final["affirmation"] == creative.affirmation
    assert final["visualization"] == creative.visualization
    assert [i["done"] for i in final["action_items"]] == [True, False]  # type: ignore[index,union-attr]
    assert end.identities[demo.identity("Wise Money Keeper").id]["state"] == "dismissed"
    assert end.user == {"name": "Maya", "goals": ["Get my creative spark back"]}
    # snapshots are independent copies
    assert snapshots[3].identities[creative.id]["state"] == "proposed"


def test_diff_between_two_turns_lists_each_changed_field(demo: Demo) -> None:
    snapshots = replay(demo.turns)
    creative = demo.identity("Creative Visionary")
    rows = {
        (r.scope, r.subject, r.field): (r.before, r.after)
        for r in diff_snapshots(snapshots[5], snapshots[6])
    }
    assert rows == {
        ("state", "session", "focus identity"): (None, "Creative Visionary"),
        ("identity", "Creative Visionary", "affirmation"): (None, creative.affirmation),
    }
    phase = diff_snapshots(snapshots[6], snapshots[7])
    assert [(r.field, r.before, r.after) for r in phase if r.scope == "state"] == [
        ("phase", "identity_refinement", "identity_visualization")
    ]
    assert diff_snapshots(snapshots[4], snapshots[4]) == []
    assert diff_snapshots(snapshots[0], snapshots[1])[0].row()["before"] == "—"


def test_diff_names_identities_from_earlier_sessions_by_their_current_label() -> None:
    turns = [turn(1, actions=[applied("add_identity_note", identity_id="old", note="n")])]
    start, after = replay(turns)
    [row] = diff_snapshots(start, after, labels={"old": "Old Friend"})
    assert (row.subject, row.field, row.after) == ("Old Friend", "notes", ["n"])
    assert row.row()["after"] == '["n"]'


def test_replay_of_no_turns_is_empty() -> None:
    assert replay([]) == []


# --- context window -----------------------------------------------------------------------------


async def test_window_view_reads_the_latest_turns_details(demo: Demo) -> None:
    session = await load_session_view(demo.db, demo.session_id)
    assert session is not None
    latest = await latest_window_turn(demo.db, session)
    assert latest is not None
    view = window_view(latest)
    assert view is not None and view.seq == 10
    parts = view.parts()
    assert [p["part"] for p in parts] == [
        "System prompt",
        "Summary",
        f"Messages ({len(view.included_message_ids)})",
    ]
    assert sum(p["tokens"] for p in parts) == view.total_tokens > 0
    assert view.system_tokens > 0 and view.message_tokens > 0
    assert view.summary["attempted"] is False
    assert window_view(turn(1)) is None


def test_each_message_says_where_it_stood_in_the_window() -> None:
    messages = [MessageRecord(role=MessageRole.USER, content=str(i)) for i in range(5)]
    details = {
        "context_window": {
            "system_tokens": 10,
            "summary_tokens": 5,
            "message_tokens": 7,
            "included_message_ids": [messages[3].id],
            "folded_until": 3,
        }
    }
    view = window_view(turn(4, details=details))
    statuses = [message_status(i, m, view, summarized_until=2) for i, m in enumerate(messages)]
    assert statuses == [
        "folded into summary",
        "folded into summary",
        "not sent",
        "sent",
        "after this turn",
    ]
    assert message_status(0, messages[0], None, summarized_until=0) == ""
    rows = message_rows(messages[2:], start=2, view=view, summarized_until=2)
    assert [(r["#"], r["context window"]) for r in rows] == [
        (2, "not sent"),
        (3, "sent"),
        (4, "after this turn"),
    ]


# --- turns and messages -------------------------------------------------------------------------


def test_turn_rows_count_applied_and_rejected_actions(demo: Demo) -> None:
    rows = turn_rows(demo.turns)
    assert [r["turn"] for r in rows] == list(range(1, 11))
    assert (rows[2]["applied"], rows[2]["rejected"]) == (2, 2)
    assert rows[0]["phase"] == "introduction → introduction"


def test_unanswered_user_messages_are_those_without_a_reply() -> None:
    coach = MessageRecord(role=MessageRole.COACH, content="hi")
    answered = MessageRecord(role=MessageRole.USER, content="a")
    reply = MessageRecord(role=MessageRole.COACH, content="b")
    lost = MessageRecord(role=MessageRole.USER, content="c")
    last = MessageRecord(role=MessageRole.USER, content="d")
    assert unanswered_user_messages([coach, answered, reply, lost, last]) == [lost, last]


def test_activity_bounds_cover_whole_utc_days() -> None:
    after, before = activity_bounds(date(2026, 1, 2), date(2026, 1, 3))
    assert after == datetime(2026, 1, 2, tzinfo=UTC)
    assert before == datetime(2026, 1, 4, tzinfo=UTC)
    assert activity_bounds(None, None) == (None, None)


async def test_the_session_view_loads_everything_but_the_messages(demo: Demo) -> None:
    view = await load_session_view(demo.db, demo.session_id)
    assert view is not None
    assert (view.user_id, view.session_id) == (demo.user_id, demo.session_id)
    assert view.context is not None and view.context.messages == []
    assert view.context.total_messages == 21
    assert view.summarized_until == 0
    assert view.summary.turn_count == 10
    # The turns are read a page at a time by the tabs that draw them, as outlines.
    outlines = await load_turn_outlines(demo.db, demo.session_id)
    assert outlines == [t.summary().outline() for t in demo.turns]
    assert [t.seq for t in await load_turn_outlines(demo.db, demo.session_id, up_to=3)] == [
        1,
        2,
        3,
    ]
    assert view.labels()[demo.identity("Devoted Parent").id] == "Devoted Parent"
    assert await load_session_view(demo.db, "nope") is None


def test_as_json_handles_records_lists_and_mappings(demo: Demo) -> None:
    assert json.loads(as_json(demo.turns[0]))["seq"] == 1
    assert [t["seq"] for t in json.loads(as_json(demo.turns[:2]))] == [1, 2]
    assert json.loads(as_json([{"role": "system"}])) == [{"role": "system"}]
    assert json.loads(as_json({"a": 1})) == {"a": 1}
    assert as_json(None) == "null"


def test_long_timelines_can_leave_out_quiet_turns_without_changing_the_steps() -> None:
    brainstorming = CoachingState.IDENTITY_BRAINSTORMING
    turns = [turn(1), turn(2)]  # quiet: no request
    turns.append(
        turn(3, requested_transition=brainstorming, state_after=brainstorming)  # moved
    )
    turns += [turn(n, state_before=brainstorming, state_after=brainstorming) for n in range(4, 8)]
    steps = phase_timeline(turns)
    everything = timeline_points(steps)
    thinned = timeline_points(steps, quiet_turns=False)
    assert [p["turn"] for p in thinned] == [0, 3, 7]  # start, the move, the last turn
    assert thinned[0]["phase"] == "Introduction"

    def phase_at(points: list[dict[str, object]], n: int) -> object:
        return [p["phase"] for p in points if int(str(p["turn"])) <= n][-1]

    for n in range(8):  # a step line through either set of points draws the same phases
        assert phase_at(thinned, n) == phase_at(everything, n)


def test_prompt_refs_name_each_part_and_version_of_a_turn() -> None:
    assert prompt_refs("persona@1+introduction@12+response_format@1") == [
        ("persona", "1"),
        ("introduction", "12"),
        ("response_format", "1"),
    ]
    assert prompt_refs("welcome@3") == [("welcome", "3")]
    assert prompt_refs("") == []
    assert prompt_refs("v3") == []
    assert prompt_refs("persona@1+oops") == []
