"""The tolerant JSON parser and the streaming extraction of the ``message`` field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coach.errors import LLMResponseError
from coach.llm.parsing import (
    ReplyAssembler,
    parse_json_object,
    partial_message,
    schema_instructions,
    schema_streams_message,
)

REPLY = {"message": "Hi there!", "actions": [{"type": "x", "params": {"a": "{b}"}}]}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "actions": {"type": "array"}},
}


# -- parse_json_object ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(REPLY),
        "  \n" + json.dumps(REPLY, indent=2) + "\n\n",
        "```json\n" + json.dumps(REPLY) + "\n```",
        "```\n" + json.dumps(REPLY) + "\n```",
        "Here you go:\n```json\n" + json.dumps(REPLY, indent=2) + "\n```\nAnything else?",
        "Sure! " + json.dumps(REPLY) + " Hope that helps.",
        "Use {name} like this: " + json.dumps(REPLY),
        "```json\n" + json.dumps(REPLY),  # an unclosed fence
    ],
    ids=[
        "bare",
        "whitespace",
        "fence",
        "plain-fence",
        "fence-and-prose",
        "prose",
        "brace-in-prose",
        "unclosed-fence",
    ],
)
def test_finds_the_object(raw: str) -> None:
    assert parse_json_object(raw) == REPLY


def test_a_message_with_a_code_fence_inside_is_not_unwrapped() -> None:
    reply = {"message": 'Try this:\n```json\n{"a": 1}\n```', "actions": []}
    assert parse_json_object(json.dumps(reply)) == reply


def test_raw_line_breaks_inside_strings_are_accepted() -> None:
    # llama.cpp's schema grammars let a model put a real line break inside a JSON string.
    raw = '{"message": "Line one.\nLine two.\tTabbed.", "actions": []}'
    assert parse_json_object(raw) == {"message": "Line one.\nLine two.\tTabbed.", "actions": []}


def test_the_first_complete_object_wins() -> None:
    assert parse_json_object('{"message": "one"} and {"message": "two"}') == {"message": "one"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty reply"),
        ("   \n", "empty reply"),
        ("I'd love to help you find your identities.", "not valid JSON"),
        ('{"message": "cut off', "not valid JSON"),
        ('{"message": "hi", "actions": [1, 2,],}', "not valid JSON"),  # trailing commas: no repair
        ("{'message': 'single quotes'}", "not valid JSON"),
        ('["message"]', "not an object"),
        ("```json\n[1, 2]\n```", "not an object"),
        ('"just a string"', "not an object"),
    ],
)
def test_refuses_what_is_not_a_json_object(raw: str, reason: str) -> None:
    with pytest.raises(LLMResponseError) as caught:
        parse_json_object(raw)
    assert reason in caught.value.reason


def test_the_reason_quotes_the_start_of_the_output() -> None:
    with pytest.raises(LLMResponseError) as caught:
        parse_json_object('{"message": "Hello there' + "x" * 500)
    assert "line 1 column" in caught.value.reason
    assert '{"message": "Hello there' in caught.value.reason
    assert len(caught.value.reason) < 300


# -- partial extraction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buffer", "expected"),
    [
        ("", None),
        ("{", None),
        ('{"mess', None),
        ('{"message": ', None),
        ('{"message": "', ""),
        ('{"message": "Hel', "Hel"),
        ('{"message": "Hel\\', "Hel"),
        ('{"message": "caf\\u00e', "caf"),
        ('{"message": "caf\\u00e9', "café"),
        ('{"message": "a\\nb', "a\nb"),
        ('{"message": "done", "act', "done"),
        ('{"actions": [], "message": "late', "late"),
        ('{"message": 42', None),
        ('Sure!\n```json\n{"message": "fenced', "fenced"),
        ('{"actions": [{"message": "nested"', None),
        ('{"message": "raw\nline break', "raw\nline break"),
        ('{\n  "message": "pretty\tprinted", \n', "pretty\tprinted"),
        ('He said "hi\n" then: {"message": "ok\n', "ok\n"),
    ],
)
def test_partial_message(buffer: str, expected: str | None) -> None:
    assert partial_message(buffer) == expected


def test_assembler_streams_only_the_message_text() -> None:
    raw = json.dumps({"message": 'Say "I am" — then pause.\nBreathe.', "actions": []})
    assembler = ReplyAssembler(SCHEMA)

    pieces = [assembler.feed(raw[i : i + 3]) for i in range(0, len(raw), 3)]
    text, data, tail = assembler.finish()

    assert "".join(pieces) + tail == 'Say "I am" — then pause.\nBreathe.'
    assert sum(1 for p in pieces if p) > 5
    assert data is not None and text == data["message"]
    assert assembler.raw == raw


def test_assembler_with_no_message_in_the_schema_streams_nothing() -> None:
    assembler = ReplyAssembler({"type": "object", "properties": {"score": {"type": "number"}}})
    assert assembler.feed('{"score": 3, "message": "x"}') == ""
    text, data, _ = assembler.finish()
    assert (text, data) == ("x", {"score": 3, "message": "x"})


def test_assembler_for_plain_text_passes_pieces_through() -> None:
    assembler = ReplyAssembler(None)
    assert [assembler.feed(p) for p in ["Hel", "", "lo"]] == ["Hel", "", "lo"]
    assert assembler.finish() == ("Hello", None, "")


def test_assembler_raises_on_malformed_output() -> None:
    assembler = ReplyAssembler(SCHEMA)
    assembler.feed('{"message": "Hello')
    with pytest.raises(LLMResponseError):
        assembler.finish()


def test_schema_streams_message() -> None:
    assert schema_streams_message(SCHEMA)
    assert schema_streams_message({"properties": {"message": {"type": ["string", "null"]}}})
    assert not schema_streams_message(None)
    assert not schema_streams_message({"properties": {"message": {"type": "array"}}})
    assert not schema_streams_message({"type": "object"})


def test_schema_instructions_embed_the_schema() -> None:
    text = schema_instructions(SCHEMA, "coach_reply")
    assert "JSON" in text and "coach_reply" in text
    assert json.dumps(SCHEMA, separators=(",", ":")) in text


def test_assembler_streams_a_message_with_raw_line_breaks() -> None:
    raw = '{ "message" : "First line.\nSecond line.\n\nThird.", "actions": [] }'
    assembler = ReplyAssembler(SCHEMA)

    pieces = [assembler.feed(raw[i : i + 2]) for i in range(0, len(raw), 2)]
    text, _, tail = assembler.finish()

    assert "".join(pieces) + tail == text == "First line.\nSecond line.\n\nThird."
    assert tail == ""
