"""The session's state and identities after each turn, rebuilt from the turn log, and the
difference between any two turns.

Identities belong to the user, so one found in an earlier session appears in a replay only with
the fields this session's actions set; everything else about it is unknown here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import JsonValue

from coach.enums import ActionStatus, CoachingState, IdentityState
from coach.persistence.records import TurnOutline


@dataclass
class Snapshot:
    """The session after turn ``seq`` (0: before the first turn), as the turn log tells it.

    ``identities`` maps an identity id to the fields known at that point; ``user`` holds the
    user facts (``name``, ``goals``) set by the session's actions.
    """

    seq: int
    state: CoachingState
    focus_identity_id: str | None = None
    identities: dict[str, dict[str, JsonValue]] = field(default_factory=dict)
    user: dict[str, JsonValue] = field(default_factory=dict)

    def copy(self, seq: int) -> Snapshot:
        return Snapshot(
            seq=seq,
            state=self.state,
            focus_identity_id=self.focus_identity_id,
            identities=json.loads(json.dumps(self.identities)),
            user=json.loads(json.dumps(self.user)),
        )


def _apply_to_snapshot(snap: Snapshot, action: str, params: Mapping[str, JsonValue]) -> None:
    identity_id = params.get("identity_id")
    entry = snap.identities.setdefault(identity_id, {}) if isinstance(identity_id, str) else {}
    if action == "create_identity":
        note = params.get("note")
        entry.update(
            label=params.get("label"),
            category=params.get("category"),
            state=IdentityState.PROPOSED.value,
            notes=[note] if isinstance(note, str) and note else [],
        )
    elif action == "update_identity":
        entry.update({k: params[k] for k in ("label", "category") if params.get(k) is not None})
    elif action in ("accept_identity", "dismiss_identity", "mark_identity_refined"):
        entry["state"] = {
            "accept_identity": IdentityState.ACCEPTED,
            "dismiss_identity": IdentityState.DISMISSED,
            "mark_identity_refined": IdentityState.REFINED,
        }[action].value
        if action == "dismiss_identity" and snap.focus_identity_id == identity_id:
            snap.focus_identity_id = None
    elif action == "add_identity_note":
        entry["notes"] = [*_as_list(entry.get("notes")), params.get("note")]
    elif action == "set_affirmation":
        entry["affirmation"] = params.get("affirmation")
    elif action == "save_visualization":
        entry["visualization"] = params.get("visualization")
    elif action == "select_focus_identity" and isinstance(identity_id, str):
        snap.focus_identity_id = identity_id
    elif action == "add_action_item":
        item = {"id": params.get("action_item_id"), "text": params.get("text"), "done": False}
        entry["action_items"] = [*_as_list(entry.get("action_items")), item]
    elif action == "complete_action_item":
        _complete_item(snap, params.get("action_item_id"))
    elif action == "save_user_info":
        key, value = params.get("key"), params.get("value")
        if key == "name":
            snap.user["name"] = value
        elif key == "goal":
            snap.user["goals"] = [*_as_list(snap.user.get("goals")), value]


def _as_list(value: JsonValue | None) -> list[JsonValue]:
    return list(value) if isinstance(value, list) else []


def _complete_item(snap: Snapshot, item_id: JsonValue | None) -> None:
    for entry in snap.identities.values():
        items = _as_list(entry.get("action_items"))
        for position, item in enumerate(items):
            if isinstance(item, dict) and item.get("id") == item_id:
                items[position] = {**item, "done": True}
                entry["action_items"] = items
                return


def replay(turns: Sequence[TurnOutline]) -> list[Snapshot]:
    """The session before the first turn and after each turn: ``result[0]`` is the start,
    ``result[k]`` the state after the k-th turn of ``turns``. Only applied actions count."""
    if not turns:
        return []
    current = Snapshot(seq=0, state=turns[0].state_before)
    snapshots = [current.copy(0)]
    for turn in turns:
        current = current.copy(turn.seq or 0)
        for action in turn.actions:
            if action.status is ActionStatus.APPLIED:
                _apply_to_snapshot(current, action.type, action.params)
        current.state = turn.state_after
        snapshots.append(current.copy(current.seq))
    return snapshots


@dataclass(frozen=True)
class DiffRow:
    """One field that differs between two snapshots."""

    scope: Literal["state", "identity", "user"]
    subject: str
    field: str
    before: JsonValue
    after: JsonValue

    def row(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "subject": self.subject,
            "field": self.field,
            "before": _show(self.before),
            "after": _show(self.after),
        }


def _show(value: JsonValue) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def diff_snapshots(
    a: Snapshot, b: Snapshot, *, labels: Mapping[str, str] | None = None
) -> list[DiffRow]:
    """What changed from ``a`` to ``b``: the phase, the focus, each identity field, user facts.

    Args:
        labels: names to show for identity ids (the current labels); the label in ``b`` (or
            ``a``) is used first.
    """
    names = dict(labels or {})

    def name(identity_id: str | None) -> str:
        if identity_id is None:
            return "—"
        for snap in (b, a):
            label = snap.identities.get(identity_id, {}).get("label")
            if isinstance(label, str):
                return label
        return names.get(identity_id, identity_id)

    rows = []
    if a.state is not b.state:
        rows.append(DiffRow("state", "session", "phase", a.state.value, b.state.value))
    if a.focus_identity_id != b.focus_identity_id:
        rows.append(
            DiffRow(
                "state",
                "session",
                "focus identity",
                name(a.focus_identity_id) if a.focus_identity_id else None,
                name(b.focus_identity_id) if b.focus_identity_id else None,
            )
        )
    for identity_id in dict.fromkeys([*a.identities, *b.identities]):
        before, after = a.identities.get(identity_id, {}), b.identities.get(identity_id, {})
        for key in dict.fromkeys([*before, *after]):
            if before.get(key) != after.get(key):
                rows.append(
                    DiffRow("identity", name(identity_id), key, before.get(key), after.get(key))
                )
    for key in dict.fromkeys([*a.user, *b.user]):
        if a.user.get(key) != b.user.get(key):
            rows.append(DiffRow("user", "user", key, a.user.get(key), b.user.get(key)))
    return rows
