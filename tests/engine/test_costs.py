"""Cost from the price table: looked up by provider/model then model, nothing for free
providers, never guessed for a model without a price; in Compare, per side."""

from __future__ import annotations

import pytest

from coach.config import Settings
from coach.costs import Price, Priced, session_costs, total_cost, turn_cost, usd_text
from coach.demo import play_demo
from coach.enums import CoachingState, TurnStatus
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import TurnRecord, new_id
from coach.service import CoachService
from coach.sessions.compare import compare_sessions

PRICES = {
    "gpt-x": Price(input_per_million=1.0, output_per_million=4.0),
    "openai/gpt-y": Price(input_per_million=2.0, output_per_million=8.0),
}


def test_a_turn_costs_what_the_table_says_and_nothing_is_guessed() -> None:
    assert turn_cost(PRICES, "openai", "gpt-x", 1_000_000, 500_000) == pytest.approx(3.0)
    assert turn_cost(PRICES, "openai", "gpt-y", 1000, 1000) == pytest.approx(0.01)
    assert turn_cost(PRICES, "azure", "gpt-y", 1000, 1000) is None  # named for openai only
    assert turn_cost(PRICES, "openai", "gpt-z", 10, 10) is None
    assert turn_cost({}, "local", "SmolLM2", 10**6, 10**6) == 0.0
    total = total_cost(PRICES, [("openai", "gpt-x", 10**6, 0), ("openai", "gpt-z", 5, 5)] * 2)
    assert total.usd == pytest.approx(2.0) and total.unpriced == ["openai/gpt-z"]
    assert not total.known and "COACH_MODEL_PRICES" in total.describe()


def test_the_table_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "COACH_MODEL_PRICES", '{"gpt-x": {"input_per_million": 0.5, "output_per_million": 1}}'
    )
    assert Settings.resolve().model_prices == {
        "gpt-x": Price(input_per_million=0.5, output_per_million=1.0)
    }


class PaidModel(ScriptedLLMClient):
    provider = "openai"


async def test_compare_gives_each_sides_cost() -> None:
    db = InMemoryDatabase()
    demo = await play_demo(db)
    service = CoachService(PaidModel(function=lambda r: {"message": "Paid."}, model="gpt-x"), db)
    origin = await service.sessions.replay(demo.session_id, live=True)
    handle = service.sessions.handle(origin.session_id)
    assert handle is not None
    await handle.ended()
    found = await compare_sessions(db, demo.session_id, origin.session_id, prices=PRICES)
    assert found.a.cost.usd == 0.0 and found.a.cost.known  # the scripted demo is free
    expected = (found.b.input_tokens * 1.0 + found.b.output_tokens * 4.0) / 1e6
    assert found.b.cost.usd == pytest.approx(expected) and expected > 0
    unpriced = await compare_sessions(db, demo.session_id, origin.session_id)
    assert unpriced.b.cost.unpriced == ["openai/gpt-x"]


async def test_each_session_costs_its_turns_and_an_unknown_model_shows_no_price() -> None:
    db = InMemoryDatabase()
    for session_id, model, tokens in (
        ("s1", "gpt-x", 1_000_000),
        ("s1", "gpt-x", 1_000_000),
        ("s2", "gpt-z", 10),
        ("s2", "gpt-x", 500_000),
    ):
        await db.save_turn(
            TurnRecord(
                user_id="u",
                session_id=session_id,
                user_message_id=new_id(),
                status=TurnStatus.OK,
                state_before=CoachingState.INTRODUCTION,
                state_after=CoachingState.INTRODUCTION,
                provider="openai",
                model=model,
                input_tokens=tokens,
                output_tokens=0,
            )
        )
    costs = session_costs(PRICES, await db.list_model_usage(["s1", "s2", "s3"]))

    assert costs["s1"].usd == pytest.approx(2.0) and costs["s1"].short() == "$2.0000"
    assert costs["s2"].short() == "$0.5000 + no price"
    assert "openai/gpt-z: no price" in costs["s2"].describe()
    assert "s3" not in costs  # no turns, nothing spent
    only_unknown = session_costs(PRICES, await db.list_model_usage(["s2"]))
    assert Priced(unpriced=["openai/gpt-z"]).short() == "no price"
    assert usd_text(None) == "no price" and usd_text(0.0) == "$0.0000"
    assert only_unknown["s2"].unpriced == ["openai/gpt-z"]
