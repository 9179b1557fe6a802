"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for offline client tests and
the benchmarks.

It answers ``POST /v1/chat/completions`` in the shapes the real API uses (a JSON completion, or
Server-Sent Events ending with a usage chunk whose ``choices`` is empty), records every request
it receives, and plays the faults a client must survive: slow answers, stalls mid-stream, HTTP
errors, malformed content, refusals, cut-off replies, and — like the llama.cpp server — a
rejection of ``response_format`` type ``json_schema``.

Replies are queued with :meth:`FakeOpenAIServer.enqueue`; when the queue is empty the server
plays :attr:`FakeOpenAIServer.respond` for the request, if set, else
:attr:`FakeOpenAIServer.default`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_CONTENT = json.dumps(
    {"message": "Hello! Let's find the identities you want to live by.", "actions": []}
)


@dataclass(frozen=True)
class FakeReply:
    """What the server answers to one request.

    Attributes:
        content: The assistant content, streamed in ``chunk_chars`` pieces.
        status: HTTP status; anything but 200 sends an OpenAI-style error body.
        error_message: The error's message; ``{api_key}`` is replaced by the key the client
            sent (to prove clients never repeat it).
        delay: Seconds to wait before answering at all.
        stall_after: Stream this many content pieces, then wait ``stall`` seconds.
        stall: See ``stall_after``.
        finish_reason: The last choice's ``finish_reason``.
        refusal: Send this refusal text instead of content.
        usage: Send token usage (the final chunk when streaming).
        chunk_chars: Characters per streamed content piece.
        chunk_delay: Seconds to wait after each streamed content piece (makes streaming
            observable in a browser).
        headers: Extra response headers.
    """

    content: str = DEFAULT_CONTENT
    status: int = 200
    error_message: str = "error"
    delay: float = 0.0
    stall_after: int | None = None
    stall: float = 0.0
    finish_reason: str = "stop"
    refusal: str | None = None
    usage: bool = True
    chunk_chars: int = 5
    chunk_delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, status: int, message: str, **kwargs: Any) -> FakeReply:
        return cls(status=status, error_message=message, **kwargs)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: ``time.monotonic()`` when the request arrived (to tell requests sent together).
    received_at: float = field(default_factory=time.monotonic)
    #: ``time.monotonic()`` when the server had sent its whole answer (``None`` until then, or
    #: when the client went away first).
    answered_at: float | None = None
    #: What the server played (``None`` until it answered, or for an unknown route).
    reply: FakeReply | None = None


PROMPT_TOKENS = 42


class FakeOpenAIServer:
    """The server; use as a context manager or call :meth:`start` and :meth:`stop`.

    Args:
        port: The port to listen on; 0 picks a free one.
        reject_json_schema: Answer 422 to ``response_format`` type ``json_schema``, with the
            validation body the llama.cpp server (FastAPI) sends.
    """

    def __init__(self, *, reject_json_schema: bool = False, port: int = 0) -> None:
        self.reject_json_schema = reject_json_schema
        self._port = port
        self.default = FakeReply()
        #: Chooses the reply from the request's JSON body when the queue is empty (instead of
        #: ``default``): e.g. to play both sides of a conversation. Called on the server's
        #: threads, several at once.
        self.respond: Callable[[dict[str, Any]], FakeReply] | None = None
        self.requests: list[RecordedRequest] = []
        self._queue: deque[FakeReply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def last_body(self) -> dict[str, Any]:
        assert self.requests, "the server received no request"
        return self.requests[-1].body

    def enqueue(self, *replies: FakeReply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget the queued replies and the recorded requests; play the built-in default."""
        with self._lock:
            self._queue.clear()
        self.default = FakeReply()
        self.respond = None
        self.requests.clear()

    def _next_reply(self, body: dict[str, Any]) -> FakeReply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.default if self.respond is None else self.respond(body)

    def _answered(self, record: RecordedRequest, reply: FakeReply | None) -> None:
        """Record when (and with what) the server finished answering ``record``."""
        done = replace(record, answered_at=time.monotonic(), reply=reply)
        with self._lock:
            for i in range(len(self.requests) - 1, -1, -1):
                if self.requests[i] is record:
                    self.requests[i] = done
                    return

    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are sleeping in a delay or stall
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"
    #: The reply played to the request being answered.
    played: FakeReply | None = None

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        body = json.loads(raw) if raw else {}
        record = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.fake.requests.append(record)
        self.played = None
        # The client may give up first (a timeout test); then there is nobody to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(body)
            self.fake._answered(record, self.played)

    def _answer(self, body: dict[str, Any]) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "x"}})
            return
        reply = self.played = self.fake._next_reply(body)
        if reply.delay:
            self.fake.wait(reply.delay)
        response_format = body.get("response_format") or {}
        if self.fake.reject_json_schema and response_format.get("type") == "json_schema":
            self._send_json(422, _llama_cpp_validation_error())
            return
        if reply.status != 200:
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            message = reply.error_message.replace("{api_key}", key)
            error = {"message": message, "type": "error", "param": None, "code": None}
            self._send_json(reply.status, {"error": error}, reply.headers)
            return
        if body.get("stream"):
            self._stream(body, reply)
        else:
            self._complete(body, reply)

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _complete(self, body: dict[str, Any], reply: FakeReply) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        else:
            message["content"] = reply.content
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
        }
        if reply.usage:
            payload["usage"] = _usage(reply)
        self._send_json(200, payload, reply.headers)

    def _stream(self, body: dict[str, Any], reply: FakeReply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        model = body.get("model", "fake")

        def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> None:
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": usage,
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        if reply.refusal is not None:
            pieces = [reply.refusal[i : i + 7] for i in range(0, len(reply.refusal), 7)]
            for piece in pieces:
                event([{"index": 0, "delta": {"refusal": piece}, "finish_reason": None}])
        else:
            step = reply.chunk_chars
            pieces = [reply.content[i : i + step] for i in range(0, len(reply.content), step)]
            for n, piece in enumerate(pieces):
                if reply.stall_after is not None and n == reply.stall_after:
                    self.fake.wait(reply.stall)
                event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
                if reply.chunk_delay:
                    self.fake.wait(reply.chunk_delay)
        event([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}])
        stream_options = body.get("stream_options") or {}
        if reply.usage and stream_options.get("include_usage"):
            event([], _usage(reply))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def _usage(reply: FakeReply) -> dict[str, int]:
    completion = max(1, len(reply.refusal or reply.content) // 4)
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
    }


def _llama_cpp_validation_error() -> dict[str, Any]:
    return {
        "detail": [
            {
                "type": "literal_error",
                "loc": ["body", "response_format", "type"],
                "msg": "Input should be 'text' or 'json_object'",
                "input": "json_schema",
                "ctx": {"expected": "'text' or 'json_object'"},
            }
        ]
    }
