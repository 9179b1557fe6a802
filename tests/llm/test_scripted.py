"""ScriptedLLMClient: queued, function-driven and failing replies, streamed in chunks."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from coach.errors import LLMError, LLMRateLimitError, LLMResponseError
from coach.llm import ChatMessage, LLMRequest, LLMResponse, TextDelta
from coach.llm.scripted import ScriptedLLMClient

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "actions": {"type": "array"}},
}
REPLY = {
    "message": "Welcome! Let's explore who you want to become, one step at a time.",
    "actions": [{"type": "transition_state", "params": {"to_state": "identity_brainstorming"}}],
}


def request(schema: dict[str, Any] | None = SCHEMA, text: str = "Hello") -> LLMRequest:
    return LLMRequest(messages=[ChatMessage("user", text)], response_schema=schema)


async def events(client: ScriptedLLMClient, req: LLMRequest) -> list[TextDelta | LLMResponse]:
    return [event async for event in client.stream(req)]


async def test_a_queued_dict_is_streamed_in_chunks_then_returned() -> None:
    client = ScriptedLLMClient([REPLY])

    *deltas, final = await events(client, request())

    assert len(deltas) >= 5
    assert all(isinstance(d, TextDelta) for d in deltas)
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == REPLY["message"]
    assert isinstance(final, LLMResponse)
    assert (final.text, final.data, final.raw) == (REPLY["message"], REPLY, json.dumps(REPLY))
    assert (final.provider, final.model) == ("scripted", "scripted")
    assert final.usage.input_tokens == 1
    assert final.usage.output_tokens == client.count_tokens(final.raw)
    assert final.ttft_ms is not None and final.ttft_ms <= final.latency_ms


async def test_replies_are_used_in_order_and_requests_recorded() -> None:
    client = ScriptedLLMClient()
    client.enqueue({"message": "one"}, {"message": "two"})

    first = await client.complete(request(text="a"))
    second = await client.complete(request(text="b"))

    assert (first.text, second.text) == ("one", "two")
    assert [r.messages[0].content for r in client.requests] == ["a", "b"]
    assert client.pending == 0


async def test_an_empty_queue_is_a_clear_error() -> None:
    client = ScriptedLLMClient([{"message": "only one"}])
    await client.complete(request())

    with pytest.raises(LLMError, match="no reply left: queue one with enqueue"):
        await client.complete(request())


async def test_a_function_answers_every_request() -> None:
    client = ScriptedLLMClient(function=lambda req: {"message": f"echo {req.messages[-1].content}"})

    replies = [await client.complete(request(text=t)) for t in ("x", "y")]

    assert [r.text for r in replies] == ["echo x", "echo y"]


async def test_queued_replies_come_before_the_function() -> None:
    async def later(req: LLMRequest) -> dict[str, Any]:
        return {"message": "from function"}

    client = ScriptedLLMClient([{"message": "queued"}], function=later)

    assert (await client.complete(request())).text == "queued"
    assert (await client.complete(request())).text == "from function"


async def test_a_queued_exception_is_raised() -> None:
    client = ScriptedLLMClient([LLMRateLimitError("slow down"), {"message": "ok"}])

    with pytest.raises(LLMRateLimitError, match="slow down"):
        await client.complete(request())
    assert (await client.complete(request())).text == "ok"


async def test_a_malformed_string_fails_like_a_real_model() -> None:
    client = ScriptedLLMClient(['{"message": "cut'])

    with pytest.raises(LLMResponseError, match="not valid JSON"):
        await client.complete(request())


async def test_a_string_for_a_plain_request_is_plain_text() -> None:
    client = ScriptedLLMClient(["A summary of the session so far."])

    *deltas, final = await events(client, request(schema=None))

    assert len(deltas) > 1
    assert isinstance(final, LLMResponse)
    assert (final.text, final.data) == ("A summary of the session so far.", None)


async def test_a_string_for_a_structured_request_is_parsed() -> None:
    client = ScriptedLLMClient(["```json\n" + json.dumps(REPLY) + "\n```"])
    assert (await client.complete(request())).data == REPLY


async def test_chunk_delay_paces_the_stream_without_blocking_the_loop() -> None:
    client = ScriptedLLMClient([REPLY], chunk_delay=0.01)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await client.complete(request())
    elapsed = time.perf_counter() - started
    task.cancel()

    assert elapsed >= 0.05
    assert ticks >= 5
