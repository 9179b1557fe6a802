"""A scenario's rubric, judged by a model: kept apart from the deterministic checks.

Each criterion is asked separately, with the transcript, for a structured verdict. A verdict
that cannot be had (the judge failed or answered out of form) is a failed criterion saying so,
never a pass.
"""

from __future__ import annotations

from coach.errors import LLMError
from coach.evals.checks import CheckOutcome, Played
from coach.evals.scenario import Scenario
from coach.llm.base import ChatMessage, LLMClient, LLMRequest

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"passed": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["passed", "reason"],
    "additionalProperties": False,
}
JUDGE_PROMPT = (
    "You judge one criterion on a coaching conversation. Read the transcript and decide "
    "whether the coach met the criterion. Answer with a JSON object: passed (true or false) "
    "and reason (one sentence quoting the transcript)."
)


async def judge_rubric(judge: LLMClient, scenario: Scenario, played: Played) -> list[CheckOutcome]:
    """The rubric's criteria, each judged on the conversation's transcript."""
    assert scenario.rubric is not None
    transcript = "\n".join(
        f"Turn {i}:\nclient: {said}\ncoach: {reply or '(no reply: the turn failed)'}"
        for i, (said, reply) in enumerate(zip(played.said, played.replies, strict=True), 1)
    )
    return [
        await _criterion(judge, criterion, transcript) for criterion in scenario.rubric.criteria
    ]


async def _criterion(judge: LLMClient, criterion: str, transcript: str) -> CheckOutcome:
    request = LLMRequest(
        messages=[
            ChatMessage("system", JUDGE_PROMPT),
            ChatMessage("user", f"Criterion: {criterion}\n\nTranscript:\n{transcript}"),
        ],
        response_schema=VERDICT_SCHEMA,
        schema_name="verdict",
        max_output_tokens=200,
    )
    try:
        verdict = (await judge.complete(request)).data or {}
    except LLMError as e:
        return CheckOutcome(criterion, False, f"the judge failed: {e}", kind="rubric")
    passed = verdict.get("passed")
    if not isinstance(passed, bool):
        return CheckOutcome(
            criterion, False, f"no verdict in the judge's answer: {verdict}", kind="rubric"
        )
    return CheckOutcome(criterion, passed, str(verdict.get("reason", "")), kind="rubric")
