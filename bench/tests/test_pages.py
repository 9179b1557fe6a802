"""The page-load benchmark (``python -m bench.pages``) runs end to end, on a small PostgreSQL
database, so it cannot rot. Its figures are not checked here: timings belong in benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_demo_data(database_url: str) -> None:
    """The demo session, through the command line (``python -m coach demo-data``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    command = [sys.executable, "-m", "coach", "--database-url", database_url, "demo-data"]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_page_load_benchmark_runs(postgres_url: str, tmp_path: Path) -> None:
    load_demo_data(postgres_url)
    # In a process of its own: it drives Chromium with Playwright's sync API, like these tests.
    command = [sys.executable, "-m", "bench.pages", "--pg-url", postgres_url]
    command += ["--runs", "1", "--warmup", "0", "--results-dir", str(tmp_path)]
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [saved] = tmp_path.glob("pages-*.json")
    result = json.loads(saved.read_text())
    assert result["counts"]["sessions"] == 1
    assert set(result["pages"]) == {
        "sessions",
        "inspector (biggest session)",
        "inspector (biggest session, Context tab)",
        "inspector (biggest session, Turns tab)",
        "inspector (biggest session, User tab)",
        "inspector (typical session)",
        "coach (biggest session)",
    }
    for page in result["pages"].values():
        assert page["ready_ms"]["n"] == 1 and page["ready_ms"]["median_ms"] > 0
    assert "Page loads in Chromium" in done.stdout
