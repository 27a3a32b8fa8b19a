"""`treeship-store usage`: tokens of each kind and what they cost, in total
and per day, week, month, session, model, agent, host or project (as
ccusage's reports show them), from the local store or a central one (--db).
Prices: pricing.py (the `prices` extra)."""

from __future__ import annotations

import click

from ..costs import GROUPS, KINDS
from .context import open_reader, output_format
from .options import format_option, scope_options


def report_for(ctx: click.Context, reader, by: str | None = None, *, required: bool = True, **filters):
    """The costs.Report of the decisions these filters keep; None when the
    prices extra is not installed and the cost not `required` (stats and
    sessions go on without one)."""
    import importlib.util  # noqa: PLC0415
    if not required and importlib.util.find_spec("genai_prices") is None:
        return None
    from ..costs import usage_report  # noqa: PLC0415
    from ..pricing import Pricer  # noqa: PLC0415 - says what to install when genai-prices is missing
    local = ctx.meta.get("db") is None
    pricer = Pricer(ctx.obj if local else None)
    project = str(ctx.obj.resolve().parent) if local else None
    return usage_report(reader.events(type="agent.decision", **filters), pricer, by, project)


@click.command()
@click.option("--by", type=click.Choice(GROUPS), help="One row per day, week (from Monday), month, session, model, "
              "agent instance, host or project; the total alone without it.")
@scope_options
@format_option
@click.pass_context
def usage(ctx: click.Context, by, session, agent, since, until, output) -> None:
    """Tokens (input, cache reads, cache writes, output, reasoning) and their
    cost in US dollars, of every model decision the filters keep, in total
    and per --by group. A model without a known price costs "unknown" and is
    listed; a decision recorded without its tokens' breakdown is priced as
    uncached input, and counted as an estimate.

    \b
    Examples:
      treeship-store usage --by day --since 30d
      treeship-store usage --by model --agent claude-code --format json
      treeship-store --db "$TREESHIP_STORE_DB" usage --by host --since 7d
    """
    reader = open_reader(ctx)
    report = report_for(ctx, reader, by, session=session or None, agent=agent or None, since=since, until=until)
    output = output_format(output)
    if output != "table":
        from ..render import json_text  # noqa: PLC0415
        import orjson  # noqa: PLC0415
        data = report.as_dict()
        if output == "json":
            click.echo(json_text(data))
        else:
            for row in data["groups"]:
                click.echo(orjson.dumps(row).decode())
            click.echo(orjson.dumps({"group": "total", **data["total"]}).decode())
        return
    from ..render import table  # noqa: PLC0415
    rows = [*report.groups.items(), ("TOTAL", report.total)] if by else [("TOTAL", report.total)]
    for line in table([[name, usage.decisions, *(usage.tokens[kind] for kind in KINDS),
                        usage.as_dict()["total_tokens"], usage.shown()] for name, usage in rows],
                      [(by or "").upper() or "-", "DECISIONS", "INPUT", "CACHE READ", "CACHE WRITE", "OUTPUT",
                       "REASONING", "TOTAL TOKENS", "COST"]):
        click.echo(line)
    for model, count in report.unknown_models.items():
        click.echo(f"unknown price: {model} ({count} decision(s)); add it to the price overrides to count it")
    if report.total.estimated:
        click.echo(f"estimated: {report.total.estimated} decision(s) recorded without their tokens' breakdown, "
                   "priced as uncached input")
    click.echo("prices: " + "; ".join(report.sources))
