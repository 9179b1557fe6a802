"""Turning model output into a structured reply, both while it streams and when it is complete.

Every client feeds the text it receives into a :class:`ReplyAssembler`. While a structured reply
arrives as JSON, the assembler re-reads the partial JSON after each piece
(``pydantic_core.from_json(..., allow_partial="trailing-strings")`` returns an unfinished string
as far as it goes) and hands back only the new characters of the top-level ``message`` field, so a
chat shows the coach's words, never raw JSON. When the output is complete it is parsed with
:func:`parse_json_object`.

The parser is tolerant of what chat models wrap around JSON: surrounding whitespace, a Markdown
code fence, prose before or after the object. It also accepts raw control characters (a real
line break) inside strings: llama.cpp's schema grammars allow them, so small models emit them,
and their meaning is plain. It does not repair invalid JSON (trailing commas, single quotes,
comments): a guessed repair could silently change the reply, and the servers that need tolerance
(prompted mode) emit those rarely. Such output is an :class:`LLMResponseError` whose reason says
what was wrong and where.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from pydantic_core import from_json

from coach.errors import LLMResponseError
from coach.llm.base import LLMResponse, StreamEvent, TextDelta, Usage

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript)?[ \t]*\r?\n?(.*?)(?:```|\Z)", re.DOTALL)
_MAX_OBJECT_STARTS = 64
_CONTROL = re.compile(r"[\x00-\x1f]")
_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_PREVIEW_CHARS = 160


def schema_streams_message(schema: dict[str, Any] | None) -> bool:
    """Tell whether a reply schema has a top-level ``message`` string property to stream.

    Args:
        schema: A JSON schema, or ``None`` for a plain-text reply.

    Returns:
        ``True`` when ``schema["properties"]["message"]`` is a string; ``False`` otherwise.
    """
    if schema is None:
        return False
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return False
    message = properties.get("message")
    if not isinstance(message, dict):
        return False
    kind = message.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def schema_instructions(schema: dict[str, Any], name: str) -> str:
    """Describe a reply schema for the model, for servers that do not enforce it themselves.

    Args:
        schema: The JSON schema of the reply.
        name: The schema's name.

    Returns:
        The text of a system message asking for one JSON object matching ``schema``.
    """
    rendered = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    return (
        "Reply with exactly one JSON object and nothing else: no prose before or after it and no "
        f"code fences. The object must match this JSON schema (named {name}):\n{rendered}"
    )


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW_CHARS else flat[: _PREVIEW_CHARS - 1] + "…"


def _unfence(text: str) -> str:
    """Return the contents of the first code fence, or ``""`` if there is none."""
    match = _FENCE.search(text)
    return match.group(1).strip() if match else ""


def _loads_or_none(text: str) -> object | None:
    try:
        value: object = json.loads(text, strict=False)
    except json.JSONDecodeError:
        return None
    return value


def _first_embedded_object(text: str) -> dict[str, Any] | None:
    """Find the first ``{...}`` in ``text`` that decodes to a JSON object."""
    decoder = json.JSONDecoder(strict=False)
    start = text.find("{")
    attempts = 0
    while start >= 0 and attempts < _MAX_OBJECT_STARTS:
        attempts += 1
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    return None


def parse_json_object(raw: str) -> dict[str, Any]:
    """Parse a model's complete output as one JSON object, tolerating wrappers around it.

    Accepts the bare object, an object inside a Markdown code fence, and an object with prose
    before or after it (the first complete object wins). Invalid JSON is not repaired.

    Args:
        raw: The model's complete output.

    Returns:
        The decoded object.

    Raises:
        LLMResponseError: The output is empty, holds no complete JSON object, or is JSON of
            another type (the reason quotes the start of the output).
    """
    text = raw.strip()
    if not text:
        raise LLMResponseError("the model returned an empty reply where a JSON object was expected")
    try:
        value: object = json.loads(text, strict=False)
    except json.JSONDecodeError as e:
        error = e
        value = _loads_or_none(_unfence(text))
        if value is None:
            value = _first_embedded_object(text)
        if value is None:
            raise LLMResponseError(
                f"the model's reply is not valid JSON ({error.msg} at line {error.lineno} column "
                f"{error.colno}): {_preview(raw)!r}"
            ) from e
    if not isinstance(value, dict):
        raise LLMResponseError(
            f"the model's reply is JSON but not an object (got {type(value).__name__}): "
            f"{_preview(raw)!r}"
        )
    return value


def partial_message(buffer: str) -> str | None:
    """Extract the top-level ``message`` string from an incomplete JSON reply.

    Args:
        buffer: The output received so far; anything before the first ``{`` is ignored.

    Returns:
        The message as far as it has arrived (an unfinished escape sequence is left out), or
        ``None`` when no ``message`` string has started yet.
    """
    return _message_of(_ControlEscaper().feed(buffer))


def _message_of(json_text: str) -> str | None:
    """The top-level ``message`` string of partial JSON text that starts with ``{``."""
    if not json_text:
        return None
    try:
        value = from_json(json_text, allow_partial="trailing-strings")
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    message = value.get("message")
    return message if isinstance(message, str) else None


class _ControlEscaper:
    """Escapes raw control characters inside the strings of JSON text, fed piece by piece.

    The partial-JSON reader refuses them (a strict JSON reader would); text before the first
    ``{`` is dropped, so quotes in prose around the JSON cannot confuse the string tracking.
    """

    def __init__(self) -> None:
        self._started = False
        self._in_string = False
        self._escaped = False

    def feed(self, piece: str) -> str:
        if not self._started:
            start = piece.find("{")
            if start < 0:
                return ""
            self._started = True
            piece = piece[start:]
        if '"' not in piece and "\\" not in piece and not _CONTROL.search(piece):
            return piece  # the common case: no state change, nothing to escape
        out: list[str] = []
        for char in piece:
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
                elif char < " ":
                    char = _CONTROL_ESCAPES.get(char, f"\\u{ord(char):04x}")
            elif char == '"':
                self._in_string = True
            out.append(char)
        return "".join(out)


class ReplyAssembler:
    """Collects a reply's pieces; yields the new message text of each; parses the whole at the end.

    For a plain-text request (``schema is None``) every piece is message text. For a structured
    request only the top-level ``message`` string of the JSON is streamed, and only if the schema
    declares it.

    Args:
        schema: The JSON schema of a structured reply, or ``None`` for plain text.
    """

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self._structured = schema is not None
        self._streams_message = schema_streams_message(schema)
        self._parts: list[str] = []
        self._json: list[str] = []  # the JSON part, control characters in strings escaped
        self._escaper = _ControlEscaper()
        self._emitted = ""

    @property
    def raw(self) -> str:
        """Everything received so far."""
        return "".join(self._parts)

    def feed(self, piece: str) -> str:
        """Add a piece of output.

        Args:
            piece: The next piece of the model's output (may be empty).

        Returns:
            New message text to show, or ``""`` when this piece adds none.
        """
        if not piece:
            return ""
        self._parts.append(piece)
        if not self._structured:
            self._emitted += piece
            return piece
        if not self._streams_message:
            return ""
        self._json.append(self._escaper.feed(piece))
        message = _message_of("".join(self._json))
        return "" if message is None else self._advance(message)

    def finish(self) -> tuple[str, dict[str, Any] | None, str]:
        """Parse the complete output.

        Returns:
            ``(text, data, tail)``: the message (or plain text), the parsed object (``None`` for
            plain text), and message text not yet returned by :meth:`feed` (usually ``""``).

        Raises:
            LLMResponseError: A structured reply is not a JSON object (see
                :func:`parse_json_object`); its ``raw`` is the output.
        """
        raw = self.raw
        if not self._structured:
            return raw, None, ""
        try:
            data = parse_json_object(raw)
        except LLMResponseError as e:
            e.raw = raw
            raise
        message = data.get("message")
        text = message if isinstance(message, str) else ""
        tail = self._advance(text) if self._streams_message else ""
        return text, data, tail

    def final_events(
        self,
        *,
        model: str,
        provider: str,
        usage: Usage,
        ttft_ms: float | None,
        started: float,
    ) -> Iterator[StreamEvent]:
        """The end of a stream: the message text not yet streamed (if any), then the response.

        Args:
            started: ``time.perf_counter()`` when the call began, for the latency.

        Raises:
            LLMResponseError: as :meth:`finish`.
        """
        text, data, tail = self.finish()
        if tail:
            yield TextDelta(tail)
        yield LLMResponse(
            text=text,
            data=data,
            raw=self.raw,
            model=model,
            provider=provider,
            usage=usage,
            ttft_ms=ttft_ms,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _advance(self, message: str) -> str:
        # The partial message only ever grows; anything else (a model rewriting an earlier key)
        # is not streamed, and the final response carries the authoritative text.
        if len(message) > len(self._emitted) and message.startswith(self._emitted):
            new = message[len(self._emitted) :]
            self._emitted = message
            return new
        return ""
