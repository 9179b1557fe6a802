"""What turns cost: a price table per model (``COACH_MODEL_PRICES``), in US dollars.

The bundled model, the scripted one and exact replays cost nothing. A model the table does not
name has no known cost: it is reported as such, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # the settings import this module, and the persistence layer the settings
    from coach.persistence.records import ModelUsage

#: Providers that ask no paid model.
FREE_PROVIDERS = frozenset({"local", "scripted", "replay"})
PRICES_SETTING = "COACH_MODEL_PRICES"
NO_PRICE = "no price"


class Price(BaseModel):
    """US dollars per million tokens."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)


class Priced(BaseModel):
    """The cost of some turns: ``usd`` for those with a known price, and the models without."""

    usd: float = 0.0
    unpriced: list[str] = Field(default_factory=list)

    @property
    def known(self) -> bool:
        return not self.unpriced

    def short(self) -> str:
        """For a table cell: ``$0.0123``, ``no price``, or ``$0.0123 + no price`` (the models
        without one are in ``describe``)."""
        if self.known:
            return usd_text(self.usd)
        return NO_PRICE if not self.usd else f"{usd_text(self.usd)} + {NO_PRICE}"

    def describe(self) -> str:
        if self.known:
            return f"${self.usd:,.4f}"
        return (
            f"${self.usd:,.4f} + unknown ({', '.join(self.unpriced)}: no price; set "
            f"{PRICES_SETTING})"
        )


def turn_cost(
    prices: Mapping[str, Price],
    provider: str,
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
) -> float | None:
    """One turn's cost in US dollars; ``None`` when the table has no price for its model
    (looked up as ``provider/model``, then ``model``)."""
    if provider in FREE_PROVIDERS:
        return 0.0
    price = prices.get(f"{provider}/{model}") or prices.get(model)
    if price is None:
        return None
    tokens_in, tokens_out = input_tokens or 0, output_tokens or 0
    return (tokens_in * price.input_per_million + tokens_out * price.output_per_million) / 1e6


def usd_text(usd: float | None) -> str:
    """A cost as shown: dollars, or "no price" when it is unknown (never shown as zero)."""
    return NO_PRICE if usd is None else f"${usd:,.4f}"


def session_costs(prices: Mapping[str, Price], usage: Iterable[ModelUsage]) -> dict[str, Priced]:
    """The cost of each session in ``usage`` (``DatabaseInterface.list_model_usage``)."""
    turns: dict[str, list[tuple[str, str, int | None, int | None]]] = {}
    for u in usage:
        turns.setdefault(u.session_id, []).append(
            (u.provider, u.model, u.input_tokens, u.output_tokens)
        )
    return {session_id: total_cost(prices, rows) for session_id, rows in turns.items()}


def total_cost(
    prices: Mapping[str, Price], turns: Iterable[tuple[str, str, int | None, int | None]]
) -> Priced:
    """The cost of turns given as ``(provider, model, input tokens, output tokens)``."""
    total = Priced()
    for provider, model, tokens_in, tokens_out in turns:
        cost = turn_cost(prices, provider, model, tokens_in, tokens_out)
        if cost is None:
            name = f"{provider}/{model}"
            if name not in total.unpriced:
                total.unpriced.append(name)
        else:
            total.usd += cost
    return total
