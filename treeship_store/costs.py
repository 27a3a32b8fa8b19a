"""Tokens and cost of the decisions a question is about, in total and per
group (`treeship-store usage`, the cost in `stats` and `sessions`, and the
web view's charts): each decision priced once by pricing.Pricer.

A sub-agent's decisions count under its own instance (--by agent) and in its
session (--by session). Times are UTC days, ISO weeks (from Monday) and
months. A decision whose model has no known price adds nothing to the cost
and is counted as unknown, with its model listed: a cost is never a silent 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from .errors import ValidationError
from .pricing import Price, Pricer
from .times import parse_time

GROUPS = ("day", "week", "month", "session", "model", "agent", "host", "project")
KINDS = ("input", "cache_read", "cache_write", "output", "reasoning")


@dataclass
class Usage:
    """Tokens by kind and cost of some decisions."""
    decisions: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    cost: Decimal = Decimal(0)  # of the decisions with a known price
    unknown: int = 0  # decisions without a known price: the cost leaves them out
    estimated: int = 0  # decisions priced without their input's breakdown

    def add(self, price: Price) -> None:
        self.decisions += 1
        for kind in KINDS:
            self.tokens[kind] += price.tokens[kind]
        if price.usd is None:
            self.unknown += 1
        else:
            self.cost += price.usd
        self.estimated += price.estimate

    def shown(self) -> str:
        """The cost as people read it: "unknown" when no decision had a known
        price, a "+" when some had none (the sum leaves them out)."""
        if self.decisions and self.unknown == self.decisions:
            return "unknown"
        return f"${self.cost:,.4f}" + ("+" if self.unknown else "")

    def as_dict(self) -> dict:
        """The JSON shape: cost_usd null when no decision has a known price."""
        return {"decisions": self.decisions, "tokens": dict(self.tokens), "total_tokens": sum(
            self.tokens[kind] for kind in KINDS if kind != "reasoning"),  # reasoning is part of output
            "cost_usd": None if self.unknown == self.decisions and self.decisions else float(self.cost),
            "unknown_price_decisions": self.unknown, "estimated_decisions": self.estimated}


@dataclass
class Report:
    by: str | None
    groups: dict[str, Usage]
    total: Usage
    unknown_models: dict[str, int]
    sources: list[str]

    def as_dict(self) -> dict:
        return {"by": self.by, "groups": [{"group": name, **usage.as_dict()} for name, usage in self.groups.items()],
                "total": self.total.as_dict(), "unknown_models": self.unknown_models, "prices": self.sources}


def usage_report(decisions: Iterable[dict], pricer: Pricer, by: str | None, project: str | None = None) -> Report:
    """Tokens and cost of `decisions` (agent.decision events), in total and,
    with `by`, per group, in the group's order."""
    return report_of(priced(decisions, pricer), pricer.sources, by, project)


def priced(decisions: Iterable[dict], pricer: Pricer) -> list[tuple[dict, Price]]:
    """Each decision with its price, priced once whatever it is then counted in."""
    return [(event, pricer.price(event)) for event in decisions]


def report_of(pairs: list[tuple[dict, Price]], sources: list[str], by: str | None,
              project: str | None = None) -> Report:
    """usage_report of decisions priced already (priced())."""
    if by is not None and by not in GROUPS:
        raise ValidationError(f"--by must be one of {', '.join(GROUPS)}, got {by!r}")
    groups: dict[str, Usage] = {}
    total = Usage()
    unknown: dict[str, int] = {}  # model -> decisions without a known price
    for event, price in pairs:
        total.add(price)
        if price.usd is None:
            model = event.get("model") if isinstance(event.get("model"), str) else "(no model)"
            unknown[model] = unknown.get(model, 0) + 1
        if by is not None:
            groups.setdefault(group_of(event, by, project), Usage()).add(price)
    ordered = dict(sorted(groups.items(), key=lambda item: item[0]))
    return Report(by, ordered, total, dict(sorted(unknown.items())), sources)


def group_of(event: dict, by: str, project: str | None) -> str:
    if by in ("day", "week", "month"):
        day = _day(event.get("timestamp"))
        if day is None:
            return "(no time)"
        return (day.isoformat() if by == "day" else (day - timedelta(days=day.weekday())).isoformat() if by == "week"
                else day.isoformat()[:7])
    if by == "project":
        if project is None:
            raise ValidationError("--by project needs a local store (one project each); a central store "
                                  "groups by host")
        return project
    name = {"session": "session_id", "model": "model", "agent": "agent_instance_id", "host": "host_id"}[by]
    value = event.get(name)
    if by == "agent" and isinstance(value, str):
        return f"{value} ({event.get('agent_name')})"
    return value if isinstance(value, str) else "-"


def _day(timestamp: object) -> date | None:
    try:
        micros = parse_time(timestamp) if isinstance(timestamp, str) else None
    except ValueError:
        return None
    return None if micros is None else date(1970, 1, 1) + timedelta(microseconds=micros)


def grid_of(pairs: list[tuple[dict, Price]], rows: str, columns: str) -> dict[str, dict[str, Usage]]:
    """{row group: {column group: usage}} of decisions priced already (the web
    view's stacked bars: per day, by model)."""
    grid: dict[str, dict[str, Usage]] = {}
    for event, price in pairs:
        row = grid.setdefault(group_of(event, rows, None), {})
        row.setdefault(group_of(event, columns, None), Usage()).add(price)
    return dict(sorted(grid.items()))
