"""The one small interface every model client implements.

A client turns an :class:`LLMRequest` (chat messages plus, optionally, the JSON schema of a
structured reply) into a stream of events: :class:`TextDelta` pieces of the reply's ``message``
text while it arrives, then exactly one final :class:`LLMResponse`. Failures are raised as
:class:`coach.errors.LLMError` subclasses, never as a provider's own exception types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import JsonValue

from coach.errors import ConfigurationError, LLMResponseError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation sent to the model."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """What to ask the model.

    Attributes:
        messages: The conversation, system messages first.
        response_schema: JSON schema of the structured reply, or ``None`` for plain text. The
            client guarantees only that a structured reply is a JSON object; validating it against
            the schema is the caller's job.
        schema_name: Name of the schema, sent to providers that want one (letters, digits, ``_``).
        max_output_tokens: Upper bound on generated tokens; ``None`` leaves the client's default.
        temperature: Sampling temperature; ``None`` leaves the provider's default.
    """

    messages: list[ChatMessage]
    response_schema: dict[str, Any] | None = None
    schema_name: str = "coach_reply"
    max_output_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the provider; ``None`` when the provider did not say."""

    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A new piece of the reply's message text.

    For a structured reply this is only text of its ``message`` field (never raw JSON); for a
    plain-text reply it is the text itself. Joining every delta of a stream gives the message as
    far as it was streamed; :attr:`LLMResponse.text` is the authoritative full text.
    """

    text: str


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """The finished reply, always the last event of a stream.

    Attributes:
        text: The ``message`` field of a structured reply (empty when the reply has no string
            ``message``), or the whole text of a plain reply.
        data: The parsed structured reply (a JSON object), or ``None`` for a plain-text request.
        raw: The model's output exactly as received.
        model: The model that answered.
        provider: The client's provider name (``openai``, ``local``, ``scripted``).
        usage: Token counts.
        ttft_ms: Milliseconds from the call to the first generated output, if any arrived.
        latency_ms: Milliseconds from the call to the end of the reply.
    """

    text: str
    data: dict[str, Any] | None
    raw: str
    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    ttft_ms: float | None = None
    latency_ms: float = 0.0


StreamEvent = TextDelta | LLMResponse


@dataclass(frozen=True, slots=True)
class Sampling:
    """The sampling settings a client uses for one request, as far as it knows them (recorded on
    every turn, so a reply can be explained).

    ``None`` means the client does not send the setting: the provider's or server's own default
    applies, which the client cannot see.

    Attributes:
        temperature: The sampling temperature.
        max_output_tokens: The most tokens the reply may have.
        seed: The sampling seed (``None``: none is sent; the output is not repeatable).
        other: Further settings the client sends, by name (the local model's repeat penalty).
    """

    temperature: float | None = None
    max_output_tokens: int | None = None
    seed: int | None = None
    other: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    def describe(self) -> dict[str, JsonValue]:
        """A plain-JSON description for the turn log."""
        return {
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "seed": self.seed,
            **self.other,
        }


class LLMClient(ABC):
    """A chat model behind one small, provider-independent interface.

    Attributes:
        provider: Short provider name recorded on every turn (``openai``, ``local``, ...).
        model: The model name recorded on every turn.
    """

    provider: str
    model: str

    @abstractmethod
    def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Ask the model and stream its reply.

        Args:
            request: The messages and, for a structured reply, its JSON schema.

        Returns:
            An async iterator of :class:`TextDelta` events (possibly none) followed by exactly
            one :class:`LLMResponse`, which is always the last item.

        Raises:
            LLMTimeoutError: The model did not answer in time.
            LLMRateLimitError: The provider refused the call for a rate limit or quota.
            LLMConnectionError: The provider could not be reached.
            LLMAuthenticationError: The provider refused the credentials.
            LLMLengthError: The reply was cut off by the token limit.
            LLMRefusalError: The model (or a content filter) refused to answer.
            LLMResponseError: A structured reply was not a JSON object.
            LLMError: Any other failure of the call.
            ConfigurationError: The client cannot work as configured (missing model, package).
        """

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Ask the model and return the whole reply (consumes :meth:`stream`).

        Args:
            request: The messages and, for a structured reply, its JSON schema.

        Returns:
            The final :class:`LLMResponse`.

        Raises:
            The same errors as :meth:`stream`; :class:`LLMResponseError` if the stream ended
            without a response.
        """
        final: LLMResponse | None = None
        async for event in self.stream(request):
            if isinstance(event, LLMResponse):
                final = event
        if final is None:
            raise LLMResponseError(f"the {self.provider} client ended its stream without a reply")
        return final

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Count the tokens of ``text`` as this client's model sees them (or a close estimate).

        Args:
            text: Any text; the empty string has 0 tokens.

        Returns:
            The number of tokens.
        """

    def sampling(self, request: LLMRequest) -> Sampling:
        """The sampling settings this client uses for ``request``: read-only, it asks nothing.

        Args:
            request: The request about to be sent (its own temperature and output limit win
                over the client's).

        Returns:
            What the request sets; clients override this to add the defaults they send.
        """
        return Sampling(
            temperature=request.temperature, max_output_tokens=request.max_output_tokens
        )

    def with_model(self, model: str) -> LLMClient:
        """A client that asks ``model`` instead (for trying a turn with another model). The
        copy shares this client's connections; close only this one.

        Raises:
            ConfigurationError: this client answers with its own model only.
        """
        if model == self.model:
            return self
        raise ConfigurationError(
            f"the {self.provider} client answers with {self.model!r} only, not {model!r}; to try "
            "other models, use an OpenAI-compatible server (COACH_LLM_PROVIDER=openai with "
            "COACH_OPENAI_BASE_URL and COACH_OPENAI_API_KEY)"
        )

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Release connections, threads or models held by the client.

        The client may still be used afterwards; it then opens what it needs again. Safe to call
        more than once.
        """
