"""``python -m bench [--quick] [--only NAME] [--pg-url URL]``: run the benchmarks.

PostgreSQL parts run when a server is named by ``--pg-url`` (any database on it, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``) or by ``COACH_BENCH_POSTGRES_URL`` /
``COACH_TEST_POSTGRES_URL``; without one they are skipped and say so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from bench import inspector, langgraph_ref, persistence
from bench.common import RESULTS_DIR, mask, save_results
from bench.generate import generate
from bench.pg import async_url, reachable

BENCHMARKS = (
    "persistence",
    "langgraph",
    "inspector",
    "tabs",
    "engine",
    "trials",
    "replay",
    "evals",
    "first_text",
)
PG_ENV = ("COACH_BENCH_POSTGRES_URL", "COACH_TEST_POSTGRES_URL")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of seconds")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeatable); default: " + ", ".join(BENCHMARKS),
    )
    parser.add_argument(
        "--pg-url", help="PostgreSQL server URL (default: $COACH_BENCH_POSTGRES_URL)"
    )
    parser.add_argument(
        "--backends",
        default=",".join(persistence.BACKENDS),
        help="persistence benchmark: comma-separated backends (default: %(default)s)",
    )
    parser.add_argument(
        "--bench-db",
        default=inspector.DEFAULT_DATABASE,
        help="database the inspector benchmark fills once and reuses; refilled when it holds "
        "another size (default: %(default)s)",
    )
    parser.add_argument("--users", type=int, help="inspector data: users (default 10,000)")
    parser.add_argument("--sessions", type=int, help="inspector data: sessions (default 100,000)")
    parser.add_argument("--messages", type=int, help="inspector data: messages (default 5,000,000)")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where JSON results go"
    )
    return parser.parse_args(argv)


def pg_server(args: argparse.Namespace) -> str | None:
    url = args.pg_url or next((os.environ[k] for k in PG_ENV if os.environ.get(k)), None)
    if url is None:
        return None
    if not reachable(url):
        raise SystemExit(f"cannot reach PostgreSQL at {mask(url)}; start it or fix --pg-url")
    return url


async def main(args: argparse.Namespace) -> int:
    selected = args.only or list(BENCHMARKS)
    pg_url = pg_server(args)
    mode = "quick" if args.quick else "full"
    shown = mask(pg_url) if pg_url else "none"
    print(f"Benchmarks ({mode}): {', '.join(selected)}; PostgreSQL: {shown}")
    saved: list[Path] = []
    all_targets: dict[str, Any] = {}

    if "persistence" in selected:
        config = (
            persistence.PersistenceConfig.quick() if args.quick else persistence.PersistenceConfig()
        )
        backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
        unknown = set(backends) - set(persistence.BACKENDS)
        if unknown:
            raise SystemExit(f"unknown backends {sorted(unknown)}; use {persistence.BACKENDS}")
        result = await persistence.run(pg_server_url=pg_url, config=config, backends=backends)
        all_targets["persistence"] = result["targets"]
        saved.append(save_results(f"persistence-{mode}", result, args.results_dir))

    if "langgraph" in selected:
        lg_config = (
            langgraph_ref.LangGraphConfig.quick() if args.quick else langgraph_ref.LangGraphConfig()
        )
        result = await langgraph_ref.run(config=lg_config)
        all_targets["langgraph"] = result["targets"]
        saved.append(save_results(f"langgraph-{mode}", result, args.results_dir))

    if "inspector" in selected:
        if pg_url is None:
            print("\ninspector skipped: it needs PostgreSQL; pass --pg-url URL")
        else:
            sizes = inspector.QUICK_SIZES if args.quick else inspector.FULL_SIZES
            sizes = sizes.with_overrides(
                users=args.users, sessions=args.sessions, messages=args.messages
            )
            in_config = (
                inspector.InspectorConfig.quick() if args.quick else inspector.InspectorConfig()
            )
            database = args.bench_db if not args.quick else f"{args.bench_db}_quick"
            result = await inspector.run(
                pg_server_url=pg_url, database=database, sizes=sizes, config=in_config
            )
            all_targets["inspector"] = result["targets"]
            saved.append(save_results(f"inspector-{mode}", result, args.results_dir))

    if "tabs" in selected:
        if pg_url is None:
            print("\ntabs skipped: it needs PostgreSQL; pass --pg-url URL")
        else:
            from bench import tabs  # imported here: it loads Streamlit

            sizes = inspector.QUICK_SIZES if args.quick else inspector.FULL_SIZES
            database = args.bench_db if not args.quick else f"{args.bench_db}_quick"
            url = async_url(pg_url, database)
            await asyncio.to_thread(
                generate, url, sizes, reset=database.startswith(inspector.DEFAULT_DATABASE)
            )
            tabs_config = tabs.TabsConfig.quick() if args.quick else tabs.TabsConfig()
            result = await asyncio.to_thread(tabs.run, url=url, config=tabs_config)
            all_targets["tabs"] = result["targets"]
            saved.append(save_results(f"tabs-{mode}", result, args.results_dir))

    if "engine" in selected:
        from bench import engine  # imported here: it loads the coaching engine and local model

        engine_config = engine.EngineConfig.quick() if args.quick else engine.EngineConfig()
        result = await engine.run(config=engine_config)
        all_targets["engine"] = result["targets"]
        saved.append(save_results(f"engine-{mode}", result, args.results_dir))

    if "trials" in selected:
        from bench import trials  # imported here: it loads the coaching engine

        trials_config = trials.TrialsConfig.quick() if args.quick else trials.TrialsConfig()
        result = await trials.run(config=trials_config)
        all_targets["trials"] = result["targets"]
        saved.append(save_results(f"trials-{mode}", result, args.results_dir))

    if "replay" in selected:
        from bench import replay  # imported here: it loads the coaching engine

        replay_config = replay.ReplayConfig.quick() if args.quick else replay.ReplayConfig()
        result = await replay.run(config=replay_config)
        all_targets["replay"] = result["targets"]
        saved.append(save_results(f"replay-{mode}", result, args.results_dir))

    if "evals" in selected:
        from bench import evals  # imported here: it loads the coaching engine

        evals_config = evals.EvalsConfig.quick() if args.quick else evals.EvalsConfig()
        result = await evals.run(config=evals_config, pg_server_url=pg_url)
        all_targets["evals"] = result["targets"]
        saved.append(save_results(f"evals-{mode}", result, args.results_dir))

    if "first_text" in selected:
        from bench import first_text  # imported here: it loads the local model

        ft_config = (
            first_text.FirstTextConfig.quick() if args.quick else first_text.FirstTextConfig()
        )
        result = await first_text.run(config=ft_config)
        all_targets["first_text"] = result["targets"]
        saved.append(save_results(f"first-text-{mode}", result, args.results_dir))

    print("\nTargets:")
    for name, targets in all_targets.items():
        for key, value in targets.items():
            print(f"  {name}.{key}: {value}")
    for path in saved:
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
