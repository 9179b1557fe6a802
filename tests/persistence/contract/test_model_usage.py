"""Contract: ``list_model_usage`` adds up each model's tokens per session, for costs."""

from __future__ import annotations

import pytest

from coach.enums import TurnStatus
from coach.persistence import DatabaseInterface
from coach.persistence.base import MAX_PAGE_SIZE

from . import builders as b


async def test_tokens_are_added_up_by_session_and_model(db: DatabaseInterface) -> None:
    for tokens, model in ((10, "big"), (20, "big"), (5, "small")):
        await db.save_turn(
            b.turn("ann", "a1", model=model, input_tokens=tokens, output_tokens=tokens * 2)
        )
    await db.save_turn(b.turn("ann", "a1", model="big", input_tokens=None, output_tokens=None))
    await db.save_turn(b.turn("ann", "a1", model="big", status=TurnStatus.FAILED, input_tokens=1))
    await db.save_turn(b.turn("bob", "b1", model="big", input_tokens=7, output_tokens=1))
    await db.save_turn(b.turn("cat", "c1", model="big", input_tokens=100, output_tokens=100))

    usage = await db.list_model_usage(["a1", "b1", "no-such-session", "a1"])

    assert [(u.session_id, u.model, u.turns, u.input_tokens, u.output_tokens) for u in usage] == [
        ("a1", "big", 4, 31, 60),
        ("a1", "small", 1, 5, 10),
        ("b1", "big", 1, 7, 1),
    ]
    assert {u.provider for u in usage} == {b.turn("x", "y").provider}


async def test_no_ids_no_rows_and_too_many_ids_are_refused(db: DatabaseInterface) -> None:
    assert await db.list_model_usage([]) == []
    with pytest.raises(ValueError, match="page size"):
        await db.list_model_usage([f"s{i}" for i in range(MAX_PAGE_SIZE + 1)])
