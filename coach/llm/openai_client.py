"""A client for OpenAI and every OpenAI-compatible chat-completions server, on the official SDK.

Compatible servers differ in how they accept a reply schema, so the structured output mode is a
setting:

* ``json_schema`` — ``response_format={"type": "json_schema", "json_schema": {..., "strict":
  true}}``: the provider enforces the schema (OpenAI, Azure OpenAI, vLLM).
* ``json_object`` — ``response_format={"type": "json_object"}`` plus the schema described in a
  system message; with ``json_object_schema=True`` the schema is also sent as
  ``response_format["schema"]``, which the llama.cpp server turns into a grammar (it rejects
  ``json_schema``).
* ``prompted`` — no ``response_format`` at all; the schema is described in a system message and
  the reply is read with the tolerant parser (code fences and prose around the JSON are skipped).

Replies are always streamed (``stream_options={"include_usage": True}``) unless ``stream=False``.
SDK errors are translated here, at the boundary, into :mod:`coach.errors` types whose reasons
say what to do; the API key never appears in them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

import openai
from openai import AsyncOpenAI, omit

from coach.errors import (
    TIMEOUT_SETTING,
    ConfigurationError,
    LLMAuthenticationError,
    LLMConnectionError,
    LLMError,
    LLMLengthError,
    LLMRateLimitError,
    LLMRefusalError,
    LLMResponseError,
    LLMTimeoutError,
    cut_off,
)
from coach.llm.base import LLMClient, LLMRequest, Sampling, StreamEvent, TextDelta, Usage
from coach.llm.parsing import ReplyAssembler, schema_instructions
from coach.llm.tokens import count_tokens_o200k

if TYPE_CHECKING:
    import httpx2
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

StructuredMode = Literal["json_schema", "json_object", "prompted"]
MaxTokensParam = Literal["max_completion_tokens", "max_tokens"]

DEFAULT_MODEL = "gpt-5.4-mini"
API_KEY_SETTING = "COACH_OPENAI_API_KEY"
_MESSAGE_CHARS = 300
# OpenAI-style keys (sk-..., sk-proj-...), also as providers echo them half-masked.
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9*_\-]{3,}")


class OpenAIClient(LLMClient):
    """Chat completions through the official ``openai`` SDK (``AsyncOpenAI``).

    The SDK client is tied to the event loop it was first used on, so it is created lazily on the
    running loop, and again if the client is later used from another loop.

    Args:
        api_key: The provider's API key (any non-empty text for a local server that needs none).
        model: The model name sent with each request.
        base_url: The API root, e.g. ``http://127.0.0.1:8080/v1``; ``None`` means OpenAI's.
        timeout: Seconds to wait to connect, for the first byte of the reply, and between streamed
            pieces.
        max_retries: Retries the SDK makes on connection errors, 408, 409, 429 and 5xx answers.
        structured_mode: How a reply schema is requested; see the module docstring.
        json_object_schema: In ``json_object`` mode, also send the schema inside
            ``response_format`` (for the llama.cpp server).
        max_tokens_param: The request field for the output limit: ``max_completion_tokens``
            (current OpenAI models) or ``max_tokens`` (older compatible servers).
        stream: Stream replies (the default), or ask for the whole reply at once.
        http_client: An ``httpx2.AsyncClient`` for the SDK to use (tests, proxies); it must be
            used on one event loop only.
        provider: The provider name recorded on turns.

    Raises:
        ConfigurationError: ``api_key`` is empty.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        structured_mode: StructuredMode = "json_schema",
        json_object_schema: bool = False,
        max_tokens_param: MaxTokensParam = "max_completion_tokens",
        stream: bool = True,
        http_client: httpx2.AsyncClient | None = None,
        provider: str = "openai",
        max_output_tokens: int | None = None,
    ) -> None:
        if not api_key:
            raise ConfigurationError(
                f"the OpenAI client needs an API key: set {API_KEY_SETTING} (for a local "
                "OpenAI-compatible server that needs no key, any value works)"
            )
        self.model = model
        self.provider = provider
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.structured_mode: StructuredMode = structured_mode
        self.json_object_schema = json_object_schema
        self.max_tokens_param: MaxTokensParam = max_tokens_param
        #: Tokens of a reply when the request sets none (``None``: the server's own limit).
        self.max_output_tokens = max_output_tokens
        self.streaming = stream
        self._api_key = api_key
        self._http_client = http_client
        self._client: AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"OpenAIClient(model={self.model!r}, base_url={self.base_url!r}, "
            f"structured_mode={self.structured_mode!r})"
        )

    def _limit(self, request: LLMRequest) -> int | None:
        return request.max_output_tokens or self.max_output_tokens

    def sampling(self, request: LLMRequest) -> Sampling:
        """What ``_create`` sends: the request's temperature (else none, the server's default),
        the output limit of the request or the client, and no seed."""
        return Sampling(temperature=request.temperature, max_output_tokens=self._limit(request))

    def with_model(self, model: str) -> OpenAIClient:
        if not model.strip():
            raise ConfigurationError("name the model to ask (for example gpt-5.4-mini)")
        switched = copy.copy(self)
        switched.model = model.strip()
        return switched

    def _sdk(self) -> AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
                http_client=self._http_client,
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the SDK client's connections (only if it belongs to the running loop)."""
        client, loop = self._client, self._client_loop
        self._client = None
        self._client_loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()

    def count_tokens(self, text: str) -> int:
        """Count tokens with ``o200k_base`` (exact for GPT-4o and later; an estimate otherwise)."""
        return count_tokens_o200k(text)

    # -- request -------------------------------------------------------------------------------

    def build_messages(self, request: LLMRequest) -> list[dict[str, str]]:
        """The ``messages`` sent for ``request``, with the schema instructions where the mode needs
        them (after the leading system messages, since some chat templates reject a system
        message anywhere else)."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        schema = request.response_schema
        if schema is None or self.structured_mode == "json_schema":
            return messages
        leading = 0
        while leading < len(messages) and messages[leading]["role"] == "system":
            leading += 1
        instructions = {
            "role": "system",
            "content": schema_instructions(schema, request.schema_name),
        }
        return [*messages[:leading], instructions, *messages[leading:]]

    def build_response_format(self, request: LLMRequest) -> dict[str, Any] | None:
        """The ``response_format`` sent for ``request``, or ``None`` to send none."""
        schema = request.response_schema
        if schema is None or self.structured_mode == "prompted":
            return None
        if self.structured_mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": schema, "strict": True},
            }
        if self.json_object_schema:
            return {"type": "json_object", "schema": schema}
        return {"type": "json_object"}

    async def _create(self, request: LLMRequest, *, stream: bool) -> Any:
        response_format = self.build_response_format(request)
        limit = self._limit(request)
        new_limit = limit if self.max_tokens_param == "max_completion_tokens" else None
        old_limit = limit if self.max_tokens_param == "max_tokens" else None
        return await self._sdk().chat.completions.create(
            model=self.model,
            messages=cast("list[ChatCompletionMessageParam]", self.build_messages(request)),
            stream=stream,
            stream_options={"include_usage": True} if stream else omit,
            response_format=(
                omit if response_format is None else cast("ResponseFormat", response_format)
            ),
            max_completion_tokens=omit if new_limit is None else new_limit,
            max_tokens=omit if old_limit is None else old_limit,
            temperature=omit if request.temperature is None else request.temperature,
        )

    # -- reply ---------------------------------------------------------------------------------

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Ask the model and stream its reply; see :meth:`LLMClient.stream`.

        Raises:
            LLMTimeoutError: No answer (or no next piece) within ``timeout`` seconds.
            LLMRateLimitError: HTTP 429.
            LLMConnectionError: The server could not be reached.
            LLMAuthenticationError: HTTP 401 or 403.
            LLMLengthError: ``finish_reason`` was ``length``.
            LLMRefusalError: The model refused, or ``finish_reason`` was ``content_filter``.
            LLMResponseError: A structured reply was not a JSON object.
            LLMError: Any other HTTP error, with the status and the provider's message.
        """
        started = time.perf_counter()
        assembler = ReplyAssembler(request.response_schema)
        refusal: list[str] = []
        finish_reason: str | None = None
        usage = Usage()
        model = self.model
        ttft_ms: float | None = None
        try:
            if self.streaming:
                chunks = await self._create(request, stream=True)
                async with chunks:
                    async for chunk in chunks:
                        model = chunk.model or model
                        if chunk.usage is not None:
                            usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                        if not chunk.choices:  # the final usage chunk has no choices
                            continue
                        choice = chunk.choices[0]
                        finish_reason = choice.finish_reason or finish_reason
                        if choice.delta.refusal:
                            refusal.append(choice.delta.refusal)
                        if choice.delta.content:
                            if ttft_ms is None:
                                ttft_ms = (time.perf_counter() - started) * 1000
                            text = assembler.feed(choice.delta.content)
                            if text:
                                yield TextDelta(text)
            else:
                completion = await self._create(request, stream=False)
                model = completion.model or model
                if completion.usage is not None:
                    usage = Usage(
                        completion.usage.prompt_tokens, completion.usage.completion_tokens
                    )
                if not completion.choices:
                    raise LLMResponseError("the provider returned a completion with no choices")
                choice = completion.choices[0]
                finish_reason = choice.finish_reason
                if choice.message.refusal:
                    refusal.append(choice.message.refusal)
                if choice.message.content:
                    ttft_ms = (time.perf_counter() - started) * 1000
                    text = assembler.feed(choice.message.content)
                    if text:
                        yield TextDelta(text)
        except openai.OpenAIError as e:
            raise self._translate(e) from e
        except json.JSONDecodeError as e:
            raise LLMResponseError(
                "the server sent a streaming event that is not JSON; check that the base URL "
                "points at an OpenAI-compatible /v1 endpoint"
            ) from e

        if refusal:
            raise LLMRefusalError(f"the model refused to answer: {''.join(refusal).strip()}")
        if finish_reason == "content_filter":
            raise LLMRefusalError(
                "the provider's content filter stopped the reply; rephrase the message and try "
                "again"
            )
        if finish_reason == "length":
            asked = request.max_output_tokens is not None
            raise LLMLengthError(
                cut_off("the reply", self._limit(request), asked=asked), raw=assembler.raw
            )
        for event in assembler.final_events(
            model=model, provider=self.provider, usage=usage, ttft_ms=ttft_ms, started=started
        ):
            yield event

    # -- errors --------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        return _KEY_LIKE.sub("sk-***", text)

    def _provider_message(self, error: openai.APIError) -> str:
        body = error.body
        message: object = None
        if isinstance(body, dict):
            message = body.get("message") or body.get("detail") or body.get("error")
        elif isinstance(body, str) and body.strip():
            message = body
        if message is None or message == "":
            message = error.message
        if not isinstance(message, str):
            message = json.dumps(message, ensure_ascii=False, default=str)
        message = " ".join(self._redact(message).split())
        return message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 1] + "…"

    def _server(self) -> str:
        if self.base_url is None:
            return "the OpenAI API"
        # Name scheme, host and port only: a URL may carry credentials or tokens.
        parts = urlsplit(self.base_url)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        if not parts.hostname:
            return "the model server"
        return f"the server at {parts.scheme}://{parts.hostname}{port}"

    def _translate(self, error: openai.OpenAIError) -> LLMError:
        """Turn an SDK error into the project's error with a reason a user can act on."""
        server = self._server()
        if isinstance(error, openai.APITimeoutError):
            return LLMTimeoutError(
                f"{server} did not answer within {self.timeout:g} s; try again, or raise "
                f"{TIMEOUT_SETTING} for slow models"
            )
        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__
            detail = f" ({self._redact(str(cause))})" if cause is not None and str(cause) else ""
            return LLMConnectionError(
                f"could not connect to {server}{detail}; check COACH_OPENAI_BASE_URL and that "
                "the server is running"
            )
        if isinstance(error, openai.AuthenticationError):
            return LLMAuthenticationError(
                f"the API key was refused by {server} (HTTP 401): set {API_KEY_SETTING} to a "
                "valid key"
            )
        if not isinstance(error, openai.APIError):
            return LLMError(f"the OpenAI client failed: {self._redact(str(error))}")
        message = self._provider_message(error)
        if isinstance(error, openai.PermissionDeniedError):
            return LLMAuthenticationError(
                f"the API key may not use model {self.model!r} (HTTP 403): {message}; use a key "
                f"with access to it (set {API_KEY_SETTING}) or choose another model"
            )
        if isinstance(error, openai.RateLimitError):
            return LLMRateLimitError(
                f"{server} refused the call for a rate limit or quota (HTTP 429): {message}; wait "
                "a moment and retry, or check the account's quota"
            )
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            hint = ""
            if status == 404:
                hint = f"; check COACH_OPENAI_MODEL (now {self.model!r}) and COACH_OPENAI_BASE_URL"
            elif (
                status in (400, 422)
                and self.structured_mode == "json_schema"
                and ("response_format" in message or "json_schema" in message)
            ):
                hint = (
                    "; this server may not support structured mode 'json_schema': set it to "
                    "'json_object' or 'prompted'"
                )
            failure = LLMError(f"{server} answered HTTP {status}: {message}{hint}")
            failure.retryable = status >= 500 or status in (408, 409)
            return failure
        return LLMError(f"{server} reported an error: {message}")
