"""A whole reply: parsing it tolerantly, and applying its actions one by one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coach.actions import CoachReply, RawAction, parse_reply, referenced_identity_ids
from coach.enums import ActionStatus
from coach.errors import LLMResponseError
from tests.engine.action_helpers import I, S, act, context, identity, run

# --- a whole reply ------------------------------------------------------------------------------


def test_one_bad_action_does_not_stop_two_good_ones() -> None:
    target = identity("Creative Visionary", I.PROPOSED)
    ctx = context(S.IDENTITY_BRAINSTORMING, target)
    outcome = run(
        ctx,
        act("accept_identity", identity_id=target.id),
        act("set_affirmation", identity_id=target.id, affirmation="I am bold"),
        act("create_identity", label="Devoted Parent", category="familial_relations"),
    )
    assert [r.status.value for r in outcome.results] == ["applied", "rejected", "applied"]
    assert "set_affirmation is not allowed in phase identity_brainstorming" in (
        outcome.results[1].reason or ""
    )
    assert [(i.label, i.state) for i in ctx.identities] == [
        ("Creative Visionary", I.ACCEPTED),
        ("Devoted Parent", I.PROPOSED),
    ]
    assert len(outcome.applied) == 2 and len(outcome.rejected) == 1


def test_unknown_and_malformed_actions_are_rejected_and_the_rest_applied() -> None:
    ctx = context(S.INTRODUCTION)
    outcome = run(
        ctx,
        act("fly_to_moon", speed=3),
        "just text",
        {"type": 5},
        {"type": "save_user_info", "params": ["name", "Maya"]},
        {"type": "save_user_info", "key": "name", "value": "Maya"},
    )
    reasons = [r.reason or "" for r in outcome.results]
    assert reasons[0].startswith("unknown action type 'fly_to_moon'; the actions are: save_user")
    assert reasons[1] == "malformed action: expected an object with type and params, got a string"
    assert "the action type must be a non-empty string, got 5" in reasons[2]
    assert "params must be an object, got an array" in reasons[3]
    assert outcome.results[4].status is ActionStatus.APPLIED  # the flat form is accepted
    assert ctx.user_profile == {"name": "Maya", "name_set_by": "model"}
    json.dumps([r.model_dump(mode="json") for r in outcome.results])  # plain JSON throughout


def test_an_action_that_is_not_plain_json_is_rejected_not_raised() -> None:
    outcome = run(
        context(S.INTRODUCTION),
        act("save_user_info", key={1, 2}, value="x"),
        act("save_user_info", key="name", value="Maya"),
    )
    assert [r.status.value for r in outcome.results] == ["rejected", "applied"]
    assert (outcome.results[0].reason or "").startswith("malformed action: params.key")


def test_nothing_the_context_held_before_is_mutated() -> None:
    target = identity("Creative Visionary", I.PROPOSED)
    ctx = context(S.IDENTITY_BRAINSTORMING, target, user_profile={"goals": []})
    identities, profile, snapshot = ctx.identities, ctx.user_profile, target.model_dump()
    run(
        ctx,
        act("accept_identity", identity_id=target.id),
        act("create_identity", label="Devoted Parent", category="spiritual"),
        act("save_user_info", key="goal", value="Rest"),
    )
    assert identities == [target] and target.model_dump() == snapshot and profile == {"goals": []}
    assert len(ctx.identities) == 2 and ctx.user_profile == {"goals": ["Rest"]}


def test_referenced_identity_ids_lists_the_ids_to_look_up() -> None:
    reply = CoachReply.model_validate(
        {
            "message": "",
            "actions": [
                act("accept_identity", identity_id=" a "),
                act("add_identity_note", identity_id="b"),
                act("complete_action_item", action_item_id="c"),
                act("accept_identity", identity_id=3),
            ],
        }
    )
    assert referenced_identity_ids(reply.actions) == {"a", "b"}


# --- parsing the reply --------------------------------------------------------------------------


def test_a_reply_is_parsed_tolerantly() -> None:
    assert parse_reply({"message": "Hi", "actions": None}).actions == []
    single = parse_reply({"message": "Hi", "actions": act("accept_identity", identity_id="x")})
    assert single.actions == [RawAction(type="accept_identity", params={"identity_id": "x"})]
    assert parse_reply({"message": "Hi", "extra": 1}).actions == []
    nulls = parse_reply({"message": "Hi", "actions": [{"type": "x", "params": None}]})
    assert nulls.actions[0].params == {} and nulls.actions[0].problem is None


@pytest.mark.parametrize("data", [None, {"actions": []}, {"message": 3}])
def test_a_reply_without_a_message_is_a_response_error(data: dict[str, Any] | None) -> None:
    with pytest.raises(LLMResponseError, match="message"):
        parse_reply(data)


def test_raw_actions_survive_a_round_trip() -> None:
    raw = RawAction.model_validate("oops")
    assert RawAction.model_validate(raw.model_dump()) == raw
    assert CoachReply(message="m", actions=[raw]).actions == [raw]
