"""Structured logs, written by the handler ``configure_logging`` installs, over real turns: the
engine built from ``Settings`` as the app builds it, the real OpenAI SDK against the loopback
fake server, and the lines captured as they would reach standard error.

Every line is JSON; a turn's end is one ``turn.ended`` line with its ids, status, timings and
tokens; the configured API key and database password are never written, even when a server or
an exception repeats them, and what the client and the coach said only with ``log_content`` on.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from coach.assembly import build_llm_client, build_service, open_database
from coach.config import Settings
from coach.enums import MessageRole, TurnStatus
from coach.logs import (
    CONTENT,
    REDACTED,
    JsonFormatter,
    LogHandler,
    TextFormatter,
    configure_logging,
    configured_secrets,
)
from coach.persistence.records import MessageRecord, TurnCommit, TurnRecord
from coach.service import CoachService, TurnResult
from devtools.fake_openai import PROMPT_TOKENS, FakeOpenAIServer, FakeReply
from tests.conftest import database_url

#: Every secret of these tests holds this, so one search finds any of them written.
NEVER = "DO-NOT-LOG"
API_KEY = f"sk-test-{NEVER}-7f3a9c"
DB_PASSWORD = f"pw-{NEVER}-51e0"
MESSAGE = "I would love to keep the lighthouse on Vardø island one day"
REPLY = "A lighthouse keeper: what draws you to that?"
ANSWER = FakeReply(content=json.dumps({"message": REPLY, "actions": []}))
#: An error body that repeats the key the client sent, as some servers do.
ECHO = "Incorrect API key provided: {api_key}"

Capture = Callable[..., io.StringIO]
Engine = Callable[[Settings], Awaitable[CoachService]]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """``capture(**settings)``: configure logging for these settings into a buffer, returned;
    the root logger is restored after the test."""
    root, engine = logging.getLogger(), logging.getLogger("coach")
    levels = root.level, engine.level

    def configure(**settings: Any) -> io.StringIO:
        buffer = io.StringIO()
        configure_logging(Settings(**settings), stream=buffer)
        return buffer

    yield configure
    for handler in [h for h in root.handlers if isinstance(h, LogHandler)]:
        root.removeHandler(handler)
    root.setLevel(levels[0])
    engine.setLevel(levels[1])


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    """Each backend's database URL; PostgreSQL's with a password (the test server ignores it)."""
    found = database_url(backend, request)
    if found is None:
        return "memory://"
    if backend != "postgresql":
        return found
    return make_url(found).set(password=DB_PASSWORD).render_as_string(hide_password=False)


def engine_settings(url: str, server: FakeOpenAIServer, **options: Any) -> dict[str, Any]:
    return {
        "database_url": url,
        "openai_api_key": API_KEY,
        "openai_base_url": server.base_url,
        "llm_max_retries": 0,
        "llm_timeout_s": 5.0,
        **options,
    }


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    """``await engine(settings)``: a service built from the settings as the app builds it
    (each call is a start of the app); closed after the test."""
    opened: list[CoachService] = []

    async def build(settings: Settings) -> CoachService:
        db = await open_database(settings)
        service = build_service(settings, build_llm_client(settings), db)
        opened.append(service)
        return service

    yield build
    for service in opened:
        await service.aclose()
        await service.llm_client.aclose()
        await service.db.close()


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, parsed: each must be one JSON object."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def turns_ended(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines(buffer) if line["message"] == "turn.ended"]


async def retried(service: CoachService, session_id: str) -> TurnResult:
    [*_, result] = [e async for e in service.retry_turn("u1", session_id)]
    assert isinstance(result, TurnResult)
    return result


async def test_turn_lines_carry_ids_timings_and_tokens_and_never_the_key_or_the_message(
    url: str, fake_openai: FakeOpenAIServer, capture: Capture, engine: Engine
) -> None:
    settings = engine_settings(url, fake_openai, log_level="DEBUG")  # the libraries' too
    logged = capture(**settings)
    service = await engine(Settings(**settings))
    info = await service.start_session("u1")
    fake_openai.enqueue(ANSWER, FakeReply.error(500, ECHO), FakeReply.error(401, ECHO), ANSWER)

    first = await service.send_message_and_wait("u1", info.session_id, MESSAGE)
    failed = await service.send_message_and_wait("u1", info.session_id, f"{MESSAGE}, really")
    refused = await retried(service, info.session_id)
    answered = await retried(service, info.session_id)

    assert [r.ok for r in (first, failed, refused, answered)] == [True, False, False, True]
    written = logged.getvalue()
    assert NEVER not in written and API_KEY not in written
    assert "lighthouse" not in written.lower(), "the message or the reply was logged"
    assert {line["logger"].split(".")[0] for line in lines(logged)} >= {"coach", "httpx2"}

    ended = turns_ended(logged)
    assert [(t["seq"], t["status"]) for t in ended] == [
        (first.turn_seq, "ok"),
        (failed.turn_seq, "failed"),
        (refused.turn_seq, "failed"),
        (answered.turn_seq, "ok"),
    ]
    for line in ended:
        assert (line["session_id"], line["user_id"]) == (info.session_id, "u1")
        assert (line["provider"], line["model"]) == ("openai", "gpt-5.4-mini")
        assert line["latency_ms"] > 0 and line["time"].endswith("Z")
        assert CONTENT not in line
    ok, server_error, auth_error, _ = ended
    assert ok["level"] == "INFO" and ok["error"] is None
    assert ok["input_tokens"] == PROMPT_TOKENS and ok["output_tokens"] > 0
    assert 0 < ok["time_to_first_token_ms"] <= ok["latency_ms"]
    assert server_error["level"] == "WARNING" and "HTTP 500" in server_error["error"]
    assert "HTTP 401" in auth_error["error"] and auth_error["input_tokens"] is None


async def test_with_log_content_the_message_and_the_reply_are_written(
    fake_openai: FakeOpenAIServer, capture: Capture, engine: Engine
) -> None:
    settings = engine_settings("memory://", fake_openai, log_content=True)
    logged = capture(**settings)
    service = await engine(Settings(**settings))
    info = await service.start_session("u1")
    fake_openai.enqueue(ANSWER)

    assert (await service.send_message_and_wait("u1", info.session_id, MESSAGE)).ok

    [ended] = turns_ended(logged)
    assert ended[CONTENT] == {"user_message": MESSAGE, "reply": REPLY}
    assert NEVER not in logged.getvalue()


async def test_a_turn_interrupted_by_a_dead_process_is_logged_as_it_is_marked(
    sqlite_url: str, fake_openai: FakeOpenAIServer, capture: Capture, engine: Engine
) -> None:
    settings = Settings(**engine_settings(sqlite_url, fake_openai))
    before = await engine(settings)
    info = await before.start_session("u1")
    context = await before.db.get_context("u1", info.session_id, message_limit=0)
    assert context is not None
    context.messages.append(MessageRecord(id="m", role=MessageRole.USER, content=MESSAGE))
    dead = f"{socket.gethostname()}/999999999/1"  # this host, no such process
    pending = TurnRecord(
        session_id=info.session_id,
        user_id="u1",
        user_message_id="m",
        state_before=info.state,
        state_after=info.state,
        provider="openai",
        model="gpt-5.4-mini",
        status=TurnStatus.PENDING,
        owner=dead,
    )
    seq = (await before.db.commit_turn(TurnCommit(context=context, turn=pending))).turn_seq
    logged = capture(**settings.model_dump())

    await engine(settings)  # the next start

    [ended] = turns_ended(logged)
    assert (ended["session_id"], ended["seq"], ended["status"]) == (info.session_id, seq, "failed")
    assert (ended["error"], ended["latency_ms"]) == ("interrupted", None)  # what it says: no quote
    assert NEVER not in logged.getvalue() and MESSAGE not in logged.getvalue()


def test_configuring_twice_leaves_one_handler_writing_as_last_configured(
    capture: Capture,
) -> None:
    first = capture(log_format="json")
    second = capture(log_format="text", log_level="WARNING")

    assert len([h for h in logging.getLogger().handlers if isinstance(h, LogHandler)]) == 1
    logging.getLogger("coach.test").warning("once", extra={"session_id": "s1"})
    logging.getLogger("coach.test").info("below the level")
    assert first.getvalue() == ""
    assert second.getvalue().endswith(' WARNING coach.test: once session_id="s1"\n')


def test_the_libraries_write_from_warning_up_unless_at_debug(capture: Capture) -> None:
    for level in ("INFO", "DEBUG"):
        logged = capture(log_level=level)
        logging.getLogger("coach.test").info("ours")
        logging.getLogger("alembic.test").info("a migration step")
        logging.getLogger("alembic.test").warning("a library's warning")

        written = [(line["logger"], line["message"]) for line in lines(logged)]
        steps = [("alembic.test", "a migration step")] if level == "DEBUG" else []
        assert written == [("coach.test", "ours"), *steps, ("alembic.test", "a library's warning")]


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    """A record as ``logger.error(message, *args, extra=extra)`` makes it, with the exception
    being handled (if any)."""
    made = logging.makeLogRecord({"name": "lib", "levelname": "ERROR", "msg": message})
    made.args = args
    if sys.exc_info()[0] is not None:
        made.exc_info = sys.exc_info()
    made.__dict__.update(extra)
    return made


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_every_configured_secret_is_redacted_wherever_it_appears(
    formatter: type[JsonFormatter | TextFormatter],
) -> None:
    password = f'q"{NEVER}\\3'  # JSON escapes it: the escaped form is redacted too
    url = f"postgresql+asyncpg://coach:{quote(password)}@db/coach?sslpassword={NEVER}-2"
    settings = Settings(openai_api_key=API_KEY, database_url=url)
    write = formatter(secrets=configured_secrets(settings)).format
    try:
        raise ConnectionError(f"cannot reach {url}: password {password} rejected")
    except ConnectionError:
        line = write(record("key %s refused", API_KEY, detail={"header": f"Bearer {API_KEY}"}))

    assert NEVER not in line, line
    assert line.count(REDACTED) == 5, line  # the key twice, the password in and out of the URL
    assert "postgresql+asyncpg://coach:***@db/coach?sslpassword=***: password *** rejected" in line


def test_content_is_dropped_unless_configured() -> None:
    said = record("turn.ended", session_id="s1", **{CONTENT: {"user_message": MESSAGE}})

    line = json.loads(JsonFormatter().format(said))
    assert list(line) == ["time", "level", "logger", "message", "session_id"]
    assert json.loads(JsonFormatter(content=True).format(said))[CONTENT] == {
        "user_message": MESSAGE
    }


async def test_an_error_quoting_the_model_reply_is_logged_without_the_quote(
    fake_openai: FakeOpenAIServer, capture: Capture, engine: Engine
) -> None:
    settings = engine_settings("memory://", fake_openai)
    logged = capture(**settings)
    service = await engine(Settings(**settings))
    info = await service.start_session("u1")
    fake_openai.enqueue(FakeReply(content=f"Not JSON at all: {REPLY}"))

    failed = await service.send_message_and_wait("u1", info.session_id, "Hello")

    assert not failed.ok and "lighthouse" in (failed.error or "")  # stored whole, for the page
    [line] = turns_ended(logged)
    assert line["error"].startswith("the model's reply is not valid JSON")
    assert "lighthouse" not in logged.getvalue().lower()
