"""What the Admin page asks of the engine besides the database: whether the model answers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from coach.errors import LLMError, LLMLengthError
from coach.llm.base import ChatMessage, LLMClient, LLMRequest

#: The cheapest question that proves the model answers: a few tokens each way.
PING = LLMRequest(
    messages=[ChatMessage(role="user", content="Reply with the single word OK.")],
    max_output_tokens=16,
    temperature=0.0,
)


@dataclass(frozen=True)
class Reachability:
    """The outcome of one cheap call to the model."""

    reachable: bool
    seconds: float
    detail: str


async def check_model(client: LLMClient) -> Reachability:
    """Ask the model one tiny question (the client's own timeout applies). A reply cut off at
    the token limit still proves the model answers."""
    started = time.monotonic()
    try:
        response = await client.complete(PING)
    except LLMLengthError:
        return Reachability(True, time.monotonic() - started, "answered (cut off at 16 tokens)")
    except LLMError as e:
        return Reachability(False, time.monotonic() - started, e.reason)
    said = " ".join(response.text.split())[:60]
    return Reachability(True, time.monotonic() - started, f"answered: {said!r}")
