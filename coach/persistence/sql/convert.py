"""Records to row values and rows back to records.

JSON columns only ever receive ``model_dump(mode="json")`` output; timestamps stay ``datetime``
objects for ``UTCDateTime`` to store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import RowMapping

from coach.persistence.records import (
    ContextRecord,
    IdentityRecord,
    JsonDict,
    MessageRecord,
    SessionSummary,
    StateRecord,
    TurnOutline,
    TurnRecord,
    TurnSummary,
    UserRecord,
)
from coach.persistence.rules import label_key

Row = RowMapping | Mapping[str, Any]


def search_key(text: str) -> str:
    """The form in which ids and names are matched by prefix search (case-folded)."""
    return text.casefold()


def user_name(data: JsonDict) -> str | None:
    name = data.get("name")
    return name if isinstance(name, str) else None


#: User columns an upsert replaces (all but the key and the creation time).
USER_UPDATE_COLUMNS = ("id_key", "name", "name_key", "data", "version", "updated_at")


def user_values(user: UserRecord, *, updated_at: datetime) -> dict[str, Any]:
    """The row of ``user`` as saved now: at the version after the one it was read at."""
    data: JsonDict = user.model_dump(mode="json", include={"data"})["data"]
    name = user_name(data)
    return {
        "id": user.id,
        "id_key": search_key(user.id),
        "name": name,
        "name_key": None if name is None else search_key(name),
        "data": data,
        "version": user.version + 1,
        "created_at": user.created_at,
        "updated_at": updated_at,
    }


def empty_user_values(user_id: str, now: datetime) -> dict[str, Any]:
    """A placeholder user, registered with a session: at version 0, as not saved yet."""
    return {**user_values(UserRecord(id=user_id, created_at=now), updated_at=now), "version": 0}


def user_from_row(row: Row) -> UserRecord:
    return UserRecord(
        id=row["id"],
        data=row["data"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def state_values(state: StateRecord) -> dict[str, Any]:
    return {
        "session_id": state.session_id,
        "user_id": state.user_id,
        "state": state.state.value,
        "focus_identity_id": state.focus_identity_id,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }


def state_from_row(row: Row) -> StateRecord:
    return StateRecord.model_validate(row)


def message_values(session_id: str, position: int, message: MessageRecord) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "position": position,
        "id": message.id,
        "role": message.role.value,
        "content": message.content,
        "reply_to": message.reply_to,
        "created_at": message.created_at,
    }


def context_user_data(context: ContextRecord) -> JsonDict:
    data: JsonDict = context.model_dump(mode="json", include={"user_data"})["user_data"]
    return data


def context_from_row(
    row: Row, messages: list[MessageRecord], first_message_index: int
) -> ContextRecord:
    return ContextRecord(
        user_id=row["user_id"],
        session_id=row["session_id"],
        messages=messages,
        first_message_index=first_message_index,
        user_data=row["user_data"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


#: Identity columns an upsert replaces (all but the key, the owner and the creation time).
IDENTITY_UPDATE_COLUMNS = (
    "session_id",
    "label",
    "label_key",
    "category",
    "description",
    "state",
    "affirmation",
    "visualization",
    "notes",
    "action_items",
    "version",
    "updated_at",
)


def identity_values(identity: IdentityRecord, *, updated_at: datetime) -> dict[str, Any]:
    """The row of ``identity`` as saved now: at the version after the one it was read at."""
    lists = identity.model_dump(mode="json", include={"notes", "action_items"})
    return {
        "id": identity.id,
        "user_id": identity.user_id,
        "session_id": identity.session_id,
        "label": identity.label,
        "label_key": label_key(identity.label),
        "category": identity.category.value,
        "description": identity.description,
        "state": identity.state.value,
        "affirmation": identity.affirmation,
        "visualization": identity.visualization,
        "notes": lists["notes"],
        "action_items": lists["action_items"],
        "version": identity.version + 1,
        "created_at": identity.created_at,
        "updated_at": updated_at,
    }


#: Validates a whole list of rows in one call (cheaper than one ``model_validate`` per row).
_IDENTITY_LIST = TypeAdapter(list[IdentityRecord])
_MESSAGE_LIST = TypeAdapter(list[MessageRecord])


def identity_from_row(row: Row) -> IdentityRecord:
    data = dict(row)
    del data["label_key"]
    return IdentityRecord.model_validate(data)


def identities_from_rows(rows: Sequence[Row]) -> list[IdentityRecord]:
    """The identities of rows of ``reads.IDENTITY_COLUMNS`` (no ``label_key``)."""
    return _IDENTITY_LIST.validate_python([dict(row) for row in rows])


def messages_from_rows(rows: Sequence[Row]) -> list[MessageRecord]:
    """The messages of rows with the record's fields."""
    return _MESSAGE_LIST.validate_python([dict(row) for row in rows])


def turn_values(turn: TurnRecord, seq: int) -> dict[str, Any]:
    values = turn.model_dump(exclude={"actions", "details", "seq"})
    values.update(turn.model_dump(mode="json", include={"actions", "details"}))
    for key in ("state_before", "state_after", "requested_transition", "status"):
        value = values[key]
        values[key] = None if value is None else str(value)
    values["seq"] = seq
    return values


def turn_from_row(row: Row) -> TurnRecord:
    return TurnRecord.model_validate(dict(row))


def turn_summary_from_row(row: Row) -> TurnSummary:
    return TurnSummary.model_validate(dict(row))


def turn_outline_from_row(row: Row) -> TurnOutline:
    return TurnOutline.model_validate(dict(row))


def session_from_row(row: Row) -> SessionSummary:
    return SessionSummary(
        session_id=row["id"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        state=row["state"],
        message_count=row["message_count"],
        turn_count=row["turn_count"],
        created_at=row["created_at"],
        last_activity_at=row["last_activity_at"],
    )
