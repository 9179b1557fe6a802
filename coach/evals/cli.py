"""``python -m coach eval``: play scenarios and gate a prompt change on their pass rates.

It prints a table per scenario and assertion (pass rate, pass@k, pass^k, flaky) with turns,
tokens, cost and latency, and exits with status 1 when a scenario's pass rate is under
``--min-pass-rate`` (or a conversation could not be played), so a CI job can gate a change.
Ctrl-C cancels the run; the conversations that ended are kept and ``--resume`` plays the rest.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from coach.costs import Price
from coach.enums import JobStatus
from coach.errors import CoachError, InputError
from coach.evals.report import DEFAULT_K, Rate, RunReport, build_report
from coach.evals.scenario import Scenario, load_scenarios
from coach.persistence.records import EvalRun
from coach.prompts.library import PromptPin
from coach.service import CoachService
from coach.sessions.cli import follow_in_terminal


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("eval", help="play scenarios with simulated clients and report")
    run.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="names or files (default: all)"
    )
    run.add_argument("--runs", type=int, default=1, help="conversations per scenario (default 1)")
    run.add_argument("--label", help="the prompt versions with this label, for every scenario")
    run.add_argument(
        "--version", action="append", default=[], metavar="PART=N", help="version N of PART"
    )
    run.add_argument("--concurrency", type=int, default=8, help="conversations at once (8)")
    run.add_argument("--model", help="the coach's model (OpenAI-compatible servers only)")
    run.add_argument("--client-model", help="the simulated clients' model")
    run.add_argument("--name", help="a name for the run")
    run.add_argument("--k", type=int, default=DEFAULT_K, help=f"k of pass@k, pass^k ({DEFAULT_K})")
    run.add_argument(
        "--min-pass-rate",
        type=float,
        default=None,
        metavar="P",
        help="exit 1 when a scenario passes in fewer than P (0-1) of its conversations",
    )
    run.add_argument("--json", type=Path, metavar="OUT", help="also write the report as JSON")
    run.add_argument(
        "--cache",
        action="store_true",
        help="answer identical model requests once (repeats are then not independent)",
    )
    run.add_argument("--resume", metavar="RUN_ID", help="play what an ended run is missing")
    run.add_argument("--dir", type=Path, help="the scenarios' folder (COACH_SCENARIOS_DIR)")


def chosen_scenarios(args: argparse.Namespace, scenarios_dir: Path) -> list[Scenario]:
    """The scenarios to play (none for ``--resume``), read before any model is loaded, with
    the problems of the others on stderr. Raises ``CoachError`` with what to fix."""
    if args.min_pass_rate is not None and not 0 <= args.min_pass_rate <= 1:
        raise InputError(f"--min-pass-rate is a share from 0 to 1, not {args.min_pass_rate}")
    if args.resume:
        return []
    scenarios, problems = load_scenarios(args.dir or scenarios_dir, args.scenarios or None)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    if problems and args.scenarios:
        raise InputError("a scenario named cannot be used; fix it (above) and run again")
    if not scenarios:
        raise InputError(f"no usable scenario in {args.dir or scenarios_dir}")
    return scenarios


async def run(
    args: argparse.Namespace,
    service: CoachService,
    scenarios: list[Scenario],
    *,
    prices: Mapping[str, Price] | None = None,
) -> int:
    """Run ``eval`` on the ``chosen_scenarios``. Raises ``CoachError`` with what to fix."""
    jobs = service.evals
    if args.resume:
        started = await jobs.resume(args.resume, by=getpass.getuser())
    else:
        started = await jobs.start(
            scenarios,
            repeats=args.runs,
            concurrency=args.concurrency,
            name=args.name or "",
            pin=PromptPin.parse(args.label, ",".join(args.version)),
            model=args.model,
            client_model=args.client_model,
            cached=args.cache,
            by=getpass.getuser(),
        )
    ended = await _follow(service, started)
    report = build_report(ended, prices=prices, k=args.k)
    print(report_text(report))
    if args.json:
        args.json.write_text(json.dumps(report_json(report), indent=2), encoding="utf-8")
        print(f"report written to {args.json}")
    if ended.status is not JobStatus.DONE:
        return 1
    if args.min_pass_rate is not None:
        below = report.below(args.min_pass_rate)
        if below:
            print(
                f"under the pass rate {args.min_pass_rate:.0%}: {', '.join(below)}",
                file=sys.stderr,
            )
            return 1
    return 0


async def _follow(service: CoachService, started: EvalRun) -> EvalRun:
    """Show the run's progress until it ends; Ctrl-C cancels it."""
    jobs = service.evals
    print(f"eval run {started.id}: {started.name}", file=sys.stderr)
    await follow_in_terminal(jobs.handle(started.id), "conversations", jobs.cancel)
    ended = await service.db.get_eval_run(started.id)
    if ended is None:
        raise CoachError(f"eval run {started.id} was deleted while it ran")
    return ended


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def report_text(report: RunReport) -> str:
    """The report as a table for a terminal."""
    run = report.run
    k = report.k
    lines = [
        f"run {run.id} · {run.name} · {run.status.value}"
        + (f" ({run.error})" if run.error else ""),
        f"coach {run.model or 'per scenario'} · clients {run.client_model or 'per scenario'} · "
        f"{run.repeats} run(s) per scenario"
        + (
            " · CACHED: identical requests answered once, repeats not independent"
            if run.cached
            else ""
        ),
        "",
        f"{'scenario / assertion':<58} {'n':>3} {'pass':>5} {f'@{k}':>5} {f'^{k}':>5}  flaky",
    ]
    for s in report.scenarios:
        o = s.overall
        lines.append(
            f"{s.scenario:<58} {o.n:>3} {_share(o.pass_rate):>5} {_share(o.pass_at_k):>5} "
            f"{_share(o.pass_hat_k):>5}  {'yes' if o.flaky else ''}"
        )
        for name, rate in [*s.checks.items(), *((f"[rubric] {n}", r) for n, r in s.rubric.items())]:
            lines.append(
                f"  {name[:56]:<56} {rate.n:>3} {_share(rate.pass_rate):>5} "
                f"{_share(rate.pass_at_k):>5} {_share(rate.pass_hat_k):>5}  "
                f"{'yes' if rate.flaky else ''}"
            )
        p50 = "—" if s.latency_p50_ms is None else f"{s.latency_p50_ms:,.0f}"
        p95 = "—" if s.latency_p95_ms is None else f"{s.latency_p95_ms:,.0f}"
        lines.append(
            f"  turns {s.turns} · tokens {s.input_tokens:,} in / {s.output_tokens:,} out · "
            f"cost {s.cost.describe() if s.cost.usd or s.cost.unpriced else '$0'} · "
            f"latency p50 {p50} ms, p95 {p95} ms"
        )
        if s.failed:
            lines.append(f"  {s.failed} conversation(s) could not be played to the end:")
            lines += [f"    {e}" for e in s.errors]
    overall = report.overall
    lines += ["", f"all scenarios: {overall.passed} of {overall.n} conversations passed"]
    return "\n".join(lines)


def report_json(report: RunReport) -> dict[str, object]:
    """The report as JSON, with every conversation's checks."""
    run = report.run

    def rate(r: Rate) -> dict[str, object]:
        return {
            "n": r.n,
            "passed": r.passed,
            "pass_rate": r.pass_rate,
            f"pass_at_{report.k}": r.pass_at_k,
            f"pass_hat_{report.k}": r.pass_hat_k,
            "flaky": r.flaky,
        }

    return {
        "run": run.model_dump(mode="json", exclude={"conversations", "scenarios"}),
        "k": report.k,
        "overall": rate(report.overall),
        "scenarios": [
            {
                "scenario": s.scenario,
                "overall": rate(s.overall),
                "checks": {n: rate(r) for n, r in s.checks.items()},
                "rubric": {n: rate(r) for n, r in s.rubric.items()},
                "turns": s.turns,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cost_usd": s.cost.usd if s.cost.known else None,
                "latency_p50_ms": s.latency_p50_ms,
                "latency_p95_ms": s.latency_p95_ms,
                "failed": s.failed,
                "errors": s.errors,
            }
            for s in report.scenarios
        ],
        "conversations": [c.model_dump(mode="json") for c in run.conversations],
    }
