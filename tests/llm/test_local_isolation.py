"""A request to the bundled local model does not depend on what the client ran before it.

llama-cpp-python keeps the previous request's tokens in its KV cache and reuses the common
prefix with the next prompt; the client also stops streams in the middle (a page went away, a
turn was cancelled) and serves every session and user of the process. Whatever ran before, a
request's output must be what a freshly loaded model gives for it, or the inspector (which
shows exactly what the model was sent) could not explain a reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from coach.errors import LLMLengthError
from coach.llm import ChatMessage, LLMRequest, LLMResponse, TextDelta
from coach.llm.local import LocalLLMClient

pytestmark = pytest.mark.slow  # a few short generations: 10-40 s on two shared cores

SEED = 11
SYSTEM = "You are a warm identity coach. Reply in JSON with a short message and actions."
SCHEMA = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "actions": {"type": "array"}},
    "required": ["message", "actions"],
}
#: The earlier session of another client: its words must never reach the next request.
EARLIER = [
    ChatMessage("system", SYSTEM),
    ChatMessage("user", "I'm Noor, a nurse. What kind of day do I want?"),
    ChatMessage("assistant", "What does a good day on the ward look like for you?"),
    ChatMessage("user", "A calm one on the ward, and at home I love cooking for friends."),
]
#: A new session of a different client, sharing the system prompt (so the prefix is reused).
LATER = [
    ChatMessage("system", SYSTEM),
    ChatMessage("user", "Hello, I'm Sam. I want to get fit this year."),
]


def request(messages: list[ChatMessage], *, temperature: float | None) -> LLMRequest:
    return LLMRequest(
        messages=messages,
        response_schema=SCHEMA,
        max_output_tokens=24,
        temperature=temperature,
    )


async def raw_output(client: LocalLLMClient, req: LLMRequest) -> str:
    """The model's raw output (cut at the token limit, which these short requests reach)."""
    try:
        response = await client.complete(req)
    except LLMLengthError as e:
        return e.raw or ""
    assert isinstance(response, LLMResponse)
    return response.raw


async def stop_mid_stream(client: LocalLLMClient, req: LLMRequest) -> None:
    """Read the reply until its second piece of text, then stop listening."""
    pieces = 0
    stream = client.stream(req)
    try:
        async for event in stream:
            if isinstance(event, TextDelta):
                pieces += 1
                if pieces == 2:
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    assert pieces == 2, "the reply ended before it could be stopped"


async def fresh_output(req: LLMRequest) -> str:
    client = LocalLLMClient(n_ctx=1024, seed=SEED)
    try:
        return await raw_output(client, req)
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def fresh() -> Iterator[dict[float | None, str]]:
    """``LATER``'s output from a freshly loaded model, by temperature."""
    yield {t: asyncio.run(fresh_output(request(LATER, temperature=t))) for t in (0.0, None)}


@pytest.mark.parametrize("temperature", [0.0, None], ids=["temperature-0", "default-sampling"])
async def test_a_request_after_another_clients_session_and_a_stopped_stream_is_unchanged(
    fresh: dict[float | None, str], temperature: float | None
) -> None:
    client = LocalLLMClient(n_ctx=1024, seed=SEED)
    try:
        await raw_output(client, request(EARLIER, temperature=temperature))
        await stop_mid_stream(client, request(EARLIER, temperature=temperature))
        after_stop = await raw_output(client, request(LATER, temperature=temperature))
        again = await raw_output(client, request(LATER, temperature=temperature))
    finally:
        await client.aclose()
    assert fresh[temperature], "the fresh model gave no output"
    assert "cooking" not in after_stop
    assert after_stop == fresh[temperature]
    assert again == fresh[temperature]  # the same prompt twice: the fully cached prompt path
