"""A deterministic client for tests, replays and demos: it answers what it was told to answer.

Replies are queued with :meth:`ScriptedLLMClient.enqueue` or computed by a function. Each reply
goes through the same streaming path as a real model's output (split into word-sized pieces and
fed to a :class:`ReplyAssembler`), so a chat shows it arriving in chunks and malformed output
fails exactly as it would from a real model.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeAlias

from coach.errors import LLMError
from coach.llm.base import LLMClient, LLMRequest, Sampling, StreamEvent, TextDelta, Usage
from coach.llm.parsing import ReplyAssembler
from coach.llm.tokens import count_tokens_o200k

Reply: TypeAlias = dict[str, Any] | str | BaseException
"""A structured reply (dict), raw output (str), or an exception instance to raise."""

ReplyFunction: TypeAlias = Callable[[LLMRequest], Reply | Awaitable[Reply]]
"""Computes the reply to a request; may be a coroutine function."""

_PIECE = re.compile(r"\S*\s*")


class ScriptedLLMClient(LLMClient):
    """Answers with queued replies, then with ``function`` when the queue is empty.

    A reply is:

    * a ``dict`` — a structured reply, sent as its JSON text;
    * a ``str`` — the model's raw output: plain text, or JSON (possibly malformed, to test
      failures) for a structured request;
    * an exception instance — raised instead of answering (use :mod:`coach.errors` types to
      simulate provider failures);
    * a function ``(LLMRequest) -> reply`` (queued, it answers one request).

    Every request is recorded in :attr:`requests`.

    Args:
        replies: Replies to queue, in order.
        function: Computes replies once the queue is empty.
        model: The model name to report.
        chunk_delay: Seconds to wait between streamed pieces (0 by default).
    """

    provider = "scripted"

    def __init__(
        self,
        replies: Iterable[Reply | ReplyFunction] = (),
        *,
        function: ReplyFunction | None = None,
        model: str = "scripted",
        chunk_delay: float = 0.0,
    ) -> None:
        self.model = model
        self.function = function
        self.chunk_delay = chunk_delay
        self.requests: list[LLMRequest] = []
        self._queue: deque[Reply | ReplyFunction] = deque(replies)

    def enqueue(self, *replies: Reply | ReplyFunction) -> None:
        """Queue replies for the next requests, in order.

        Args:
            replies: Each a dict, a str, an exception instance or a reply function.
        """
        self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many queued replies are left."""
        return len(self._queue)

    async def _next_reply(self, request: LLMRequest) -> Reply:
        if self._queue:
            item = self._queue.popleft()
        elif self.function is not None:
            item = self.function
        else:
            raise LLMError(
                "the scripted client has no reply left: queue one with enqueue() or pass "
                "function= to answer every request"
            )
        if isinstance(item, dict | str | BaseException):
            return item
        reply = item(request)
        if inspect.isawaitable(reply):
            reply = await reply
        return reply

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Stream the next scripted reply; see :meth:`LLMClient.stream`.

        Raises:
            LLMError: No reply is queued and no function is set.
            BaseException: The queued exception, as given.
            LLMResponseError: A scripted ``str`` for a structured request is not a JSON object.
        """
        started = time.perf_counter()
        self.requests.append(request)
        reply = await self._next_reply(request)
        if isinstance(reply, BaseException):
            raise reply
        raw = json.dumps(reply, ensure_ascii=False) if isinstance(reply, dict) else reply
        assembler = ReplyAssembler(request.response_schema)
        ttft_ms: float | None = None
        for piece in _PIECE.findall(raw):
            if not piece:
                continue
            if self.chunk_delay > 0:
                await asyncio.sleep(self.chunk_delay)
            else:
                await asyncio.sleep(0)  # let other tasks (and cancellation) in between pieces
            if ttft_ms is None:
                ttft_ms = (time.perf_counter() - started) * 1000
            text = assembler.feed(piece)
            if text:
                yield TextDelta(text)
        usage = Usage(
            input_tokens=sum(self.count_tokens(m.content) for m in request.messages),
            output_tokens=self.count_tokens(raw),
        )
        for event in assembler.final_events(
            model=self.model, provider=self.provider, usage=usage, ttft_ms=ttft_ms, started=started
        ):
            yield event

    def sampling(self, request: LLMRequest) -> Sampling:
        """What the request asks for; nothing is sampled (``other["sampled"]`` is ``False``):
        the replies are scripted."""
        return Sampling(
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
            other={"sampled": False},
        )

    def count_tokens(self, text: str) -> int:
        """Count tokens with OpenAI's ``o200k_base`` encoding (offline, deterministic)."""
        return count_tokens_o200k(text)
