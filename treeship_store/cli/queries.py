"""The questions: `events`, `sessions`, `files`, `stats`, of the local
store or, with --db, the central one."""

from __future__ import annotations

import click

from ..errors import ValidationError
from .context import FORMATS, open_reader, output_format


@click.command()
@click.option("--session", multiple=True, help="Only this session (repeatable).")
@click.option("--agent", multiple=True, help="Agent id, name or instance id (repeatable).")
@click.option("--type", "types", multiple=True, help="Event type (repeatable).")
@click.option("--since", help="From this time (inclusive): RFC 3339, or an age such as 30m, 2h, 7d.")
@click.option("--until", help="Up to this time (exclusive): RFC 3339 or an age.")
@click.option("--after-seq", type=int, help="Only sequence numbers above this.")
@click.option("--failed", is_flag=True, help="Only processes that exited non-zero.")
@click.option("--search", metavar="WORDS",
              help="Only events whose commands, paths, tools, summaries, reasons, destinations, models or meta "
                   "strings hold every word (up to 32; word* for a prefix); newest first.")
@click.option("--host", "hosts", multiple=True, help="Only events from this host_id (repeatable; with --db).")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many events.")
@click.option("--newest-first", is_flag=True, help="Newest first.")
@click.option("--format", "output", type=FORMATS, help="Default: table on a terminal, jsonl when piped.")
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
@click.option("--format", "output", type=FORMATS, help="Default: table on a terminal, jsonl when piped.")
@click.pass_context
def sessions(ctx: click.Context, output: str | None) -> None:
    """One row per session: events, damaged lines, agents, first and last time.

    \b
    Example:
      treeship-store sessions
    """
    from ..render import session_lines  # noqa: PLC0415
    for line in session_lines(open_reader(ctx).sessions(), output_format(output)):
        click.echo(line)


@click.command()
@click.option("--session", multiple=True, help="Only this session (repeatable).")
@click.option("--agent", multiple=True, help="Agent id, name or instance id (repeatable).")
@click.option("--since", help="From this time (inclusive): RFC 3339, or an age such as 30m, 2h, 7d.")
@click.option("--until", help="Up to this time (exclusive): RFC 3339 or an age.")
@click.option("--read", is_flag=True, help="Files read instead of files written.")
@click.option("--format", "output", type=FORMATS, help="Default: table on a terminal, jsonl when piped.")
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
@click.option("--session", help="Only this session.")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def stats(ctx: click.Context, session: str | None, output: str) -> None:
    """Events by type and agent, tokens by model, failed processes, files written.

    \b
    Example:
      treeship-store stats --session ssn_42e740bd9eb238f6
    """
    from ..render import stats_lines  # noqa: PLC0415
    for line in stats_lines(open_reader(ctx).stats(session), output):
        click.echo(line)


