"""The per-process runtime: settings, one background event loop, the database, the model
client and the ``CoachService``, created once and shared by every session of the app.

The database engine and the model client are tied to the event loop they were created on, and
a Streamlit script reruns on a new thread each time. So one ``BackgroundLoop`` runs for the
whole process, everything async is created by coroutines on it, and pages hand their coroutines
to it (``runtime.run``). Turns run there as tasks of the engine, not of any page: a page follows
a turn with short waits (``TurnHandle.wait``) and may stop at any moment. Never call ``st.*``
from the loop thread.

``get_runtime`` is cached with ``st.cache_resource``: the returned object is shared by every
user, so nothing on it is ever changed by a page. Clearing the cache closes it.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from coach.assembly import build_service, open_database, open_llm_client
from coach.background import BackgroundLoop
from coach.config import Settings
from coach.llm.base import LLMClient
from coach.logs import configure_logging
from coach.persistence.base import DatabaseInterface
from coach.service import CoachService

T = TypeVar("T")
logger = logging.getLogger(__name__)

#: Seconds a page waits for one database call (a turn is followed in short waits instead).
CALL_TIMEOUT_S = 120.0
#: Seconds the running turns get to be stored when the app shuts down; any still running after
#: that stays pending and is marked interrupted at the next start.
SHUTDOWN_WAIT_S = 30.0


@dataclass(frozen=True)
class AppRuntime:
    """Everything the pages share. Read-only: pages never change it."""

    settings: Settings
    loop: BackgroundLoop
    db: DatabaseInterface
    client: LLMClient
    service: CoachService

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = CALL_TIMEOUT_S) -> T:
        """Run ``coro`` on the background loop and return its result (or raise its error)."""
        return self.loop.run(coro, timeout)

    @property
    def offline_model(self) -> bool:
        """True when the bundled tiny offline model answers."""
        return self.client.provider == "local"

    def close(self) -> None:
        """Let the running turns be stored, close the client and the database, then stop the
        loop.

        Called when the cache entry is released (the process is shutting down or the cache is
        cleared), where there is nobody to show an error to: a failure is logged.
        """
        steps = (
            (self.service.aclose, SHUTDOWN_WAIT_S),
            (self.client.aclose, 10),
            (self.db.close, 10),
        )
        for closing, timeout in steps:
            try:
                self.run(closing(), timeout=timeout)
            except Exception:
                logger.exception("closing the app runtime failed")
        self.loop.stop()


def read_secrets() -> dict[str, Any]:
    """``st.secrets`` as a dict; empty when there is no ``secrets.toml`` at all."""
    try:
        return dict(st.secrets)
    except FileNotFoundError:  # StreamlitSecretNotFoundError: no secrets.toml anywhere
        return {}


def build_runtime(settings: Settings) -> AppRuntime:
    """Start a background loop and create the database, client and service on it.

    Raises:
        PersistenceError: the database cannot be reached or its schema is outdated.
        ConfigurationError: the model client cannot be built as configured.
    """
    loop = BackgroundLoop(name="coach-app-loop")

    async def create() -> tuple[DatabaseInterface, LLMClient, CoachService]:
        db = await open_database(settings)
        try:
            client = await open_llm_client(settings)
        except BaseException:
            await db.close()
            raise
        return db, client, build_service(settings, client, db)

    try:
        db, client, service = loop.run(create(), timeout=CALL_TIMEOUT_S)
    except BaseException:
        loop.stop()
        raise
    freeze_startup_objects()
    return AppRuntime(settings=settings, loop=loop, db=db, client=client, service=service)


def freeze_startup_objects() -> None:
    """Move everything built so far (modules, engines, the model) out of the garbage
    collector's reach (``gc.freeze``): it lives as long as the process, and a full collection
    that walks it again each time is what made a page that reads many records slow now and
    then (2,500 turn summaries: p95 141 ms, 81 ms frozen, measured here)."""
    gc.collect()
    gc.freeze()


def _release(runtime: AppRuntime) -> None:
    runtime.close()


@st.cache_resource(show_spinner="Starting the coach…", on_release=_release)
def get_runtime() -> AppRuntime:
    """The process's runtime, built on first use from ``st.secrets`` and the environment
    (the environment wins), with the process's logging configured. A failure is not cached:
    the next rerun tries again."""
    settings = Settings.resolve(read_secrets())
    configure_logging(settings)
    return build_runtime(settings)
