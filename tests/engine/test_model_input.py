"""A stored turn's model input, read back (``stored_input``) and laid out for the inspector
(``input_parts``): the same messages, in the same order, as the model was sent."""

from __future__ import annotations

import pytest

from coach.context import EARLIER_SESSIONS_HEADING
from coach.errors import InputError
from coach.inspection import input_parts, load_turn_exchange
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.records import TurnRecord
from coach.service import CoachService
from coach.window import CONTEXT_WINDOW, stored_input


def reply(message: str) -> dict[str, object]:
    return {"message": message, "actions": []}


async def returning_client_turn(
    db: DatabaseInterface, client: ScriptedLLMClient
) -> tuple[CoachService, TurnRecord]:
    """A client's second session, after a first one about cooking; its first turn."""
    service = CoachService(client, db)
    first = await service.start_session(user_name="Kim")
    client.enqueue(reply("Cooking sounds lovely."), reply("Welcome back, Kim."))
    await service.send_message_and_wait(first.user_id, first.session_id, "I love cooking.")
    second = await service.start_session(first.user_id)
    result = await service.send_message_and_wait(first.user_id, second.session_id, "Hello again.")
    turn = await db.get_turn(second.session_id, result.turn_seq or 0)
    assert turn is not None
    return service, turn


async def test_the_stored_input_is_what_the_model_was_sent(db: DatabaseInterface) -> None:
    client = ScriptedLLMClient()
    _, turn = await returning_client_turn(db, client)

    sent = await stored_input(db, turn)

    assert sent is not None and sent.missing == []
    assert sent.chat() == client.requests[-1].messages
    parts = input_parts(sent)
    assert [(p.kind, p.role, p.content) for p in parts] == [
        (kind, m.role, m.content)
        for kind, m in zip(
            ["system prompt", "summary", "message", "message"],
            client.requests[-1].messages,
            strict=True,
        )
    ]
    summary = parts[1]
    assert summary.content.startswith(EARLIER_SESSIONS_HEADING) and "cooking" in summary.content


async def test_the_exchange_has_the_clients_message_and_the_reply_by_text(
    db: DatabaseInterface,
) -> None:
    _, turn = await returning_client_turn(db, ScriptedLLMClient())

    exchange = await load_turn_exchange(db, turn)

    assert exchange.client_message is not None
    assert exchange.client_message.content == "Hello again."
    assert exchange.reply is not None and exchange.reply.content == "Welcome back, Kim."
    assert "cooking" in exchange.summary_text


async def test_a_message_no_longer_stored_is_shown_as_such_not_raised(
    db: DatabaseInterface,
) -> None:
    _, turn = await returning_client_turn(db, ScriptedLLMClient())
    window = dict(turn.details[CONTEXT_WINDOW])  # type: ignore[arg-type]
    window["included_message_ids"] = ["gone", *window["included_message_ids"]]  # type: ignore[misc]
    damaged = turn.model_copy(update={"details": {**turn.details, CONTEXT_WINDOW: window}})

    sent = await stored_input(db, damaged)

    assert sent is not None and sent.missing == ["gone"]
    parts = input_parts(sent)
    assert [p.kind for p in parts] == ["system prompt", "summary", "missing", "message", "message"]
    assert parts[2].content == "Message gone is no longer stored."
    with pytest.raises(InputError, match="message gone of turn 1 is no longer stored"):
        sent.chat()


async def test_a_turn_without_a_recorded_window_has_no_stored_input(
    db: DatabaseInterface,
) -> None:
    _, turn = await returning_client_turn(db, ScriptedLLMClient())
    older = turn.model_copy(update={"details": {}})
    assert await stored_input(db, older) is None
    assert (await load_turn_exchange(db, older)).parts is None
