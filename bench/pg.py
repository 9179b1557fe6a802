"""PostgreSQL helpers for the benchmarks: URLs, throwaway databases, a sync psycopg connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

from bench.common import unique_name

ASYNC_DRIVER = "postgresql+asyncpg"


def async_url(url: str, database: str | None = None) -> str:
    """``url`` for the SQL backend (asyncpg driver), optionally on another database."""
    u = make_url(url).set(drivername=ASYNC_DRIVER)
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def psycopg_dsn(url: str, database: str | None = None) -> str:
    """``url`` as a libpq connection string for psycopg."""
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name:
        raise ValueError(f"the URL names no database: {url!r}")
    return name


def admin_connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the server's ``postgres`` database."""
    return psycopg.connect(psycopg_dsn(url, "postgres"), autocommit=True)


def database_exists(url: str, name: str) -> bool:
    with admin_connection(url) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None


def create_database(url: str, name: str) -> None:
    with admin_connection(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str, name: str) -> None:
    with admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reachable(url: str) -> bool:
    try:
        with psycopg.connect(psycopg_dsn(url, "postgres"), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@contextmanager
def temporary_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create an empty database on the server; yield its async URL; drop it afterwards."""
    name = unique_name(prefix)
    create_database(server_url, name)
    try:
        yield async_url(server_url, name)
    finally:
        drop_database(server_url, name)
