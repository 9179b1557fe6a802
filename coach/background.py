"""One event loop in a background thread, for driving the async engine from synchronous code.

Engines and model clients are tied to the loop they were created on. A Streamlit script reruns
on a new thread each time, so the app keeps one ``BackgroundLoop`` per process, creates the
database and the client on it, and hands each coroutine to it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 300.0


class BackgroundLoop:
    """An asyncio loop running forever in a daemon thread."""

    def __init__(self, name: str = "coach-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = DEFAULT_TIMEOUT_S) -> T:
        """Run ``coro`` on the loop and wait for its result (its exception is raised here).

        Raises:
            TimeoutError: it took longer than ``timeout`` seconds; it is cancelled.
        """
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and wait for its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
