"""The statements of a write, built once per dialect with bound parameters.

Building an upsert (with its ``excluded`` alias) costs more than SQLite takes to run it, so the
statements a commit runs are made once and executed with values (SQLAlchemy's compiled cache
then finds them by their cache key). Upserts are the dialect's own
``INSERT ... ON CONFLICT DO UPDATE``. The versioned ones (users, identities) update only the
version they were read at, so a writer in another transaction can never be overwritten: the
rules (``coach.persistence.rules``) say why a write is refused, and these guards make sure it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Executable,
    Integer,
    Table,
    bindparam,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from coach.persistence.sql.convert import IDENTITY_UPDATE_COLUMNS, USER_UPDATE_COLUMNS
from coach.persistence.sql.tables import (
    LIVE_TURN,
    contexts,
    identities,
    messages,
    sessions,
    states,
    turns,
    users,
)

Insert = postgresql.Insert | sqlite.Insert


@dataclass(frozen=True, slots=True)
class Statements:
    session_info: Executable
    insert_user_if_missing: Executable
    insert_session_if_missing: Executable
    user_version: Executable
    upsert_user: Executable
    upsert_state: Executable
    insert_context_if_missing: Executable
    update_context: Executable
    taken_message_ids: Executable
    insert_messages: Executable
    stored_identities: Executable
    upsert_identity: Executable
    live_turn: Executable
    insert_turn: Executable
    update_pending_turn: Executable


def _upsert(
    insert: Callable[[Table], Insert],
    table: Table,
    key: str,
    columns: Sequence[str],
    where: Callable[[Insert], ColumnElement[bool]] | None = None,
) -> Insert:
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: stmt.excluded[name] for name in columns},
        where=None if where is None else where(stmt),
    )


def native_insert(dialect: str) -> Callable[[Table], Insert]:
    """The dialect's own ``insert`` ("sqlite" or "postgresql"): the one with ``ON CONFLICT``."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@cache
def statements(dialect: str) -> Statements:
    """The statements for ``dialect`` ("sqlite" or "postgresql"), with its native upserts."""
    insert = native_insert(dialect)
    expected: BindParameter[int] = bindparam("b_expected_version", type_=Integer)
    return Statements(
        session_info=select(
            sessions.c.user_id,
            sessions.c.turn_count,
            contexts.c.version,
            contexts.c.message_count,
            contexts.c.created_at,
        )
        .select_from(sessions.outerjoin(contexts, contexts.c.session_id == sessions.c.id))
        .where(sessions.c.id == bindparam("b_session_id")),
        insert_user_if_missing=insert(users).on_conflict_do_nothing(index_elements=[users.c.id]),
        insert_session_if_missing=insert(sessions).on_conflict_do_nothing(
            index_elements=[sessions.c.id]
        ),
        user_version=select(users.c.version).where(users.c.id == bindparam("b_user_id")),
        upsert_user=_upsert(
            insert, users, "id", USER_UPDATE_COLUMNS, where=lambda _: users.c.version == expected
        ).returning(users.c.created_at),
        upsert_state=_upsert(
            insert,
            states,
            "session_id",
            ("user_id", "state", "focus_identity_id", "created_at", "updated_at"),
        ),
        insert_context_if_missing=insert(contexts).on_conflict_do_nothing(
            index_elements=[contexts.c.session_id]
        ),
        update_context=update(contexts).where(
            contexts.c.session_id == bindparam("b_session_id"),
            contexts.c.version == bindparam("b_version"),
        ),
        taken_message_ids=select(messages.c.id).where(
            messages.c.id.in_(bindparam("b_ids", expanding=True))
        ),
        insert_messages=messages.insert(),
        stored_identities=select(
            identities.c.id,
            identities.c.user_id,
            identities.c.label,
            identities.c.state,
            identities.c.version,
        ).where(
            or_(
                identities.c.user_id == bindparam("b_user_id"),
                identities.c.id.in_(bindparam("b_ids", expanding=True)),
            )
        ),
        upsert_identity=_upsert(
            insert,
            identities,
            "id",
            IDENTITY_UPDATE_COLUMNS,
            where=lambda stmt: (
                (identities.c.user_id == stmt.excluded.user_id) & (identities.c.version == expected)
            ),
        ).returning(identities.c.created_at),
        live_turn=select(turns.c.seq, turns.c.status).where(
            turns.c.session_id == bindparam("b_session_id"),
            turns.c.user_message_id == bindparam("b_user_message_id"),
            # Literal SQL, not parameters: it must match the partial unique index's condition
            # for SQLite to use that index.
            text(LIVE_TURN),
        ),
        insert_turn=turns.insert(),
        update_pending_turn=update(turns).where(
            turns.c.session_id == bindparam("b_session_id"),
            turns.c.seq == bindparam("b_seq"),
            turns.c.status == literal_column("'pending'"),
        ),
    )


@cache
def touch_statement(set_count: bool, set_state: bool, add_turn: bool) -> Executable:
    """``UPDATE sessions ... RETURNING`` for one combination of what a write changes (built
    once each).

    It returns what a write needs to know of the session, so no ``SELECT`` precedes it: the
    owner, the turn count (after the increment) and, from the context row (not changed yet in
    this transaction), its version, message count and creation time. On PostgreSQL it also
    locks the session's row until the transaction ends, so a session's writes queue up.
    """
    values: dict[str, Any] = {
        "last_activity_at": bindparam("b_now", type_=sessions.c.last_activity_at.type)
    }
    if set_count:
        values["message_count"] = bindparam("b_message_count", type_=sessions.c.message_count.type)
    if set_state:
        values["state"] = bindparam("b_state", type_=sessions.c.state.type)
    if add_turn:
        values["turn_count"] = sessions.c.turn_count + 1

    def of_context(column: ColumnElement[Any]) -> Any:
        return select(column).where(contexts.c.session_id == sessions.c.id).scalar_subquery()

    return (
        update(sessions)
        .where(sessions.c.id == bindparam("b_session_id"))
        .values(values)
        .returning(
            sessions.c.user_id,
            sessions.c.turn_count,
            of_context(contexts.c.version),
            of_context(contexts.c.message_count),
            of_context(contexts.c.created_at),
        )
    )
