"""Shared fixtures: a fresh database per test on every backend.

PostgreSQL tests create a throwaway database of their own and drop it afterwards. They run when
``COACH_TEST_POSTGRES_URL`` names a server (for example
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``); when it is unset they are skipped, and
when it is set but the server cannot be reached they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from coach.persistence import DatabaseInterface, DatabaseType, create_database
from devtools.fake_openai import FakeOpenAIServer

POSTGRES_ENV = "COACH_TEST_POSTGRES_URL"
BACKENDS = ["memory", "sqlite", "postgresql"]


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _admin_engine(server_url: str) -> Engine:
    sync_url = make_url(server_url).set(drivername="postgresql+psycopg")
    return create_engine(sync_url, isolation_level="AUTOCOMMIT")


def create_postgres_database(server_url: str, *, template: str | None = None) -> str:
    """Create a database on the server (empty, or a copy of ``template``); return its async URL."""
    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine(server_url)
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    engine = _admin_engine(make_url(url).set(database="postgres").render_as_string(False))
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def migrate(url: str) -> None:
    async def run() -> None:
        database = create_database(DatabaseType.SQL, connection_string=url)
        try:
            await database.initialize()
        finally:
            await database.close()

    # Fixtures may be set up while a test's event loop runs: migrate on a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def require_postgres() -> str:
    server = postgres_server_url()
    if server is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: set {POSTGRES_ENV}")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    return server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    url = create_postgres_database(require_postgres())
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated once per test run, to copy from."""
    url = create_postgres_database(require_postgres())
    try:
        migrate(url)
        yield str(make_url(url).database)
    finally:
        drop_postgres_database(url)


@pytest.fixture
def migrated_postgres_url(postgres_template: str) -> Iterator[str]:
    """A new PostgreSQL database at the latest schema (a copy of the template), dropped after."""
    url = create_postgres_database(require_postgres(), template=postgres_template)
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test run, to copy from."""
    path = tmp_path_factory.mktemp("template") / "coach.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A new SQLite file at the latest schema (a copy of the template)."""
    path = tmp_path / "coach.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a new SQLite file database."""
    return f"sqlite:///{tmp_path / 'coach.db'}"


def database_url(
    backend: str, request: pytest.FixtureRequest, *, migrated: bool = False
) -> str | None:
    if backend == "memory":
        return None
    prefix = "migrated_" if migrated else ""
    name = "sqlite_url" if backend == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(prefix + name))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of each backend in turn: memory, sqlite, postgresql."""
    return str(request.param)


@pytest.fixture
async def db(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[DatabaseInterface]:
    """A fresh, initialized database of each backend in turn."""
    url = database_url(backend, request, migrated=True)
    database = (
        create_database(DatabaseType.MEMORY)
        if url is None
        else create_database(DatabaseType.SQL, connection_string=url)
    )
    await database.initialize()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh SQL database of each SQL backend in turn (not initialized)."""
    url = database_url(str(request.param), request)
    assert url is not None
    return url


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server on 127.0.0.1, stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_llama_server() -> Iterator[FakeOpenAIServer]:
    """A fake server that, like the llama.cpp server, rejects ``json_schema`` response formats."""
    with FakeOpenAIServer(reject_json_schema=True) as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
