"""A tiny run of every benchmark, so they cannot rot. Figures are not checked here (timings
belong in benchmarks, not in tests): only that each benchmark runs and stores what it says."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from bench import inspector, langgraph_ref, persistence
from bench.dataset import Sizes
from bench.generate import generate, table_counts
from bench.pg import database_name, psycopg_dsn

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = persistence.PersistenceConfig(checkpoints=(2, 4, 6), conversations=2, window=2)


async def test_persistence_benchmark_runs_on_memory_and_sqlite() -> None:
    result = await persistence.run(pg_server_url=None, config=TINY, backends=("memory", "sqlite"))
    for backend in ("memory", "sqlite"):
        checkpoints = result["results"][backend]["checkpoints"]
        assert set(checkpoints) == {"2", "4", "6"}
        # Two conversations per checkpoint, each timed over two turns, side by side.
        assert all(c["turn"]["n"] == 2 * 2 for c in checkpoints.values())
        # Each conversation runs to the end of its window: turns 2, 4 and 6.
        assert result["results"][backend]["counts"]["messages"] == 2 * 2 * (2 + 4 + 6)
        # The design note's path, timed the same way.
        design = result["results"][backend]["design_note"]
        assert set(design) == {"2", "4", "6"}
        assert all(c["turn"]["n"] == 2 * 2 and c["save"]["n"] == 2 * 2 for c in design.values())
    assert result["results"]["sqlite"]["journal_mode"] == "wal"
    assert set(result["targets"]) >= {"sqlite_median_under_5ms", "sqlite_flat_within_1_5x"}


async def test_persistence_benchmark_runs_on_postgresql(postgres_url: str) -> None:
    result = await persistence.run(
        pg_server_url=postgres_url, config=TINY, backends=("postgresql",)
    )
    assert result["results"]["postgresql"]["counts"]["turns"] == 2 * (2 + 4 + 6)


async def test_langgraph_reference_runs() -> None:
    config = langgraph_ref.LangGraphConfig(turns=9, size_points=(3, 6, 9), window=3)
    result = await langgraph_ref.run(config=config)
    assert set(result["sizes"]) == {"3", "6", "9"}
    assert result["speedup_late"] > 0 and result["full_turn_speedup_late"] > 0
    assert set(result["sizes"]["9"]) == {"ours", "ours_conversation", "langgraph"}
    assert result["on_disk_bytes"]["langgraph"] > 0
    assert result["on_disk_bytes"]["ours"] > 0


def test_generator_fills_and_then_reuses(postgres_url: str) -> None:
    sizes = Sizes(users=5, sessions=20, messages=400)
    first = generate(postgres_url, sizes, quiet=True)
    assert not first["reused"]
    counts = table_counts(psycopg_dsn(postgres_url))
    assert counts["users"] == 5
    assert counts["sessions"] == counts["states"] == counts["contexts"] == 20
    assert counts["messages"] == 400
    assert counts["turns"] > 0
    second = generate(postgres_url, sizes, quiet=True)
    assert second["reused"]


async def test_inspector_benchmark_runs(postgres_url: str) -> None:
    result = await inspector.run(
        pg_server_url=postgres_url,
        database=database_name(postgres_url),
        sizes=Sizes(users=6, sessions=30, messages=600),
        config=inspector.InspectorConfig(repeats=2, warmup=1, deep_pages=2),
    )
    assert result["counts"]["messages"] == 600
    assert all(stats["n"] == 2 for stats in result["timings_ms"].values())
    explained = [item for items in result["plans"].values() for item in items if "plan" in item]
    assert explained, "no query was explained"
    assert all("Execution Time" in item["plan"] for item in explained)


async def test_tabs_benchmark_runs(postgres_url: str) -> None:
    from bench import tabs
    from bench.generate import generate

    await asyncio.to_thread(generate, postgres_url, Sizes(users=4, sessions=12, messages=400))
    result = await asyncio.to_thread(tabs.run, url=postgres_url, config=tabs.TabsConfig(repeats=2))
    assert result["session_turns"] > 0
    assert {f"open {t} tab" for t in tabs.TABS} <= set(result["actions"])
    assert all(stats["n"] == 2 for stats in result["actions"].values())


async def test_engine_benchmark_runs() -> None:
    from bench import engine

    result = await engine.run(config=engine.EngineConfig.quick())
    stats = result["overhead"]["stats"]
    assert set(stats) == {"5", "30"}
    assert all(s["n"] == 5 for s in stats.values())  # one session per checkpoint, 5 turns each
    [run] = result["local_model"]["runs"]
    assert run["output_tokens"] > 0 and run["ttft_ms"] <= run["total_ms"]
    assert set(result["targets"]) >= {"flatness_ratio"}


async def test_first_text_benchmark_runs() -> None:
    from bench import first_text

    result = await first_text.run(config=first_text.FirstTextConfig.quick())
    [phase] = result["phases"].values()
    assert phase["first"]["n"] == 1 and phase["next"]["n"] == 1
    assert result["startup"][0]["warm_up_s"] >= result["startup"][0]["load_s"]
    assert result["targets"]["worst_first_text_s"] > 0


async def test_trials_benchmark_runs() -> None:
    from bench import trials

    result = await trials.run(config=trials.TrialsConfig.quick())
    assert result["one_run"]["n"] == 1 and result["five_runs"]["n"] == 1
    assert result["targets"]["five_runs_over_one"] > 0


def test_command_line_quick_run_saves_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "langgraph",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    saved = list(tmp_path.glob("langgraph-quick-*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert data["benchmark"] == "langgraph-quick"
    assert "speedup_late" in data


async def test_replay_benchmark_runs() -> None:
    from bench import replay

    result = await replay.run(config=replay.ReplayConfig.quick())
    assert result["turns"] == 20
    assert all(rate > 0 for rate in result["replay_turns_per_s"])
    assert set(result["targets"]) == {"replay_turns_per_s", "replay_at_least_200_per_s"}


async def test_evals_benchmark_runs() -> None:
    from bench import evals

    config = evals.EvalsConfig.quick()
    result = await evals.run(config=config)
    assert set(result["samples_s"]) == {"sqlite"}
    assert {k: len(v) for k, v in result["samples_s"]["sqlite"].items()} == {
        "evals": config.rounds,
        "direct": config.rounds,
    }
    assert result["figures"]["sqlite"]["overhead"] > 0
    assert set(result["targets"]) == {"sqlite_evals_s", "sqlite_under_60s", "sqlite_overhead"}


async def test_evals_benchmark_runs_on_postgresql(postgres_url: str) -> None:
    from bench import evals

    result = await evals.run(config=evals.EvalsConfig.quick(), pg_server_url=postgres_url)
    assert set(result["samples_s"]) == {"sqlite", "postgresql"}
    assert result["figures"]["postgresql"]["turns_per_s"] > 0
