"""One app process starting up: ``SQLDatabase(url).initialize()``, at a moment the test chooses.

``test_concurrent_initialize_migrates_once`` starts several of these at once
(``python -m tests.persistence.initialize_worker --url ...``). Each prints ``ready`` once its
imports are done and its database object exists, then reads ``go <wall-clock time>`` on stdin,
sleeps until that time, calls ``initialize()`` and prints one JSON line: when the call started
and ended, the error it raised if any, and the migration steps Alembic ran in this process (from
Alembic's own log, ``Running upgrade ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

from coach.persistence.sql import SQLDatabase


class _Steps(logging.Handler):
    """Collects the ``Running upgrade ...`` lines Alembic logs for each migration it runs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Running "):
            self.steps.append(message)


async def main(url: str) -> int:
    steps = _Steps()
    alembic_log = logging.getLogger("alembic")
    alembic_log.addHandler(steps)
    alembic_log.setLevel(logging.INFO)
    db = SQLDatabase(url)
    print("ready", flush=True)
    go = await asyncio.to_thread(sys.stdin.readline)
    word, _, at = go.partition(" ")
    if word != "go":
        raise SystemExit(f"expected 'go <time>', got {go!r}")
    await asyncio.sleep(max(0.0, float(at) - time.time()))
    error: str | None = None
    started = time.time()
    try:
        await db.initialize()
    except Exception as e:  # reported to the test, which fails on it
        error = f"{type(e).__name__}: {e}"
    finished = time.time()
    await db.close()
    report = {"started": started, "finished": finished, "error": error, "steps": steps.steps}
    print(json.dumps(report), flush=True)
    return 0 if error is None else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one process initializing a SQL database")
    parser.add_argument("--url", required=True)
    sys.exit(asyncio.run(main(parser.parse_args().url)))
