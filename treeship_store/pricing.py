"""What a model decision cost, in US dollars (pip install 'treeship-store[prices]').

Prices come from genai-prices (Pydantic's): an offline snapshot of the
providers' prices with their tiers, cache read and write prices and their
history, priced at the time of the decision. It gives, for the model and
tokens of a real Claude Code session, exactly the cost Claude Code itself
reports (tests/test_costs.py). A user may override a model's prices in a
TOML file ($TREESHIP_STORE_PRICES, or `prices.toml` beside the store's
sessions), in dollars per million tokens:

    [models."my-finetune"]
    input = 3.0
    cache_read = 0.3
    cache_write = 3.75
    output = 15.0

Every figure says where it came from (the library and its version, or the
override file). A decision whose tokens were recorded without the breakdown
(before issue 25, or by another writer) is priced from tokens_in/tokens_out
as if all input were uncached, and marked an estimate. A model neither knows
costs None ("unknown"), never 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .errors import StoreError, ValidationError
from .settings import read_toml
from .times import parse_time

PRICES_ENV = "TREESHIP_STORE_PRICES"
PRICES_FILE = "prices.toml"
# What an override may name, in dollars per million tokens.
OVERRIDE_KEYS = ("input", "cache_read", "cache_write", "cache_write_5m", "cache_write_1h", "output")
MILLION = Decimal(1_000_000)
# The providers as the agents name them -> as genai-prices does.
PROVIDERS = {"anthropic": "anthropic", "openai": "openai", "google": "google", "azure": "azure",
             "bedrock": "aws", "vertex": "google", "mistral": "mistral", "groq": "groq", "deepseek": "deepseek"}


@dataclass(frozen=True)
class Price:
    """A decision's cost: `usd` None when the model's price is unknown."""
    usd: Decimal | None
    source: str | None  # "genai-prices 0.2.3", or the override file
    estimate: bool  # priced without the breakdown of its input tokens
    tokens: dict[str, int]  # what was priced: breakdown()


def breakdown(event: dict) -> tuple[dict[str, int], bool]:
    """The decision's tokens by kind ({input, cache_read, cache_write,
    cache_write_5m, cache_write_1h, output, reasoning}, input uncached), and
    whether they are estimated from tokens_in/tokens_out alone."""
    meta = event.get("meta")
    tokens = meta.get("tokens") if isinstance(meta, dict) else None
    if isinstance(tokens, dict) and all(type(v) is int and v >= 0 for v in tokens.values()) and "input" in tokens:
        found = {kind: tokens.get(kind, 0) for kind in ("input", "cache_read", "cache_write", "cache_write_5m",
                                                        "cache_write_1h", "output", "reasoning")}
        # The 5-minute and 1-hour writes are parts of cache_write: a writer that
        # said less in all than in its parts is read as the parts' sum.
        found["cache_write"] = max(found["cache_write"], found["cache_write_5m"] + found["cache_write_1h"])
        return found, False
    counted = [event.get(name) for name in ("tokens_in", "tokens_out")]
    tokens_in, tokens_out = (value if type(value) is int and value >= 0 else 0 for value in counted)
    return {"input": tokens_in, "cache_read": 0, "cache_write": 0, "cache_write_5m": 0, "cache_write_1h": 0,
            "output": tokens_out, "reasoning": 0}, True


class Pricer:
    """Prices decisions, with the price data loaded and the overrides read once."""

    def __init__(self, store_root: str | os.PathLike | None = None):
        try:
            import genai_prices  # noqa: PLC0415 - an extra; never on the hook or append path
        except ImportError as error:
            raise StoreError(f"costs need their packages ({error.name} is missing): "
                             "pip install 'treeship-store[prices]'") from None
        self._library = genai_prices
        self.library = f"genai-prices {genai_prices.__version__}"
        given = os.environ.get(PRICES_ENV)
        self.overrides_path = Path(given) if given else (
            Path(store_root) / PRICES_FILE if store_root is not None else None)
        self.overrides = load_overrides(self.overrides_path) if self.overrides_path else {}
        if given and not self.overrides_path.exists():  # named on purpose: its absence is a mistake
            raise ValidationError(f"${PRICES_ENV} names {given}, which does not exist")

    def price(self, event: dict) -> Price:
        tokens, estimate = breakdown(event)
        model = event.get("model") if isinstance(event.get("model"), str) else None
        if model is None:
            return Price(None, None, estimate, tokens)
        if model in self.overrides:
            return Price(_override_cost(tokens, self.overrides[model]), str(self.overrides_path), estimate, tokens)
        try:
            usd = self._library.calc_price(self._usage(tokens), model, provider_id=self._provider(event),
                                           genai_request_timestamp=_time(event)).total_price
        except (LookupError, ValueError):  # a model or provider it does not know (its errors are ValueErrors)
            return Price(None, None, estimate, tokens)
        return Price(usd, self.library, estimate, tokens)

    @property
    def sources(self) -> list[str]:
        """Where its prices come from: the library, and the override file if it has one."""
        return [self.library] + ([str(self.overrides_path)] if self.overrides else [])

    def _usage(self, tokens: dict[str, int]):
        cached = tokens["cache_read"] + tokens["cache_write"]
        values = {"input_tokens": tokens["input"] + cached, "cache_read_tokens": tokens["cache_read"],
                  "cache_write_tokens": tokens["cache_write"], "output_tokens": tokens["output"]}
        if tokens["cache_write_5m"] or tokens["cache_write_1h"]:  # where the agent said which (Claude Code)
            values.update(cache_write_5m_tokens=tokens["cache_write_5m"],
                          cache_write_1h_tokens=tokens["cache_write_1h"])
        return self._library.Usage(**values)

    @staticmethod
    def _provider(event: dict) -> str | None:
        """genai-prices' provider id, or None (it finds the provider from the
        model): Codex names its own provider ids (a proxy's), which it may not know."""
        provider = event.get("provider")
        return PROVIDERS.get(provider.lower()) if isinstance(provider, str) else None


def _override_cost(tokens: dict[str, int], rates: dict[str, Decimal]) -> Decimal:
    """The cost at an override's rates; a 5-minute or 1-hour cache write
    without a rate of its own costs the cache_write rate."""
    def rate(kind: str) -> Decimal:
        return rates.get(kind, rates.get("cache_write", Decimal(0)) if kind.startswith("cache_write_") else Decimal(0))
    unsplit = tokens["cache_write"] - tokens["cache_write_5m"] - tokens["cache_write_1h"]
    counts = {"input": tokens["input"], "cache_read": tokens["cache_read"], "cache_write": unsplit,
              "cache_write_5m": tokens["cache_write_5m"], "cache_write_1h": tokens["cache_write_1h"],
              "output": tokens["output"]}
    return sum((Decimal(count) * rate(kind) for kind, count in counts.items()), Decimal(0)) / MILLION


def load_overrides(path: Path) -> dict[str, dict[str, Decimal]]:
    """{model: {kind: dollars per token}} from an override file; {} if there is none."""
    document = read_toml(path, "the price overrides")
    if document is None:
        return {}
    models = document.get("models", {})
    if not isinstance(models, dict):
        raise ValidationError(f"{path}: [models] must be a table of models")
    overrides = {}
    for model, rates in models.items():
        if not isinstance(rates, dict) or not rates or not set(rates) <= set(OVERRIDE_KEYS) or not all(
                type(value) in (int, float) and 0 <= value < 1e6 for value in rates.values()):
            raise ValidationError(f"{path}: models.{model!r} must give prices per million tokens, from 0, for "
                                  f"{', '.join(OVERRIDE_KEYS)}")
        overrides[model] = {kind: Decimal(str(value)) for kind, value in rates.items()}
    return overrides


def _time(event: dict):
    """The decision's time, for the price then in force (None: now)."""
    from datetime import datetime, timezone  # noqa: PLC0415
    try:
        micros = parse_time(event["timestamp"])
    except (KeyError, TypeError, ValueError):
        return None
    return datetime.fromtimestamp(micros / 1e6, tz=timezone.utc)
