"""How the hot path runs its statements: through SQLAlchemy Core, or on SQLite's driver cursor.

A turn is about a dozen short statements (see ``writes.Writer.commit`` and the reads of
``reads``). SQLite runs each in some 10-70 us, while ``Connection.execute`` spends several
times that around it: the compiled-cache lookup, an execution context, event and logging
checks, a ``CursorResult`` with its metadata, ``Row`` objects. Measured on this project's
2-core machine under load, with the same statements and work functions, one benchmark turn
took 5.6-6.2 ms through Core, 5.0-5.1 ms through ``exec_driver_sql`` and 3.7-3.9 ms as below:
that machinery was a third of a turn.

So there are two ``Executor`` implementations of one small interface:

- ``CoreExecutor``: ``Connection.execute`` (PostgreSQL, where a statement is a network round
  trip and the overhead does not matter, and anything not on the hot path).
- ``DriverExecutor`` (SQLite): the statement is still built with SQLAlchemy Core and compiled
  by SQLAlchemy's SQLite dialect, once per shape; its values go through the same type
  processors Core applies (``TypeEngine.bind_processor`` / ``result_processor`` of the
  engine's dialect), so the stored text is exactly what Core stores; driver errors are wrapped
  in SQLAlchemy's exceptions (``IntegrityError``...) as Core wraps them; the
  ``before_cursor_execute`` / ``after_cursor_execute`` listeners of the engine see every
  statement (with ``context`` ``None``). It runs on the connection and in the transaction of
  the SQLAlchemy ``Connection`` it is given. What it skips is the per-call bookkeeping.

Only statements built once (module constants, ``functools.cache``) should go through
``DriverExecutor``: compiled forms are cached per statement object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Rows:
    """What one statement returned: rows as tuples of converted values, and the DBAPI row
    count of an ``INSERT``/``UPDATE``/``DELETE``."""

    keys: tuple[str, ...]
    rows: Sequence[Sequence[Any]]
    rowcount: int

    def first(self) -> Sequence[Any] | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first value of the first row, or ``None`` when there is no row."""
        return self.rows[0][0] if self.rows else None

    def dicts(self) -> list[dict[str, Any]]:
        keys = self.keys
        return [dict(zip(keys, row, strict=False)) for row in self.rows]


class Executor(Protocol):
    def run(self, statement: Executable, params: Mapping[str, Any]) -> Rows:
        """Execute ``statement`` with ``params``; fetch all its rows."""
        ...

    def run_many(self, statement: Executable, params: Sequence[Mapping[str, Any]]) -> int:
        """Execute ``statement`` once per item of ``params`` (``executemany``); return the
        total row count."""
        ...


def executor(conn: Connection) -> Executor:
    """The executor for ``conn``: on the driver for SQLite, Core for other databases."""
    if conn.dialect.name == "sqlite":
        return DriverExecutor(conn)
    return CoreExecutor(conn)


class CoreExecutor:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def run(self, statement: Executable, params: Mapping[str, Any]) -> Rows:
        result = self.conn.execute(statement, params)
        if not result.returns_rows:
            return Rows((), (), result.rowcount)
        keys = tuple(result.keys())
        return Rows(keys, result.all(), result.rowcount)

    def run_many(self, statement: Executable, params: Sequence[Mapping[str, Any]]) -> int:
        return self.conn.execute(statement, list(params)).rowcount


class DriverExecutor:
    """Runs SQLAlchemy-compiled statements on the DBAPI cursor of a ``Connection``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.dbapi_connection = conn.connection.driver_connection
        assert self.dbapi_connection is not None
        self.cursor = self.dbapi_connection.cursor()
        # Looked up once: checking the listener collections costs a few us per statement.
        self._before = conn.dispatch.before_cursor_execute
        self._after = conn.dispatch.after_cursor_execute
        self._listened = bool(self._before) or bool(self._after)

    def run(self, statement: Executable, params: Mapping[str, Any]) -> Rows:
        compiled = _compile(self.dialect, statement, tuple(params), False)
        cursor = self._execute(compiled.sql, compiled.arguments(params), False)
        rows = compiled.convert(cursor.fetchall()) if compiled.keys else ()
        return Rows(compiled.keys, rows, cursor.rowcount)

    def run_many(self, statement: Executable, params: Sequence[Mapping[str, Any]]) -> int:
        if not params:
            return 0
        compiled = _compile(self.dialect, statement, tuple(params[0]), True)
        cursor = self._execute(compiled.sql, [compiled.arguments(p) for p in params], True)
        return int(cursor.rowcount)

    def _execute(self, sql: str, args: Any, many: bool) -> Any:
        conn, cursor = self.conn, self.cursor
        if self._listened:
            for listener in self._before:
                sql, args = listener(conn, cursor, sql, args, None, many)
        try:
            if many:
                cursor.executemany(sql, args)
            else:
                cursor.execute(sql, args)
        except self.dialect.loaded_dbapi.Error as e:
            lost = self.dialect.is_disconnect(e, self.dbapi_connection, cursor)
            if lost:
                conn.invalidate(e)  # the runner then replaces the connection
            raise exc.DBAPIError.instance(
                sql,
                args,
                e,
                self.dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=self.dialect,
                ismulti=many,
            ) from e
        if self._listened:
            for listener in self._after:
                listener(conn, cursor, sql, args, None, many)
        return cursor


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for one dialect and one set of parameter names."""

    sql: str
    #: The positional parameters: name, default value (bound in the statement), processor.
    params: tuple[tuple[str, Any, Processor | None], ...]
    #: The result columns' names, and the processors of those that need one (by position).
    keys: tuple[str, ...]
    processors: tuple[tuple[int, Processor], ...]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        get = values.get
        return [
            get(name, default) if process is None else process(get(name, default))
            for name, default, process in self.params
        ]

    def convert(self, rows: list[Any]) -> Sequence[Sequence[Any]]:
        if not self.processors:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for i, process in self.processors:
                values[i] = process(values[i])
            converted.append(values)
        return converted


@lru_cache(maxsize=512)
def _compile(
    dialect: Dialect, statement: Executable, names: tuple[str, ...], many: bool
) -> _Compiled:
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect, column_keys=list(names), for_executemany=many)
    assert isinstance(compiled, SQLCompiler) and compiled.positional
    params = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        default = None if bind.required else bind.effective_value
        params.append((name, default, bind.type.dialect_impl(dialect).bind_processor(dialect)))
    keys: list[str] = []
    processors: list[tuple[int, Processor]] = []
    # The selected columns, or those of ``RETURNING`` (none for other DML), in order.
    columns = getattr(statement, "exported_columns", ())
    for i, column in enumerate(columns):
        keys.append(str(getattr(column, "key", None) or f"_{i}"))
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            processors.append((i, process))
    return _Compiled(compiled.string, tuple(params), tuple(keys), tuple(processors))
