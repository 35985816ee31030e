"""Token usage and its cost in USD."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError

# USD per million tokens: (input, output). Cache writes cost 1.25x input, reads 0.1x.
FAMILY_PRICES = {
    "opus": (5.0, 25.0),
    "sonnet": (3.0, 15.0),
    "haiku": (1.0, 5.0),
}
# Unknown models are priced high so that the cost cap errs on the safe side.
UNKNOWN_PRICE = (15.0, 75.0)


def price_per_mtok(model: str, overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
    """Prices for ``model``: from ``overrides`` (keyed by model id or family) when given there."""
    overrides = overrides or {}
    key = model if model in overrides else next(
        (fam for fam in FAMILY_PRICES if fam in model and fam in overrides), None)
    if key:
        given = overrides[key]
        if "input" not in given or "output" not in given:
            raise ConfigError(f"prices.{key}: give at least 'input' and 'output' (USD per million tokens)")
        inp, out = given["input"], given["output"]
        return {
            "input": inp,
            "output": out,
            "cache_write": given.get("cache_write", inp * 1.25),
            "cache_read": given.get("cache_read", inp * 0.1),
        }
    inp, out = next((p for fam, p in FAMILY_PRICES.items() if fam in model), UNKNOWN_PRICE)
    return {"input": inp, "output": out, "cache_write": inp * 1.25, "cache_read": inp * 0.1}


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cost_usd += other.cost_usd

    def priced(self, prices: Mapping[str, float]) -> Usage:
        cost = (
            self.input_tokens * prices["input"]
            + self.output_tokens * prices["output"]
            + self.cache_write_tokens * prices["cache_write"]
            + self.cache_read_tokens * prices["cache_read"]
        ) / 1_000_000
        return Usage(self.input_tokens, self.output_tokens, self.cache_write_tokens, self.cache_read_tokens, cost)

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    def input_side(self) -> Usage:
        """The same usage without its output: what the prompt alone cost."""
        return Usage(self.input_tokens, 0, self.cache_write_tokens, self.cache_read_tokens)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        return cls(**{k: data.get(k, 0) for k in cls.__dataclass_fields__})
