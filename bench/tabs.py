"""Benchmark (e): the inspector's script run time, per tab, on the session with the most turns.

The real app runs in Streamlit's ``AppTest`` (the script in this process, no browser) against
the inspector benchmark's PostgreSQL database, with the scripted model. After a warm-up, each
action is timed in rounds, all actions side by side: opening each tab, paging the turn log, and
opening one turn's entry. The spec's target: under 300 ms of script time for each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import streamlit as st
from streamlit.testing.v1 import AppTest

from bench.common import Stats, mask, print_table
from bench.pg import psycopg_dsn

APP = Path(__file__).resolve().parents[1] / "app.py"
TARGET_MS = 300.0
TABS = ("State", "Context", "Identities", "Turns", "Prompt", "User")


@dataclass(frozen=True)
class TabsConfig:
    repeats: int = 10

    @classmethod
    def quick(cls) -> TabsConfig:
        return cls(repeats=2)


@contextmanager
def app_environment(url: str) -> Iterator[None]:
    """The app's settings for the run: the benchmark database and the scripted model."""
    saved = {k: os.environ.get(k) for k in ("COACH_DATABASE_URL", "COACH_LLM_PROVIDER")}
    os.environ.update(COACH_DATABASE_URL=url, COACH_LLM_PROVIDER="scripted")
    st.cache_resource.clear()
    try:
        yield
    finally:
        st.cache_resource.clear()  # closes the runtime
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def longest_session(url: str) -> tuple[str, int]:
    with psycopg.connect(psycopg_dsn(url)) as conn:
        row = conn.execute(
            "SELECT id, turn_count FROM sessions ORDER BY turn_count DESC, id LIMIT 1"
        ).fetchone()
    assert row is not None, "the benchmark database has no session"
    return str(row[0]), int(row[1])


def run(*, url: str, config: TabsConfig) -> dict[str, Any]:
    """Time the inspector's actions; print a table and return the figures (synchronous: call
    it off the event loop)."""
    session_id, turns = longest_session(url)
    print(f"\nInspector script time on {mask(url)}: session {session_id} ({turns:,} turns)")
    with app_environment(url):
        at = AppTest.from_file(str(APP), default_timeout=300)
        at.run()
        at.query_params.update(session_id=session_id)
        at.switch_page("pages/inspector.py")
        at.run()
        fail_on_exception(at)

        def open_tab(label: str) -> Callable[[], None]:
            def action() -> None:
                at.session_state["tab"] = label
                at.run()

            return action

        def turns_page(page: int) -> Callable[[], None]:
            def action() -> None:
                at.session_state["tab"] = "Turns"
                at.session_state["turns_page"] = page
                at.run()

            return action

        def open_entry() -> None:
            at.session_state["tab"] = "Turns"
            seq = turns - 1
            at.session_state[f"turn_{seq}"] = True
            at.run()
            at.session_state[f"turn_{seq}"] = False

        pages = max(1, -(-turns // 20))
        actions: dict[str, Callable[[], None]] = {f"open {t} tab": open_tab(t) for t in TABS}
        actions["Turns: first page"] = turns_page(1)
        actions[f"Turns: page {pages // 2}"] = turns_page(max(1, pages // 2))
        actions["Turns: open one turn"] = open_entry
        for action in actions.values():  # warm-up
            action()
            fail_on_exception(at)
        samples: dict[str, list[float]] = {name: [] for name in actions}
        for _ in range(config.repeats):
            for name, action in actions.items():
                t0 = time.perf_counter()
                action()
                samples[name].append(time.perf_counter() - t0)
                fail_on_exception(at)
    stats = {name: Stats.of_seconds(values) for name, values in samples.items()}
    print_table(
        f"Inspector script run time, {turns:,}-turn session, ms ({config.repeats} runs each)",
        ["action", "p50", "p95", "max", f"under {TARGET_MS:.0f} ms (p50)"],
        [
            [name, s.median_ms, s.p95_ms, s.max_ms, "yes" if s.median_ms < TARGET_MS else "NO"]
            for name, s in stats.items()
        ],
    )
    worst = max(s.median_ms for s in stats.values())
    return {
        "session_turns": turns,
        "actions": {name: s.as_dict() for name, s in stats.items()},
        "targets": {"worst_median_ms": worst, "under_300ms": worst < TARGET_MS},
    }


def fail_on_exception(at: AppTest) -> None:
    if at.exception:
        raise RuntimeError(f"the page raised: {[e.value for e in at.exception]}")
