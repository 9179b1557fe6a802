"""The Evals page's tables, built without Streamlit from eval runs and their reports: the runs,
a run's scenarios and assertions, its conversations, prompt versions × scenarios across runs,
and two runs side by side. Every figure is ``coach.evals.report``'s (``Rate``); this module
only lays them out.

A conversation that could not be played to its end counts as failed, as in the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from coach.enums import JobStatus
from coach.evals.report import Rate, RunReport, ScenarioReport
from coach.persistence.records import EvalConversation, EvalRun

NONE = "—"
#: The row of a scenario's overall figures in a comparison, beside its assertions.
ALL_CHECKS = "(every check)"
DELTA = "B − A (points)"
#: The pastel ends of the pass-rate colours: red at 0, green at 1 (dark text stays readable).
_LOW = (0xF4, 0xB6, 0xB6)
_HIGH = (0xB5, 0xE3, 0xC0)


def share(value: float | None) -> str:
    return NONE if value is None else f"{value:.0%}"


def rate_text(rate: Rate | None) -> str:
    """``80% (5)``: the pass rate and how many conversations it is of."""
    return NONE if rate is None or not rate.n else f"{share(rate.pass_rate)} ({rate.n})"


def colour(rate: float | None) -> str:
    """A CSS background from red (0) to green (1); none for no figure."""
    if rate is None or pd.isna(rate):
        return ""
    r, g, b = (round(low + (high - low) * rate) for low, high in zip(_LOW, _HIGH, strict=True))
    return f"background-color: #{r:02x}{g:02x}{b:02x}"


def points(delta: float | None) -> str:
    """``+12``, ``-5``, ``0``; ``—`` when either side has no figure."""
    return NONE if delta is None or pd.isna(delta) else f"{delta:+.0f}" if delta else "0"


def delta_colour(delta: float | None) -> str:
    if delta is None or pd.isna(delta) or delta == 0:
        return ""
    return colour(1.0 if delta > 0 else 0.0)


def is_failed(c: EvalConversation) -> bool:
    """It failed a check, or could not be played to its end."""
    return c.status is JobStatus.FAILED or c.passed is False


def runs_frame(reports: Sequence[RunReport]) -> pd.DataFrame:
    rows = []
    for report in reports:
        run, overall = report.run, report.overall
        rows.append(
            {
                "name": run.name,
                "status": run.status.value,
                "scenarios": ", ".join(run.scenario_names),
                "runs each": run.repeats,
                "passed": f"{overall.passed} of {overall.n}",
                "pass rate": overall.pass_rate,
                "started": run.created_at,
                "cached": "CACHED" if run.cached else "",
                "by": run.created_by,
                "id": run.id,
            }
        )
    columns = [
        "name",
        "status",
        "scenarios",
        "runs each",
        "passed",
        "pass rate",
        "started",
        "cached",
        "by",
        "id",
    ]
    return pd.DataFrame(rows, columns=columns)


def scenarios_frame(report: RunReport) -> pd.DataFrame:
    """One row per scenario: how often and how reliably it passed, and what it cost."""
    k = report.k
    rows = []
    for s in report.scenarios:
        o = s.overall
        rows.append(
            {
                "scenario": s.scenario,
                "passed": f"{o.passed} of {o.n}",
                "pass rate": o.pass_rate,
                f"pass@{k}": o.pass_at_k,
                f"pass^{k}": o.pass_hat_k,
                "flaky": "flaky" if o.flaky else "",
                "not played to the end": s.failed,
                "playing": s.running,
                "turns": s.turns,
                "tokens in": s.input_tokens,
                "tokens out": s.output_tokens,
                "cost": s.cost.short(),
                "latency p50 (ms)": s.latency_p50_ms,
                "latency p95 (ms)": s.latency_p95_ms,
            }
        )
    return pd.DataFrame(rows)


def checks_frame(scenario: ScenarioReport, k: int) -> pd.DataFrame:
    """One row per assertion (then per rubric criterion), as text: nothing is cut."""
    named = [*scenario.checks.items(), *((f"[rubric] {n}", r) for n, r in scenario.rubric.items())]
    return pd.DataFrame(
        [
            {
                "assertion": name,
                "passed": f"{rate.passed} of {rate.n}",
                "pass rate": share(rate.pass_rate),
                f"pass@{k}": share(rate.pass_at_k),
                f"pass^{k}": share(rate.pass_hat_k),
                "flaky": "flaky" if rate.flaky else "",
            }
            for name, rate in named
        ],
        columns=["assertion", "passed", "pass rate", f"pass@{k}", f"pass^{k}", "flaky"],
    )


def failures(c: EvalConversation) -> list[str]:
    """What went wrong in a conversation: its error, then each failed check with its detail."""
    found = [f"not played to the end: {c.error}"] if c.error else []
    for check in c.checks:
        if not check.get("passed"):
            kind = "[rubric] " if check.get("kind") == "rubric" else ""
            found.append(f"{kind}{check.get('name')}: {check.get('detail')}")
    return found


def conversations_frame(conversations: Sequence[EvalConversation]) -> pd.DataFrame:
    """The conversations, each with a link that opens its session in the inspector."""
    return pd.DataFrame(
        [
            {
                "scenario": c.scenario,
                "repeat": c.repeat,
                "status": c.status.value,
                "passed": NONE if c.passed is None else ("yes" if c.passed else "no"),
                "what failed": " · ".join(failures(c)),
                "turns": c.turns,
                "tokens in": c.input_tokens,
                "tokens out": c.output_tokens,
                "prompt versions": c.prompt_version,
                "inspect": f"inspector?session_id={c.session_id}",
            }
            for c in conversations
        ],
        columns=[
            "scenario",
            "repeat",
            "status",
            "passed",
            "what failed",
            "turns",
            "tokens in",
            "tokens out",
            "prompt versions",
            "inspect",
        ],
    )


def grid(runs: Sequence[EvalRun]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prompt version sets (rows) × scenarios (columns) over the conversations of ``runs``
    that ended: ``80% (5)`` as text, and the pass rates (for the colours). A conversation that
    played no turn used no version and is left out."""
    counts: dict[str, dict[str, list[int]]] = {}
    scenarios: list[str] = []
    for run in runs:
        for c in run.conversations:
            if c.status is JobStatus.RUNNING or not c.prompt_version:
                continue
            if c.scenario not in scenarios:
                scenarios.append(c.scenario)
            n_passed = counts.setdefault(c.prompt_version, {}).setdefault(c.scenario, [0, 0])
            n_passed[0] += 1
            n_passed[1] += c.status is JobStatus.DONE and c.passed is True
    versions = sorted(counts)
    scenarios.sort()
    rates = pd.DataFrame(index=pd.Index(versions, name="prompt versions"), columns=scenarios)
    text = rates.copy()
    for version in versions:
        for scenario in scenarios:
            n, passed = counts[version].get(scenario, [0, 0])
            rate = Rate(n=n, passed=passed, k=1)
            rates.loc[version, scenario] = rate.pass_rate
            text.loc[version, scenario] = rate_text(rate) if n else ""
    return text, rates.astype(float)


def compare_frame(a: RunReport, b: RunReport) -> pd.DataFrame:
    """Each scenario (every check) and assertion of either run: its pass rate in A and B, and
    the difference B − A in percentage points."""
    rows = []
    scenarios_a = {s.scenario: s for s in a.scenarios}
    scenarios_b = {s.scenario: s for s in b.scenarios}
    for name in [*scenarios_a, *(n for n in scenarios_b if n not in scenarios_a)]:
        sa, sb = scenarios_a.get(name), scenarios_b.get(name)
        checks = [*(sa.checks if sa else {}), *(sb.checks if sb else {})]
        rows.append(
            _compared(name, ALL_CHECKS, sa.overall if sa else None, sb.overall if sb else None)
        )
        for check in dict.fromkeys(checks):
            rows.append(
                _compared(
                    name,
                    check,
                    sa.checks.get(check) if sa else None,
                    sb.checks.get(check) if sb else None,
                )
            )
    return pd.DataFrame(rows, columns=["scenario", "assertion", "A", "B", DELTA])


def _compared(scenario: str, check: str, a: Rate | None, b: Rate | None) -> dict[str, object]:
    ra = None if a is None else a.pass_rate
    rb = None if b is None else b.pass_rate
    delta = None if ra is None or rb is None else round((rb - ra) * 100)
    return {
        "scenario": scenario,
        "assertion": check,
        "A": rate_text(a),
        "B": rate_text(b),
        DELTA: delta,
    }


def pairs(a: EvalRun, b: EvalRun) -> dict[tuple[str, int], tuple[str, str]]:
    """The sessions of the same scenario and repeat in both runs (the last played of each,
    after a resume): ``(scenario, repeat) → (session in A, session in B)``."""
    last_a = {(c.scenario, c.repeat): c.session_id for c in a.conversations}
    last_b = {(c.scenario, c.repeat): c.session_id for c in b.conversations}
    return {key: (last_a[key], last_b[key]) for key in last_a if key in last_b}
