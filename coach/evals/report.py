"""An eval run's report: per scenario and per assertion, how often it passed and how reliably.

For ``n`` conversations of which ``c`` passed:

- **pass rate** ``c / n``;
- **pass@k** the chance that at least one of ``k`` conversations drawn from the ``n`` passes:
  ``1 - C(n-c, k) / C(n, k)`` (the unbiased estimator of Chen et al., 2021);
- **pass^k** the chance that all ``k`` drawn pass: ``C(c, k) / C(n, k)`` (τ-bench, 2024), the
  one that tells whether a client can count on the coach;
- **flaky**: it passed in some conversations and failed in others.

Both are ``None`` when ``n < k``. A conversation that could not be played to its end counts as
failed for the scenario, and is left out of each assertion's figures (it was not judged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coach.costs import Price, Priced, total_cost
from coach.enums import JobStatus
from coach.persistence.records import EvalConversation, EvalRun

#: ``k`` of pass@k and pass^k unless asked otherwise.
DEFAULT_K = 3


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """The chance that at least one of ``k`` of the ``n`` tries (``c`` passed) passes."""
    _check(n, c, k)
    if n < k:
        return None
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float | None:
    """The chance that all ``k`` of the ``n`` tries (``c`` passed) pass (pass^k)."""
    _check(n, c, k)
    if n < k:
        return None
    return math.comb(c, k) / math.comb(n, k)


def _check(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n and k >= 1):
        raise ValueError(f"need 0 <= passed <= tries and k >= 1, not n={n}, c={c}, k={k}")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Rate:
    """How one thing (a scenario, or one of its assertions) did over ``n`` conversations."""

    n: int
    passed: int
    k: int

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.n if self.n else None

    @property
    def pass_at_k(self) -> float | None:
        return pass_at_k(self.n, self.passed, self.k)

    @property
    def pass_hat_k(self) -> float | None:
        return pass_hat_k(self.n, self.passed, self.k)

    @property
    def flaky(self) -> bool:
        return 0 < self.passed < self.n


@dataclass(frozen=True)
class ScenarioReport:
    scenario: str
    #: Every deterministic check of a conversation passed.
    overall: Rate
    #: Per assertion (and rubric criterion), in the scenario's order.
    checks: dict[str, Rate]
    rubric: dict[str, Rate]
    conversations: int
    #: Played to the end / could not be / still playing.
    done: int
    failed: int
    running: int
    turns: int
    input_tokens: int
    output_tokens: int
    cost: Priced
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunReport:
    run: EvalRun
    k: int
    scenarios: list[ScenarioReport]

    @property
    def overall(self) -> Rate:
        """Every conversation of the run, all scenarios together."""
        return Rate(
            n=sum(s.overall.n for s in self.scenarios),
            passed=sum(s.overall.passed for s in self.scenarios),
            k=self.k,
        )

    @property
    def cost(self) -> Priced:
        total = Priced()
        for s in self.scenarios:
            total.usd += s.cost.usd
            total.unpriced += [m for m in s.cost.unpriced if m not in total.unpriced]
        return total

    def below(self, min_pass_rate: float) -> list[str]:
        """The scenarios whose pass rate is under ``min_pass_rate`` (none played counts)."""
        return [
            s.scenario
            for s in self.scenarios
            if s.overall.pass_rate is None or s.overall.pass_rate < min_pass_rate
        ]


def build_report(
    run: EvalRun, *, prices: Mapping[str, Price] | None = None, k: int = DEFAULT_K
) -> RunReport:
    """The report of a run read with its conversations (``get_eval_run``)."""
    by_scenario: dict[str, list[EvalConversation]] = {n: [] for n in run.scenario_names}
    for c in run.conversations:
        by_scenario.setdefault(c.scenario, []).append(c)
    return RunReport(
        run=run,
        k=k,
        scenarios=[_scenario(name, convs, prices or {}, k) for name, convs in by_scenario.items()],
    )


def _scenario(
    name: str, conversations: list[EvalConversation], prices: Mapping[str, Price], k: int
) -> ScenarioReport:
    done = [c for c in conversations if c.status is JobStatus.DONE]
    failed = [c for c in conversations if c.status is JobStatus.FAILED]
    ended = done + failed
    checks: dict[str, list[bool]] = {}
    rubric: dict[str, list[bool]] = {}
    for c in done:
        for outcome in c.checks:
            target = rubric if outcome.get("kind") == "rubric" else checks
            target.setdefault(str(outcome["name"]), []).append(bool(outcome["passed"]))
    latencies = [ms for c in ended for ms in c.latencies_ms]
    return ScenarioReport(
        scenario=name,
        overall=Rate(n=len(ended), passed=sum(1 for c in done if c.passed), k=k),
        checks={n: Rate(len(v), sum(v), k) for n, v in checks.items()},
        rubric={n: Rate(len(v), sum(v), k) for n, v in rubric.items()},
        conversations=len(conversations),
        done=len(done),
        failed=len(failed),
        running=len(conversations) - len(ended),
        turns=sum(c.turns for c in conversations),
        input_tokens=sum(c.input_tokens for c in conversations),
        output_tokens=sum(c.output_tokens for c in conversations),
        cost=total_cost(prices, [_cost_key(c) for c in conversations if c.model]),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        errors=[f"repeat {c.repeat}: {c.error}" for c in failed if c.error],
    )


def _cost_key(c: EvalConversation) -> tuple[str, str, int | None, int | None]:
    provider, _, model = c.model.partition("/")
    return provider, model, c.input_tokens, c.output_tokens
