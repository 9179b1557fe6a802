"""The page-load benchmark (``python -m bench.pages``) runs end to end, on a small PostgreSQL
database, so it cannot rot. Its figures are not checked here: timings belong in benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coach.demo import play_demo
from tests.browser.helpers import run_on_database

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_page_load_benchmark_runs(postgres_url: str, tmp_path: Path) -> None:
    run_on_database(postgres_url, play_demo)
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
