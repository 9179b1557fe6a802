"""Page-load benchmark: the Sessions page and the session inspector in a real browser, on a big
PostgreSQL database.

    python -m bench.pages --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/coach_bench

The database is the one ``python -m bench.generate`` fills (10,000 users, 100,000 sessions,
5,000,000 messages); this benchmark only reads it. It starts ``streamlit run app.py`` on it (with
the scripted model: no page measured here calls a model) and opens each page ``--runs`` times in
headless Chromium (Debian's, ``make browser``), after ``--warmup`` loads that are not counted (the
first one builds the app's runtime). Every load is a new tab, so a new Streamlit session and a
full script run; the browser cache keeps the static files, as for a returning user.

A load is timed from the start of the navigation until the page is *ready*: the script run is
over (``[data-testid='stApp']`` has ``data-test-script-state="notRunning"``) and no ``stSkeleton``
placeholder is left, and that held for 400 ms (the time reported is when it began). The time is
split into *boot* (until the script starts: HTML, JavaScript, websocket, session), *script* (from
the first ``running`` to the last ``notRunning``: the server's run of the page, sending included)
and *render* (from then until nothing is left to draw).

Pages: ``/sessions``; ``/inspector?session_id=…`` for the biggest session (most messages and a
long turn log: its State tab, and its Context, Turns and User tabs through ``&tab=…``) and for a
typical one (the median message count); the Coach page on the biggest session. Results are
printed as a table and saved under ``bench/results/pages-<time>.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.common import RESULTS_DIR, Stats, mask, print_table, save_results
from bench.pg import psycopg_dsn
from devtools import serve

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/coach_bench"
FULL_SIZES = {"users": 10_000, "sessions": 100_000, "messages": 5_000_000}
VIEWPORT: Any = {"width": 1400, "height": 900}  # a playwright ViewportSize
SETTLE_MS = 400
#: What must be on each kind of page once it is ready (so an error page is not timed as a load).
EXPECTED = {
    "sessions": "[data-testid='stDataFrame']",
    "inspector": "[data-testid='stTabs']",
    "coach": "[data-testid='stChatInput']",
}

#: Keeps, per document, when the script first ran and when it last stopped running.
_WATCH_JS = """
window.__pageBench = {running: null, stopped: null};
const watch = () => {
  const app = document.querySelector("[data-testid='stApp']");
  const state = app === null ? null : app.getAttribute("data-test-script-state");
  const bench = window.__pageBench;
  if (state === "running") {
    if (bench.running === null) bench.running = performance.now();
    bench.stopped = null;
  } else if (state === "notRunning" && bench.running !== null && bench.stopped === null) {
    bench.stopped = performance.now();
  }
  requestAnimationFrame(watch);
};
requestAnimationFrame(watch);
"""

#: Resolves with when (ms since navigation) the page became ready and stayed so for ``settle``.
_READY_JS = """
async ({settle, timeout, expected}) => {
  const start = performance.now();
  let since = null;
  while (performance.now() - start < timeout) {
    const app = document.querySelector("[data-testid='stApp']");
    const ready = app !== null
      && app.getAttribute("data-test-script-state") === "notRunning"
      && document.querySelector("[data-testid='stSkeleton']") === null
      && document.querySelector(expected) !== null;
    if (!ready) {
      since = null;
    } else {
      if (since === null) since = performance.now();
      if (performance.now() - since >= settle) {
        const errors = [...document.querySelectorAll(
          "[data-testid='stException'], [data-testid='stAlertContentError']")];
        return {ready: since, ...window.__pageBench, errors: errors.map((e) => e.innerText)};
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`not ready after ${timeout} ms`);
}
"""


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    kind: str
    note: str


@dataclass(frozen=True)
class Load:
    ready_ms: float
    #: Navigation to the first script run: HTML, scripts, the websocket, the session.
    boot_ms: float
    script_ms: float
    render_ms: float


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_URL,
        help="the database the app opens, filled by bench.generate (default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=10, help="timed loads per page (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed loads per page (default 1)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds one load may take (default 300)"
    )
    parser.add_argument("--only", action="append", help="measure only this page (repeatable)")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON result goes"
    )
    return parser.parse_args(argv)


def database_facts(url: str) -> tuple[dict[str, int], list[Target]]:
    """The database's size and the pages to time (their sessions picked with plain SQL)."""
    with psycopg.connect(psycopg_dsn(url), connect_timeout=5) as conn:

        def one(query: str) -> tuple[Any, ...]:
            row = conn.execute(query).fetchone()
            if row is None:
                raise SystemExit(f"the database is empty ({query}); run python -m bench.generate")
            return tuple(row)

        counts = {
            "users": one("SELECT count(*) FROM users")[0],
            "sessions": one("SELECT count(*) FROM sessions")[0],
            "messages": one("SELECT coalesce(sum(message_count), 0) FROM sessions")[0],
            "turns": one("SELECT coalesce(sum(turn_count), 0) FROM sessions")[0],
        }
        big, big_user, big_messages, big_turns = one(
            "SELECT id, user_id, message_count, turn_count FROM sessions "
            "ORDER BY message_count DESC, id LIMIT 1"
        )
        typical, typical_messages, typical_turns = one(
            "SELECT id, message_count, turn_count FROM sessions ORDER BY message_count, id "
            f"OFFSET {max(0, counts['sessions'] // 2)} LIMIT 1"
        )
    targets = [
        Target("sessions", "/sessions", "sessions", "first page of users and of sessions"),
        Target(
            "inspector (biggest session)",
            f"/inspector?session_id={big}",
            "inspector",
            f"{big_messages:,} messages, {big_turns:,} turns",
        ),
        *(
            Target(
                f"inspector (biggest session, {tab} tab)",
                f"/inspector?session_id={big}&tab={tab}",
                "inspector",
                f"{big_messages:,} messages, {big_turns:,} turns",
            )
            for tab in ("Context", "Turns", "User")
        ),
        Target(
            "inspector (typical session)",
            f"/inspector?session_id={typical}",
            "inspector",
            f"{typical_messages:,} messages, {typical_turns:,} turns",
        ),
        Target(
            "coach (biggest session)",
            f"/?user_id={big_user}&session_id={big}",
            "coach",
            f"newest 100 of {big_messages:,} messages",
        ),
    ]
    return counts, targets


@contextmanager
def streamlit_app(database_url: str, log: Path) -> Iterator[str]:
    """``streamlit run app.py`` on a free port against ``database_url``; yields its base URL."""
    port = serve.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(COACH_DATABASE_URL=database_url, COACH_LLM_PROVIDER="scripted")
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            serve.streamlit_command(port),
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                serve.wait_healthy(url, process, log)
            except RuntimeError as e:
                raise SystemExit(str(e)) from e
            yield url
        finally:
            serve.stop(process)


def time_load(context: Any, url: str, kind: str, timeout_s: float) -> Load:
    """Open ``url`` in a new tab and time it until ready."""
    page = context.new_page()
    try:
        page.goto(url, timeout=timeout_s * 1000)
        result = page.evaluate(
            _READY_JS,
            {"settle": SETTLE_MS, "timeout": timeout_s * 1000, "expected": EXPECTED[kind]},
        )
    finally:
        page.close()
    if result["errors"]:
        raise SystemExit(f"{url} shows an error:\n" + "\n".join(result["errors"]))
    running = result["running"] or 0.0
    stopped = result["stopped"] or result["ready"]
    return Load(
        ready_ms=result["ready"],
        boot_ms=running,
        script_ms=stopped - running,
        render_ms=max(0.0, result["ready"] - stopped),
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright  # the dev requirements bring it

    if not os.access(serve.CHROMIUM, os.X_OK):
        raise SystemExit(f"this benchmark needs Chromium at {serve.CHROMIUM}: run `make browser`")
    counts, targets = database_facts(args.pg_url)
    if args.only:
        targets = [t for t in targets if any(o in t.name for o in args.only)]
    short = {k: v for k, v in FULL_SIZES.items() if counts[k] < v}
    print(
        f"Page loads on {mask(args.pg_url)}: {counts['users']:,} users, "
        f"{counts['sessions']:,} sessions, {counts['messages']:,} messages, "
        f"{counts['turns']:,} turns; {args.runs} timed loads per page after {args.warmup} "
        "untimed"
    )
    if short:
        print(f"note: smaller than the full benchmark data ({short}); see bench.generate")

    loads: dict[str, list[Load]] = {}
    warmups: dict[str, list[float]] = {}
    log = args.results_dir / "pages-streamlit.log"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    with streamlit_app(args.pg_url, log) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=serve.CHROMIUM, args=serve.CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(_WATCH_JS)
            for target in targets:
                warmups[target.name] = []
                for _ in range(args.warmup):
                    load = time_load(context, base + target.path, target.kind, args.timeout)
                    warmups[target.name].append(load.ready_ms)
                loads[target.name] = []
                for n in range(args.runs):
                    load = time_load(context, base + target.path, target.kind, args.timeout)
                    loads[target.name].append(load)
                    print(
                        f"  {target.name} #{n + 1}: {load.ready_ms:,.0f} ms "
                        f"(boot {load.boot_ms:,.0f}, script {load.script_ms:,.0f}, "
                        f"render {load.render_ms:,.0f})",
                        flush=True,
                    )
        finally:
            browser.close()

    rows = []
    results: dict[str, Any] = {}
    for target in targets:
        timed = loads[target.name]
        ready = Stats.of_seconds([x.ready_ms / 1000 for x in timed])
        boot = Stats.of_seconds([x.boot_ms / 1000 for x in timed])
        script = Stats.of_seconds([x.script_ms / 1000 for x in timed])
        render = Stats.of_seconds([x.render_ms / 1000 for x in timed])
        rows.append(
            [
                target.name,
                target.note,
                ready.n,
                ready.median_ms,
                ready.p95_ms,
                ready.min_ms,
                ready.max_ms,
                boot.median_ms,
                script.median_ms,
                render.median_ms,
            ]
        )
        results[target.name] = {
            "path": target.path,
            "note": target.note,
            "ready_ms": ready.as_dict(),
            "boot_ms": boot.as_dict(),
            "script_ms": script.as_dict(),
            "render_ms": render.as_dict(),
            "warmup_ready_ms": warmups[target.name],
            "samples_ms": [x.ready_ms for x in timed],
        }
    print_table(
        "Page loads in Chromium, navigation to ready, ms",
        [
            "page",
            "subject",
            "n",
            "median",
            "p95",
            "min",
            "max",
            "boot p50",
            "script p50",
            "render p50",
        ],
        rows,
    )
    return {
        "database": mask(args.pg_url),
        "counts": counts,
        "config": {"runs": args.runs, "warmup": args.warmup, "settle_ms": SETTLE_MS},
        "viewport": VIEWPORT,
        "pages": results,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = run(args)
    path = save_results("pages", result, args.results_dir)
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
