"""``python -m coach eval`` end to end, in this process: the coach's model is the OpenAI SDK
client against the fake OpenAI-compatible server, the scenarios are scripted-lines files the
test writes. The table and the JSON report give the pass rate, pass@3 and pass^3; the gate
exits 1 naming the scenario under it; --runs and --concurrency are honoured; --resume plays
what an interrupted run is missing."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from coach.__main__ import main
from coach.enums import JobStatus
from coach.evals.runner import CONVERSATION_INTERRUPTED
from coach.persistence import DatabaseType, create_database
from coach.persistence.records import EvalRun
from devtools.fake_openai import PROMPT_TOKENS, FakeOpenAIServer, FakeReply
from tests import processes

#: The coach's reply that moves to brainstorming; the server's default reply does nothing.
BRAINSTORM = FakeReply(
    content=json.dumps(
        {
            "message": "Let us look at who you are at your best.",
            "actions": [
                {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}}
            ],
        }
    )
)

#: Passes whatever the coach does, as long as it keeps to the rules (two turns).
STEADY = """\
client:
  lines:
    - I like drawing.
opening: Hello, I want to find out who I am.
max_turns: 2
assertions:
  - check: replies
    max_questions: 0
  - check: refused_transitions
    at_most: 0
  - check: no_failed_turn
"""
#: Passes only when the coach moves to brainstorming on its first (and only) turn.
BRAINSTORMS = """\
client:
  lines:
    - I like drawing.
opening: Hello, I want to find out who I am.
max_turns: 1
assertions:
  - check: phase_reached
    phase: identity_brainstorming
    by_turn: 1
  - check: no_failed_turn
"""
#: How long the server holds each request in the concurrency test (seconds).
HELD_S = 0.75


@pytest.fixture
def scenarios(tmp_path: Path) -> Path:
    directory = tmp_path / "scenarios"
    directory.mkdir()
    (directory / "steady.yaml").write_text(STEADY, encoding="utf-8")
    (directory / "brainstorms.yaml").write_text(BRAINSTORMS, encoding="utf-8")
    return directory


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'eval.db'}"


@pytest.fixture(autouse=True)
def openai_env(monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAIServer) -> None:
    """The engine's model: the OpenAI SDK client against the fake server."""
    for name in list(os.environ):
        if name.startswith("COACH_") and not name.startswith("COACH_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COACH_LLM_PROVIDER", "openai")
    monkeypatch.setenv("COACH_OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("COACH_OPENAI_API_KEY", "sk-test")


def coach_eval(url: str, *args: str) -> int:
    return main(["--database-url", url, "eval", *args])


async def read_runs(url: str) -> list[EvalRun]:
    """Every stored run with its conversations, oldest first."""
    db = create_database(DatabaseType.SQL, connection_string=url)
    try:
        runs = []
        for listed in reversed(await db.list_eval_runs()):
            run = await db.get_eval_run(listed.id)
            assert run is not None
            runs.append(run)
        return runs
    finally:
        await db.close()


def runs_in(url: str) -> list[EvalRun]:
    return asyncio.run(read_runs(url))


def peak_in_flight(fake: FakeOpenAIServer, answered_after_s: float) -> int:
    """The most requests the server held at once, counting each from its arrival until the
    server could first have answered it (a lower bound of the real overlap)."""
    arrivals = sorted(r.received_at for r in fake.requests)
    return max(
        sum(1 for other in arrivals if start <= other < start + answered_after_s)
        for start in arrivals
    )


def test_the_table_gives_pass_rate_pass_at_3_and_pass_hat_3(
    url: str, scenarios: Path, fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_openai.enqueue(BRAINSTORM)  # one of the three brainstorms conversations passes
    code = coach_eval(url, "--dir", str(scenarios), "--runs", "3", "--concurrency", "1")
    out = capsys.readouterr().out
    assert code == 0, out  # no gate asked for
    header = next(row for row in out.splitlines() if row.startswith("scenario / assertion"))
    assert header.split()[-5:] == ["n", "pass", "@3", "^3", "flaky"]
    rows = {row.split()[0]: row.split()[1:] for row in out.splitlines() if row[:1].isalpha()}
    assert rows["brainstorms"] == ["3", "0.33", "1.00", "0.00", "yes"]
    assert rows["steady"] == ["3", "1.00", "1.00", "1.00"]
    assert "  reaches identity_brainstorming by turn 1" in out
    assert "all scenarios: 4 of 6 conversations passed" in out


def test_the_gate_exits_1_naming_the_scenario_under_it(
    url: str, scenarios: Path, fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_openai.enqueue(BRAINSTORM, BRAINSTORM)  # two of three pass
    gate = ("--dir", str(scenarios), "--runs", "3", "--concurrency", "1", "--min-pass-rate", "1.0")
    assert coach_eval(url, "brainstorms", "steady", *gate) == 1
    err = capsys.readouterr().err
    assert "under the pass rate 100%: brainstorms\n" in err  # and not steady

    assert coach_eval(url, "steady", *gate) == 0
    assert "under the pass rate" not in capsys.readouterr().err
    [gated, passed] = runs_in(url)
    assert [c.passed for c in gated.conversations if c.scenario == "brainstorms"].count(True) == 2
    assert [c.passed for c in passed.conversations] == [True] * 3


def test_the_json_report_holds_the_numbers(
    url: str, scenarios: Path, fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.enqueue(BRAINSTORM)
    out = tmp_path / "report.json"
    args = ("--dir", str(scenarios), "--runs", "3", "--concurrency", "1", "--json", str(out))
    assert coach_eval(url, *args) == 0
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    [run] = runs_in(url)
    assert report["run"]["id"] == run.id and report["k"] == 3
    assert report["overall"] == {
        "n": 6,
        "passed": 4,
        "pass_rate": pytest.approx(4 / 6),
        "pass_at_3": pytest.approx(1.0),  # 1 - C(2,3)/C(6,3): two failures cannot fill three
        "pass_hat_3": pytest.approx(4 / 20),  # C(4,3)/C(6,3)
        "flaky": True,
    }
    by_name = {s["scenario"]: s for s in report["scenarios"]}
    brainstorms, steady = by_name["brainstorms"], by_name["steady"]
    assert (brainstorms["overall"]["passed"], brainstorms["overall"]["pass_hat_3"]) == (1, 0.0)
    assert brainstorms["checks"]["reaches identity_brainstorming by turn 1"]["passed"] == 1
    assert brainstorms["checks"]["no failed turn"]["pass_rate"] == 1.0
    assert steady["overall"]["pass_rate"] == steady["overall"]["pass_hat_3"] == 1.0
    # Every turn asked the server once; it counts PROMPT_TOKENS in per request.
    assert (steady["turns"], brainstorms["turns"]) == (6, 3)
    assert steady["input_tokens"] == 6 * PROMPT_TOKENS
    assert len(fake_openai.requests) == 9
    assert len(report["conversations"]) == 6
    assert {c["model"] for c in report["conversations"]} == {"openai/gpt-5.4-mini"}


def test_runs_and_concurrency_are_honoured(
    url: str, scenarios: Path, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.default = FakeReply(delay=HELD_S)  # each request held long enough to overlap
    args = ("--dir", str(scenarios), "--runs", "2")
    assert coach_eval(url, *args, "--concurrency", "2") == 0
    [run] = runs_in(url)
    assert (run.repeats, run.concurrency) == (2, 2)
    stored = sorted((c.scenario, c.repeat) for c in run.conversations)
    assert stored == [("brainstorms", 1), ("brainstorms", 2), ("steady", 1), ("steady", 2)]
    assert len({c.session_id for c in run.conversations}) == 4
    assert len(fake_openai.requests) == 2 * 2 + 2 * 1  # steady has two turns, brainstorms one
    assert peak_in_flight(fake_openai, HELD_S) == 2

    fake_openai.requests.clear()
    assert coach_eval(url, *args, "--concurrency", "1") == 0
    [_, one_at_a_time] = runs_in(url)
    assert (one_at_a_time.concurrency, len(one_at_a_time.conversations)) == (1, 4)
    assert peak_in_flight(fake_openai, HELD_S) == 1


def test_resume_plays_what_an_interrupted_run_is_missing(
    migrated_sqlite_url: str,
    fake_openai: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = migrated_sqlite_url
    # A process plays conversation 1 of 3 and is killed during conversation 2.
    worker = processes.spawn(
        "tests.engine.eval_worker",
        *("--url", url, "--conversations", "3", "--answered", "1"),
        clean_env=True,
    )
    with processes.running([worker]):
        try:
            line = asyncio.run(processes.read_line(worker, timeout_s=60))
            run_id = json.loads(line)["run"]
        except (TimeoutError, json.JSONDecodeError):
            pytest.fail(
                f"the worker did not store its first conversation:\n{processes.kill(worker)}"
            )
        processes.kill(worker)

    # Conversations 2 and 3, one at a time (the run's concurrency): four turns each, of which
    # the first moves to brainstorming.
    fake_openai.enqueue(BRAINSTORM, *[fake_openai.default] * 3, BRAINSTORM)
    out = tmp_path / "resumed.json"
    assert coach_eval(url, "--resume", run_id, "--json", str(out)) == 0
    err = capsys.readouterr().err
    assert f"eval run {run_id} (crash) was interrupted; --resume {run_id} plays the rest" in err
    assert len(fake_openai.requests) == 8

    [run] = runs_in(url)
    assert (run.id, run.status) == (run_id, JobStatus.DONE)
    played = [(c.repeat, c.status, c.passed, c.model) for c in run.conversations]
    assert played == [
        (1, JobStatus.DONE, True, "scripted/scripted"),  # kept from before the crash
        (2, JobStatus.FAILED, None, "scripted/scripted"),
        (2, JobStatus.DONE, True, "openai/gpt-5.4-mini"),
        (3, JobStatus.DONE, True, "openai/gpt-5.4-mini"),
    ]
    assert run.conversations[1].error == CONVERSATION_INTERRUPTED
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["overall"]["n"], report["overall"]["passed"]) == (4, 3)


def test_an_out_of_range_gate_is_refused(
    url: str, scenarios: Path, fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for rate in ("1.5", "-0.1"):
        assert coach_eval(url, "--dir", str(scenarios), "--min-pass-rate", rate) == 1
        err = capsys.readouterr().err
        assert f"error: --min-pass-rate is a share from 0 to 1, not {float(rate)}" in err
    assert runs_in(url) == []
    assert fake_openai.requests == []
