"""CoachService over the real OpenAI SDK code path, against a chat-completions server on loopback.

Every fault keeps the user's message, stores a ``failed`` turn with a clear reason, and a retry
succeeds once the server answers again.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from coach.enums import CoachingState, TurnStatus
from coach.llm.base import TextDelta
from coach.llm.openai_client import OpenAIClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService, TurnResult
from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.records import stored_turns

GOOD = json.dumps(
    {
        "message": "Welcome! What would you like to explore?",
        "actions": [
            {"type": "save_user_info", "params": {"key": "name", "value": "Lee"}},
            {"type": "transition_state", "params": {"to_state": "identity_brainstorming"}},
        ],
    }
)


def openai_service(db: DatabaseInterface, base_url: str, **options: object) -> CoachService:
    client = OpenAIClient(
        api_key="sk-test-secret",
        base_url=base_url,
        timeout=options.pop("timeout", 5.0),  # type: ignore[arg-type]
        max_retries=0,
        **options,  # type: ignore[arg-type]
    )
    return CoachService(client, db)


async def run_turn(service: CoachService, session: str, text: str) -> tuple[list[str], TurnResult]:
    deltas: list[str] = []
    result: TurnResult | None = None
    async for event in service.send_message("u1", session, text):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            result = event
    assert result is not None
    return deltas, result


async def retry(service: CoachService, session: str) -> TurnResult:
    events = [e async for e in service.retry_turn("u1", session)]
    assert isinstance(events[-1], TurnResult)
    return events[-1]


async def assert_kept_and_failed(
    db: DatabaseInterface, session: str, result: TurnResult, reason: str
) -> None:
    assert result.status is TurnStatus.FAILED and result.error
    assert reason.lower() in result.error.lower(), result.error
    assert "sk-test-secret" not in result.error
    context = await db.get_context("u1", session)
    assert context is not None and context.messages[-1].content == "Hello coach"
    [turn] = await stored_turns(db, session)
    assert turn.status is TurnStatus.FAILED and turn.error == result.error


async def assert_retry_succeeds(db: DatabaseInterface, service: CoachService, session: str) -> None:
    result = await retry(service, session)
    assert result.ok and result.reply == "Welcome! What would you like to explore?"
    assert result.state_after is CoachingState.IDENTITY_BRAINSTORMING
    context = await db.get_context("u1", session)
    assert context is not None
    assert [m.content for m in context.messages[1:]] == ["Hello coach", result.reply]
    assert [t.status for t in await stored_turns(db, session)] == [TurnStatus.FAILED, TurnStatus.OK]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (FakeReply(content=GOOD, delay=3.0), "time"),
        (FakeReply.error(429, "Rate limit reached for requests"), "rate limit"),
        (FakeReply.error(500, "The server had an error"), "500"),
        (FakeReply(content='{"message": "Hi", "actions": [oops'), "JSON"),
        (FakeReply(refusal="I can't help with that."), "refused"),
        (FakeReply(content='{"message": "This reply is cut', finish_reason="length"), "cut off"),
    ],
    ids=["timeout", "429", "500", "malformed", "refusal", "length"],
)
async def test_fault_keeps_message_marks_turn_failed_and_retry_succeeds(
    memory_db: DatabaseInterface, fake_openai: FakeOpenAIServer, fault: FakeReply, reason: str
) -> None:
    service = openai_service(memory_db, fake_openai.base_url, timeout=1.0)
    info = await service.start_session("u1")
    fake_openai.enqueue(fault, FakeReply(content=GOOD))

    _, result = await run_turn(service, info.session_id, "Hello coach")

    await assert_kept_and_failed(memory_db, info.session_id, result, reason)
    await assert_retry_succeeds(memory_db, service, info.session_id)


async def test_connection_refused_then_retry_when_the_server_is_up(
    db: DatabaseInterface, closed_port_url: str
) -> None:
    service = openai_service(db, closed_port_url)
    info = await service.start_session("u1")

    _, result = await run_turn(service, info.session_id, "Hello coach")
    await assert_kept_and_failed(db, info.session_id, result, "connect")

    port = urlsplit(closed_port_url).port
    assert port is not None
    with FakeOpenAIServer(port=port) as server:
        server.enqueue(FakeReply(content=GOOD))
        await assert_retry_succeeds(db, service, info.session_id)


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "prompted"])
async def test_each_structured_mode_runs_a_streamed_turn(
    memory_db: DatabaseInterface, fake_openai: FakeOpenAIServer, mode: str
) -> None:
    service = openai_service(memory_db, fake_openai.base_url, structured_mode=mode)
    info = await service.start_session("u1")
    fake_openai.enqueue(FakeReply(content=GOOD, chunk_chars=4))

    deltas, result = await run_turn(service, info.session_id, "Hello coach")

    assert result.ok and len(deltas) > 1 and "".join(deltas) == result.reply
    assert result.input_tokens and result.output_tokens
    body = fake_openai.last_body
    assert body["stream"] is True and body["model"] == "gpt-5.4-mini"
    format_type = (body.get("response_format") or {}).get("type")
    assert format_type == {"json_schema": "json_schema", "json_object": "json_object"}.get(mode)
    if mode == "json_schema":
        schema = body["response_format"]["json_schema"]
        assert schema["strict"] is True
        assert "transition_state" in json.dumps(schema["schema"])
    else:  # the schema is described to the model in a system message instead
        assert any("transition_state" in m["content"] for m in body["messages"])
    [turn] = await stored_turns(memory_db, info.session_id)
    assert turn.provider == "openai" and turn.raw_output == GOOD


async def test_llama_cpp_style_server_in_json_schema_mode_fails_with_the_fix(
    memory_db: DatabaseInterface, fake_llama_server: FakeOpenAIServer
) -> None:
    service = openai_service(memory_db, fake_llama_server.base_url)
    info = await service.start_session("u1")
    _, result = await run_turn(service, info.session_id, "Hello coach")
    assert result.status is TurnStatus.FAILED and result.error
    assert "json_object" in result.error and "prompted" in result.error
