"""A coach's edits of a client's records: the name and goals, and an identity's label and state.

Each edit starts from the record as the coach saw it and is saved at that record's version, so
an edit made on a stale page (a turn or another coach changed the record since) is refused with
``ConcurrencyError`` and writes nothing. A name a coach sets is a person's: the model may not
replace it (``coach.actions.effects.NameSource``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import JsonValue

from coach.actions.effects import NAME_SET_BY, NameSource
from coach.actions.params import NAME_MAX_LENGTH, ActionType
from coach.enums import ActionStatus, IdentityState
from coach.errors import InputError
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import ActionResultRecord, IdentityRecord, UserRecord
from coach.persistence.rules import apply_identity_changes

LABEL_MAX_LENGTH = 60


def _line(value: str, what: str, max_length: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InputError(f"The {what} is empty: type one, or leave the form unchanged.")
    if len(cleaned) > max_length:
        raise InputError(f"The {what} has {len(cleaned)} characters; at most {max_length}.")
    return cleaned


async def edit_user(
    db: DatabaseInterface,
    user: UserRecord,
    *,
    name: str | None = None,
    goals: Sequence[str] | None = None,
) -> tuple[UserRecord, list[str]]:
    """Save ``user`` (as seen) with a new name and/or goals; returns the stored record and the
    fields that changed (none: nothing is written).

    Raises:
        InputError: an empty or too long name.
        ConcurrencyError: the user changed since ``user`` was read.
    """
    data = dict(user.data)
    changed: list[str] = []
    if name is not None:
        cleaned = _line(name, "name", NAME_MAX_LENGTH)
        if data.get("name") != cleaned:
            changed.append("name")
        data["name"] = cleaned
        data[NAME_SET_BY] = NameSource.COACH.value
    if goals is not None:
        kept: list[JsonValue] = [g for g in (" ".join(x.split()) for x in goals) if g]
        if kept != data.get("goals", []):
            changed.append("goals")
            data["goals"] = kept
    if not changed:
        return user, []
    return await db.save_user(user.model_copy(update={"data": data})), changed


async def edit_identity(
    db: DatabaseInterface,
    identity: IdentityRecord,
    *,
    label: str | None = None,
    state: IdentityState | None = None,
) -> tuple[IdentityRecord, list[str]]:
    """Save ``identity`` (as seen) with a new label and/or state; returns the stored record and
    the fields that changed (none: nothing is written).

    Raises:
        InputError: an empty or too long label, or ``refined`` without an affirmation.
        DuplicateLabelError: another identity of the client has the label.
        ConcurrencyError: the identity changed since ``identity`` was read.
    """
    changes: dict[str, Any] = {}
    if label is not None:
        cleaned = _line(label, "label", LABEL_MAX_LENGTH)
        if cleaned != identity.label:
            changes["label"] = cleaned
    if state is not None and state is not identity.state:
        if state is IdentityState.REFINED and not identity.affirmation:
            raise InputError(
                f"{identity.label!r} has no affirmation, so it cannot be refined: set it to "
                "accepted, or let the coach find its affirmation first."
            )
        changes["state"] = state
    if not changes:
        return identity, []
    edited = apply_identity_changes(identity, changes)
    return await db.save_identity(edited), sorted(changes)


def user_data_notes(actions: Sequence[ActionResultRecord]) -> list[tuple[bool, str]]:
    """What a turn's ``save_user_info`` actions did to the client's data, said for a coach:
    ``(applied, text)`` each, rejected ones with their reason. Empty when it did nothing."""
    notes: list[tuple[bool, str]] = []
    for action in actions:
        if action.type != ActionType.SAVE_USER_INFO.value:
            continue
        what = "name" if action.params.get("key") == "name" else "goal"
        value = action.params.get("value")
        if action.status is ActionStatus.APPLIED:
            verb = "saved the client's name as" if what == "name" else "saved the goal"
            notes.append((True, f"The model {verb} “{value}”."))
        else:
            notes.append((False, f"The model's {what} “{value}” was not saved: {action.reason}."))
    return notes
