"""What the pages show of costs: per session in the sessions list, by model
and by agent instance on a session's page, and the stats page's charts
(tokens and cost per day, stacked by model, and cost per agent). Prices are
pricing.py's (the `prices` extra); without it the pages say how to get them.
Called inside a worker thread, as store() must be."""

from __future__ import annotations

import importlib.util

from starlette.requests import Request

from ..costs import Usage, grid_of, priced, report_of
from . import charts
from .stores import store


def pricer(request: Request):
    """A Pricer for the app's store, or None without the prices extra."""
    if importlib.util.find_spec("genai_prices") is None:
        return None
    from ..pricing import Pricer  # noqa: PLC0415
    return Pricer(None if request.app.state.db else request.app.state.root)


def list_costs(request: Request, sessions: list[dict]) -> dict[str, Usage] | None:
    """{session id: its usage} of the sessions a list page shows."""
    prices = pricer(request)
    if prices is None or not sessions:
        return None
    decisions = store(request).events([s["session_id"] for s in sessions], type="agent.decision")
    return report_of(priced(decisions, prices), prices.sources, "session").groups


def session_costs_by(request: Request, session_id: str) -> dict | None:
    """A session's usage by model and by agent instance, and its total."""
    prices = pricer(request)
    if prices is None:
        return None
    pairs = priced(store(request).events(session_id, type="agent.decision"), prices)
    by_model, by_agent = (report_of(pairs, prices.sources, by) for by in ("model", "agent"))
    return {"total": by_model.total, "by_model": by_model.groups, "by_agent": by_agent.groups,
            "unknown": by_model.unknown_models}


def stats_charts(request: Request, session: str | None, since: str | None, until: str | None) -> dict | None:
    """The stats page's charts, as SVG, for the chosen session and time range."""
    prices = pricer(request)
    if prices is None:
        return None
    pairs = priced(store(request).events(session, type="agent.decision", since=since, until=until), prices)
    days = grid_of(pairs, "day", "model")
    models = sorted({model for row in days.values() for model in row})
    columns = list(days)

    def series(value) -> dict[str, list[float]]:
        return {model: [value(days[day][model]) if model in days[day] else 0 for day in columns]
                for model in models}
    report = report_of(pairs, prices.sources, "agent")
    return {"total": report.total, "unknown": report.unknown_models, "prices": report.sources,
            "tokens": charts.stacked_bars("Tokens per day, by model", columns, series(
                lambda usage: usage.as_dict()["total_tokens"]), "tokens"),
            "cost": charts.stacked_bars("Cost per day, by model (US dollars)", columns, series(
                lambda usage: float(usage.cost)), "$"),
            "agents": charts.bars("Cost by agent instance (US dollars)", {
                name: float(usage.cost) for name, usage in report.groups.items()}, "$")}
