"""OpenAIClient against a loopback OpenAI-compatible server: the real SDK code path, no mocks.

One file (past 400 lines) for one client's behaviour against one fake server, in four sections
that share its helpers: streaming, structured output modes, faults, lifecycle."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from coach.errors import (
    ConfigurationError,
    LLMAuthenticationError,
    LLMConnectionError,
    LLMError,
    LLMLengthError,
    LLMRateLimitError,
    LLMRefusalError,
    LLMResponseError,
    LLMTimeoutError,
)
from coach.llm import ChatMessage, LLMRequest, LLMResponse, TextDelta
from coach.llm.openai_client import OpenAIClient, StructuredMode
from coach.llm.parsing import schema_instructions
from devtools.fake_openai import FakeOpenAIServer, FakeReply

API_KEY = "sk-test-SECRET-0123456789"

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
            },
        },
    },
    "required": ["message", "actions"],
    "additionalProperties": False,
}
REPLY = {
    "message": 'Welcome, Ada! Tell me about a "typical" day.\nWhat do you enjoy?',
    "actions": [{"type": "save_user_info", "params": {"key": "name", "value": "Ada"}}],
}


def request(schema: dict[str, Any] | None = SCHEMA, **kwargs: Any) -> LLMRequest:
    return LLMRequest(
        messages=[
            ChatMessage("system", "You are an identity coach."),
            ChatMessage("user", "Hi, I'm Ada."),
        ],
        response_schema=schema,
        **kwargs,
    )


def client_for(server_url: str, **kwargs: Any) -> OpenAIClient:
    options: dict[str, Any] = {"api_key": API_KEY, "max_retries": 0, "timeout": 2.0}
    options.update(kwargs)
    return OpenAIClient(base_url=server_url, model="gpt-5.4-mini", **options)


async def collect(client: OpenAIClient, req: LLMRequest) -> tuple[list[TextDelta], LLMResponse]:
    events = [event async for event in client.stream(req)]
    *deltas, final = events
    assert isinstance(final, LLMResponse)
    assert all(isinstance(d, TextDelta) for d in deltas)
    return [d for d in deltas if isinstance(d, TextDelta)], final


async def failure(client: OpenAIClient, req: LLMRequest | None = None) -> LLMError:
    with pytest.raises(LLMError) as caught:
        await client.complete(req or request())
    error = caught.value
    assert API_KEY not in str(error)
    assert "SECRET" not in error.reason
    return error


# -- streaming --------------------------------------------------------------------------------


async def test_stream_yields_message_pieces_then_the_response(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(FakeReply(content=json.dumps(REPLY), chunk_chars=4))
    client = client_for(fake_openai.base_url)

    deltas, final = await collect(client, request())

    assert len(deltas) > 3
    assert "".join(d.text for d in deltas) == REPLY["message"]
    assert not any("{" in d.text or '"message"' in d.text for d in deltas)
    assert final.text == REPLY["message"]
    assert final.data == REPLY
    assert final.raw == json.dumps(REPLY)
    assert (final.provider, final.model) == ("openai", "gpt-5.4-mini")
    await client.aclose()


async def test_usage_and_timings_are_recorded(fake_openai: FakeOpenAIServer) -> None:
    client = client_for(fake_openai.base_url)

    final = await client.complete(request())

    assert final.usage.input_tokens == 42
    assert final.usage.output_tokens is not None and final.usage.output_tokens > 0
    assert final.ttft_ms is not None and 0 < final.ttft_ms <= final.latency_ms
    assert fake_openai.last_body["stream"] is True
    assert fake_openai.last_body["stream_options"] == {"include_usage": True}


async def test_usage_is_optional(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(usage=False))

    final = await client_for(fake_openai.base_url).complete(request())

    assert (final.usage.input_tokens, final.usage.output_tokens) == (None, None)
    assert final.data is not None


async def test_plain_text_request_streams_the_text(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(content="A short summary of the session."))

    deltas, final = await collect(client_for(fake_openai.base_url), request(schema=None))

    assert "".join(d.text for d in deltas) == "A short summary of the session."
    assert (final.text, final.data) == ("A short summary of the session.", None)
    assert "response_format" not in fake_openai.last_body
    assert len(fake_openai.last_body["messages"]) == 2


async def test_non_streaming_mode_reads_the_whole_completion(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(FakeReply(content=json.dumps(REPLY)))

    deltas, final = await collect(client_for(fake_openai.base_url, stream=False), request())

    assert "".join(d.text for d in deltas) == REPLY["message"]
    assert final.data == REPLY
    assert final.usage.input_tokens == 42
    assert not fake_openai.last_body.get("stream")


async def test_output_limit_and_temperature_are_sent(fake_openai: FakeOpenAIServer) -> None:
    await client_for(fake_openai.base_url).complete(request(max_output_tokens=300, temperature=0.4))
    assert fake_openai.last_body["max_completion_tokens"] == 300
    assert fake_openai.last_body["temperature"] == 0.4
    assert "max_tokens" not in fake_openai.last_body

    await client_for(fake_openai.base_url, max_tokens_param="max_tokens").complete(
        request(max_output_tokens=300)
    )
    assert fake_openai.last_body["max_tokens"] == 300
    assert "max_completion_tokens" not in fake_openai.last_body
    assert "temperature" not in fake_openai.last_body


# -- structured output modes ------------------------------------------------------------------


async def test_json_schema_mode_sends_a_strict_schema(fake_openai: FakeOpenAIServer) -> None:
    final = await client_for(fake_openai.base_url).complete(request(schema_name="intro_reply"))

    body = fake_openai.last_body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "intro_reply", "schema": SCHEMA, "strict": True},
    }
    assert body["messages"] == [
        {"role": "system", "content": "You are an identity coach."},
        {"role": "user", "content": "Hi, I'm Ada."},
    ]
    assert body["model"] == "gpt-5.4-mini"
    assert final.data is not None and isinstance(final.data["message"], str)


@pytest.mark.parametrize("schema_key", [False, True])
async def test_json_object_mode_describes_the_schema(
    fake_openai: FakeOpenAIServer, schema_key: bool
) -> None:
    client = client_for(
        fake_openai.base_url, structured_mode="json_object", json_object_schema=schema_key
    )

    final = await client.complete(request())

    body = fake_openai.last_body
    expected_format: dict[str, Any] = {"type": "json_object"}
    if schema_key:
        expected_format["schema"] = SCHEMA
    assert body["response_format"] == expected_format
    assert body["messages"][0]["content"] == "You are an identity coach."
    assert body["messages"][1] == {
        "role": "system",
        "content": schema_instructions(SCHEMA, "coach_reply"),
    }
    assert "JSON" in body["messages"][1]["content"]
    assert json.dumps(SCHEMA, separators=(",", ":")) in body["messages"][1]["content"]
    assert body["messages"][2]["role"] == "user"
    assert final.data is not None


async def test_prompted_mode_sends_no_response_format_and_tolerates_prose(
    fake_openai: FakeOpenAIServer,
) -> None:
    content = "Sure! Here is my reply:\n```json\n" + json.dumps(REPLY, indent=2) + "\n```\nBye."
    fake_openai.enqueue(FakeReply(content=content, chunk_chars=6))

    deltas, final = await collect(
        client_for(fake_openai.base_url, structured_mode="prompted"), request()
    )

    body = fake_openai.last_body
    assert "response_format" not in body
    assert body["messages"][1]["content"] == schema_instructions(SCHEMA, "coach_reply")
    assert final.data == REPLY
    assert final.raw == content
    assert "".join(d.text for d in deltas) == REPLY["message"]


async def test_llama_cpp_server_takes_json_object_with_schema(
    fake_llama_server: FakeOpenAIServer,
) -> None:
    client = client_for(
        fake_llama_server.base_url, structured_mode="json_object", json_object_schema=True
    )

    final = await client.complete(request())

    assert fake_llama_server.last_body["response_format"]["schema"] == SCHEMA
    assert final.data is not None


async def test_json_schema_rejected_by_a_server_says_which_mode_to_use(
    fake_llama_server: FakeOpenAIServer,
) -> None:
    error = await failure(client_for(fake_llama_server.base_url))

    assert type(error) is LLMError
    assert "HTTP 422" in error.reason
    assert "'json_object' or 'prompted'" in error.reason
    assert not error.retryable


# -- faults -----------------------------------------------------------------------------------


async def test_slow_server_times_out(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(delay=3.0))

    error = await failure(client_for(fake_openai.base_url, timeout=0.3))

    assert isinstance(error, LLMTimeoutError)
    assert "did not answer within 0.3 s" in error.reason
    assert "raise COACH_LLM_TIMEOUT_S for slow models" in error.reason
    assert isinstance(error.__cause__, Exception)


async def test_stall_in_the_middle_of_a_stream_times_out(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(stall_after=3, stall=3.0))
    client = client_for(fake_openai.base_url, timeout=0.3)

    seen: list[TextDelta] = []
    with pytest.raises(LLMTimeoutError):
        async for event in client.stream(request()):
            if isinstance(event, TextDelta):
                seen.append(event)


async def test_rate_limit(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply.error(429, "Rate limit reached for requests"))

    error = await failure(client_for(fake_openai.base_url))

    assert isinstance(error, LLMRateLimitError)
    assert "HTTP 429" in error.reason and "Rate limit reached for requests" in error.reason
    assert error.retryable


async def test_refused_api_key_names_the_setting_and_hides_the_key(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(FakeReply.error(401, "Incorrect API key provided: {api_key}."))

    error = await failure(client_for(fake_openai.base_url))

    assert isinstance(error, LLMAuthenticationError)
    assert "API key was refused" in error.reason
    assert "COACH_OPENAI_API_KEY" in error.reason
    assert not error.retryable
    assert fake_openai.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


async def test_server_error_carries_status_and_message_without_the_key(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(FakeReply.error(500, "The server had an error (key {api_key})"))

    error = await failure(client_for(fake_openai.base_url))

    assert type(error) is LLMError
    assert "HTTP 500" in error.reason
    assert "The server had an error" in error.reason
    assert error.retryable


async def test_unknown_model_hints_at_the_model_name(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply.error(404, "The model `gpt-nope` does not exist"))

    error = await failure(client_for(fake_openai.base_url))

    assert "HTTP 404" in error.reason and "check COACH_OPENAI_MODEL (now" in error.reason
    assert not error.retryable


async def test_connection_refused(closed_port_url: str) -> None:
    error = await failure(client_for(closed_port_url))

    assert isinstance(error, LLMConnectionError)
    assert "could not connect to the server at http://127.0.0.1:" in error.reason
    assert "check COACH_OPENAI_BASE_URL" in error.reason


async def test_malformed_json_is_a_response_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(content='{"message": "Hello", "actions": ['))

    error = await failure(client_for(fake_openai.base_url))

    assert isinstance(error, LLMResponseError)
    assert "not valid JSON" in error.reason
    assert error.raw == '{"message": "Hello", "actions": ['  # kept for the turn log


async def test_json_that_is_not_an_object_is_a_response_error(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(FakeReply(content='["Hello"]'))

    error = await failure(client_for(fake_openai.base_url))

    assert isinstance(error, LLMResponseError)
    assert "not an object" in error.reason


@pytest.mark.parametrize("stream", [True, False])
async def test_refusal(fake_openai: FakeOpenAIServer, stream: bool) -> None:
    fake_openai.enqueue(FakeReply(refusal="I can't help with that request."))

    error = await failure(client_for(fake_openai.base_url, stream=stream))

    assert isinstance(error, LLMRefusalError)
    assert "refused to answer: I can't help with that request." in error.reason


async def test_content_filter_is_a_refusal(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply(finish_reason="content_filter", content='{"message": "'))

    error = await failure(client_for(fake_openai.base_url))

    assert isinstance(error, LLMRefusalError)
    assert "content filter" in error.reason


@pytest.mark.parametrize("stream", [True, False])
async def test_length_cut(fake_openai: FakeOpenAIServer, stream: bool) -> None:
    fake_openai.enqueue(FakeReply(content='{"message": "Once upon a time', finish_reason="length"))

    error = await failure(
        client_for(fake_openai.base_url, stream=stream), request(max_output_tokens=8)
    )

    assert isinstance(error, LLMLengthError)
    assert "cut off at the 8-token output limit" in error.reason
    assert "this request sets its own limit" in error.reason
    assert error.raw == '{"message": "Once upon a time'


async def test_a_reply_cut_at_the_configured_limit_names_the_setting_to_raise(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue(FakeReply(content='{"message": "Once upon', finish_reason="length"))

    error = await failure(client_for(fake_openai.base_url, max_output_tokens=300))

    assert isinstance(error, LLMLengthError)
    assert error.reason.endswith(
        "cut off at the 300-token output limit before it was complete; raise "
        "COACH_MAX_OUTPUT_TOKENS (now 300)"
    )
    assert fake_openai.requests[-1].body["max_completion_tokens"] == 300  # the setting is sent


async def test_retries_are_the_sdks(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(FakeReply.error(503, "overloaded", headers={"retry-after-ms": "10"}))

    final = await client_for(fake_openai.base_url, max_retries=1).complete(request())

    assert final.data is not None
    assert len(fake_openai.requests) == 2


# -- lifecycle --------------------------------------------------------------------------------


def test_one_client_works_on_successive_event_loops(fake_openai: FakeOpenAIServer) -> None:
    client = client_for(fake_openai.base_url)

    first = asyncio.run(client.complete(request()))
    second = asyncio.run(client.complete(request()))

    assert first.data == second.data
    assert len(fake_openai.requests) == 2


def test_missing_api_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="COACH_OPENAI_API_KEY"):
        OpenAIClient(api_key="")


def test_repr_does_not_show_the_key() -> None:
    assert API_KEY not in repr(OpenAIClient(api_key=API_KEY))


def test_count_tokens_uses_o200k() -> None:
    client = OpenAIClient(api_key=API_KEY)
    assert client.count_tokens("") == 0
    assert client.count_tokens("Hello world") == 2


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "prompted"])
async def test_every_mode_parses_the_same_reply(
    fake_openai: FakeOpenAIServer, mode: StructuredMode
) -> None:
    fake_openai.enqueue(FakeReply(content=json.dumps(REPLY)))
    final = await client_for(fake_openai.base_url, structured_mode=mode).complete(request())
    assert final.data == REPLY


async def test_provider_messages_are_scrubbed_of_any_key(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue(
        FakeReply.error(500, "bad key {api_key}; also sk-proj-abc***wxyz"),
        FakeReply.error(429, "quota for {api_key} exceeded"),
    )
    client = client_for(fake_openai.base_url, api_key="local-secret-key-987")

    for _ in range(2):
        with pytest.raises(LLMError) as caught:
            await client.complete(request())
        assert "local-secret-key-987" not in caught.value.reason
        assert "abc***wxyz" not in caught.value.reason
        assert "***" in caught.value.reason


async def test_an_injected_http_client_is_used() -> None:
    import httpx2

    seen: list[str] = []

    def handler(http_request: httpx2.Request) -> httpx2.Response:
        seen.append(str(http_request.url))
        completion = {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-5.4-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(REPLY)},
                    "finish_reason": "stop",
                }
            ],
        }
        return httpx2.Response(200, json=completion)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http_client:
        client = OpenAIClient(
            api_key=API_KEY, base_url="http://model.test/v1", http_client=http_client, stream=False
        )
        final = await client.complete(request())

    assert final.data == REPLY
    assert seen == ["http://model.test/v1/chat/completions"]
