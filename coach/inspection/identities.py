"""Identities as the inspector shows them: grouped by state, as table rows, and each
identity's history of actions from the turn log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from coach.enums import ActionStatus, IdentityState
from coach.persistence.base import label_key
from coach.persistence.records import IdentityRecord, TurnOutline

#: The order identities are listed in by state: the most developed first.
IDENTITY_STATE_ORDER: tuple[IdentityState, ...] = (
    IdentityState.REFINED,
    IdentityState.ACCEPTED,
    IdentityState.PROPOSED,
    IdentityState.DISMISSED,
)


IDENTITY_ACTIONS = frozenset(
    {
        "create_identity",
        "update_identity",
        "accept_identity",
        "dismiss_identity",
        "add_identity_note",
        "select_focus_identity",
        "set_affirmation",
        "mark_identity_refined",
        "save_visualization",
        "add_action_item",
        "complete_action_item",
    }
)
_ID_PARAMS = frozenset({"identity_id", "action_item_id"})


@dataclass(frozen=True)
class IdentityEvent:
    """One action of the model about an identity, applied or rejected.

    ``identity_id`` is the identity the action concerns: the id it names (which may be unknown
    to the client, when the action was rejected for it), or the one found by action item id or
    label; ``None`` when nothing names one.
    """

    identity_id: str | None
    seq: int
    at: datetime
    action: str
    status: ActionStatus
    change: str
    reason: str | None

    def row(self) -> dict[str, Any]:
        return {
            "turn": self.seq,
            "action": self.action,
            "status": self.status.value,
            "change": self.change,
            "reason": self.reason or "",
        }


def _describe_params(params: Mapping[str, JsonValue]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items() if k not in _ID_PARAMS)


def identity_history(
    turns: Iterable[TurnOutline], identities: Iterable[IdentityRecord] = ()
) -> list[IdentityEvent]:
    """Every identity action of the turns, in order, attributed to the identity it concerns.

    An action names its identity by ``identity_id``; ``complete_action_item`` by the action
    item's id (found on ``identities`` or created by an earlier ``add_action_item``); a rejected
    ``create_identity`` by its label (a duplicate of an existing identity).
    """
    known = list(identities)
    item_owner = {item.id: i.id for i in known for item in i.action_items}
    by_label = {label_key(i.label): i.id for i in known}
    events = []
    for turn in turns:
        for action in turn.actions:
            if action.type not in IDENTITY_ACTIONS:
                continue
            params = action.params
            identity_id: str | None = None
            raw_id = params.get("identity_id")
            if isinstance(raw_id, str):
                identity_id = raw_id
            item_id = params.get("action_item_id")
            if action.type == "complete_action_item" and isinstance(item_id, str):
                identity_id = item_owner.get(item_id)
            elif action.type == "add_action_item" and isinstance(item_id, str) and identity_id:
                item_owner[item_id] = identity_id
            label = params.get("label")
            if isinstance(label, str):
                if identity_id is None:
                    identity_id = by_label.get(label_key(label))
                elif action.status is ActionStatus.APPLIED:
                    by_label[label_key(label)] = identity_id
            events.append(
                IdentityEvent(
                    identity_id=identity_id,
                    seq=turn.seq or 0,
                    at=turn.created_at,
                    action=action.type,
                    status=action.status,
                    change=_describe_params(params),
                    reason=action.reason,
                )
            )
    return events


def identity_rows(
    identities: Iterable[IdentityRecord], *, session_id: str | None = None
) -> list[dict[str, Any]]:
    """Table rows of identities, the most developed first (refined, accepted, proposed,
    dismissed), in creation order within a state."""
    ordered = sorted(identities, key=lambda i: IDENTITY_STATE_ORDER.index(i.state))
    rows = []
    for identity in ordered:
        done = sum(1 for a in identity.action_items if a.done)
        rows.append(
            {
                "label": identity.label,
                "category": identity.category.value,
                "state": identity.state.value,
                "affirmation": identity.affirmation or "",
                "visualization": identity.visualization or "",
                "notes": len(identity.notes),
                "action items": f"{done}/{len(identity.action_items)} done",
                "found here": session_id is not None and identity.session_id == session_id,
                "updated": identity.updated_at,
                "id": identity.id,
            }
        )
    return rows


def identities_by_state(
    identities: Iterable[IdentityRecord],
) -> list[tuple[IdentityState, list[IdentityRecord]]]:
    """Non-empty groups of identities per state, the most developed state first."""
    groups: dict[IdentityState, list[IdentityRecord]] = {s: [] for s in IDENTITY_STATE_ORDER}
    for identity in identities:
        groups[identity.state].append(identity)
    return [(state, items) for state, items in groups.items() if items]
