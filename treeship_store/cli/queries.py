"""The questions: `events`, `sessions`, `files`, `stats`, of the local
store or, with --db, the central one."""

from __future__ import annotations

import click

from ..errors import ValidationError
from .context import open_reader, output_format
from .options import format_option, one_session_option, scope_options


@click.command()
@scope_options(types=True)
@click.option("--after-seq", type=int, help="Only sequence numbers above this.")
@click.option("--failed", is_flag=True, help="Only processes that exited non-zero.")
@click.option("--search", metavar="WORDS",
              help="Only events whose commands, paths, tools, summaries, reasons, destinations, models or meta "
                   "strings hold every word (up to 32; word* for a prefix); newest first.")
@click.option("--host", "hosts", multiple=True, help="Only events from this host_id (repeatable; with --db).")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many events.")
@click.option("--newest-first", is_flag=True, help="Newest first.")
@format_option
@click.option("--count", is_flag=True, help="Print only the number of matching events (from the index).")
@click.pass_context
def events(ctx: click.Context, session, agent, types, since, until, after_seq, failed, search, hosts, limit,
           newest_first, output, count) -> None:
    """Events matching all the given filters.

    \b
    Examples:
      treeship-store events --agent claude-code --type agent.wrote_file --since 2h
      treeship-store events --failed --since 7d
      treeship-store events --search "pytest -x"
      treeship-store events --type agent.decision --format jsonl | jq .tokens_in
    """
    store = open_reader(ctx)
    filters = dict(agent=agent or None, type=types or None, since=since, until=until, after_seq=after_seq,
                   failed=failed, search=search, limit=limit)
    if hosts:
        if ctx.meta.get("db") is None:
            raise ValidationError("--host needs a central store (--db URL): the local index does not keep hosts")
        filters["host"] = hosts
    if count:
        click.echo(store.count_events(session or None, **filters))
        return
    found = store.events(session or None, newest_first=newest_first or search is not None, **filters)
    from ..render import event_lines  # noqa: PLC0415 - not on the append path
    for line in event_lines(found, output_format(output)):
        click.echo(line)


@click.command()
@format_option
@click.pass_context
def sessions(ctx: click.Context, output: str | None) -> None:
    """One row per session: events, damaged lines, agents, first and last time.

    \b
    Example:
      treeship-store sessions
    """
    from ..render import session_lines  # noqa: PLC0415
    from .usage import report_for  # noqa: PLC0415
    reader = open_reader(ctx)
    summaries = reader.sessions()
    report = report_for(ctx, reader, "session", required=False)
    if report is not None:  # with the prices extra: what each session cost
        for summary in summaries:
            usage = report.groups.get(summary["session_id"])
            summary["cost_usd"] = usage.as_dict()["cost_usd"] if usage else 0.0
    for line in session_lines(summaries, output_format(output)):
        click.echo(line)


@click.command()
@scope_options
@click.option("--read", is_flag=True, help="Files read instead of files written.")
@format_option
@click.pass_context
def files(ctx: click.Context, session, agent, since, until, read, output) -> None:
    """Which files were written (or --read): one row per path, with how many
    events, by which agents, first and last time. From the index alone.

    \b
    Examples:
      treeship-store files --agent codex --since 1d
      treeship-store files --read --session ssn_42e740bd9eb238f6 --format json
    """
    from ..render import file_lines  # noqa: PLC0415
    found = open_reader(ctx).files(session or None, agent=agent or None, since=since, until=until, read=read)
    for line in file_lines(found, output_format(output)):
        click.echo(line)


@click.command()
@one_session_option
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def stats(ctx: click.Context, session: str | None, output: str) -> None:
    """Events by type and agent, tokens by model, failed processes, files written.

    \b
    Example:
      treeship-store stats --session ssn_42e740bd9eb238f6
    """
    from ..render import stats_lines  # noqa: PLC0415
    from .usage import report_for  # noqa: PLC0415
    reader = open_reader(ctx)
    stats = reader.stats(session)
    report = report_for(ctx, reader, "model", required=False, session=session)
    if report is not None:  # with the prices extra: the cost, in total and per model
        stats["cost"] = {"usd": report.total.as_dict()["cost_usd"], "by_model": {
            model: usage.as_dict()["cost_usd"] for model, usage in report.groups.items()},
            "unknown_models": report.unknown_models, "estimated_decisions": report.total.estimated,
            "prices": report.sources}
    for line in stats_lines(stats, output):
        click.echo(line)


