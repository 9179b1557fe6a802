"""Alembic environment: runs the migrations on a connection given by the caller, or (from the
``alembic`` command line) on one it opens from ``-x url=...`` the way the app does
(``engine.Engines``: one write transaction)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from coach.persistence.sql.engine import Engines, parse_url
from coach.persistence.sql.migrate import run_migrations
from coach.persistence.sql.tables import Base

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit(
            "no database URL: pass one with -x url=..., for example -x url=sqlite:///data/coach.db"
        )
    return url


async def _run_online(url: str) -> None:
    engines = Engines(parse_url(url), foreign_keys=False, migrations=True)
    try:
        await engines.run(run_migrations, write=True)
    finally:
        await engines.dispose()


def _run_offline(url: str) -> None:
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if isinstance(given, Connection):
    run_migrations(given)
elif context.is_offline_mode():
    _run_offline(_url())
else:
    asyncio.run(_run_online(_url()))
