"""The commands for looking after a store: reindex, verify, tail, demo.
Loaded only when one of them runs (cli.StoreGroup): a hook's append never
builds them."""

from __future__ import annotations

import sys

import click

from .context import open_reader, open_store, output_format
from .options import one_session_option


@click.command()
@one_session_option
@click.option("--full", is_flag=True, help="Rebuild from the JSONL instead of catching up.")
@click.pass_context
def reindex(ctx: click.Context, session: str | None, full: bool) -> None:
    """Catch the index up with the JSONL files, or rebuild it (--full).

    \b
    Example:
      treeship-store reindex --full
    """
    store = open_store(ctx)
    if sys.stderr.isatty():
        with click.progressbar(length=1, label="indexing", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)
            report = store.reindex(session, full=full, progress=progress)
    else:
        report = store.reindex(session, full=full)
    click.echo(f"reindexed {report.sessions} session(s): {report.events} events, "
               f"{report.damaged_lines} damaged lines, {report.seconds:.2f}s")


@click.command()
@one_session_option
@click.pass_context
def verify(ctx: click.Context, session: str | None) -> None:
    """Check the index against the JSONL, sequence numbers, and damaged lines.

    Changes nothing. Exit status 0 when clean, 1 when it finds problems or
    damaged lines.

    \b
    Example:
      treeship-store verify --session ssn_42e740bd9eb238f6
    """
    from ..render import printable  # noqa: PLC0415
    if ctx.meta.get("db") is not None:
        from .central import verify_central  # noqa: PLC0415
        verify_central(ctx, open_reader(ctx), session)
        return
    report = open_store(ctx).verify(session)
    for problem in report.problems:
        click.echo(f"problem: {printable(problem)}")
    for line in report.damaged:
        click.echo(f"damaged: session {line.session_id} line {line.line_no} at byte {line.offset} "
                   f"({line.length} bytes): {printable(line.reason)}")
    for note in report.notes:
        click.echo(f"note: {printable(note)}")
    verdict = "ok" if report.ok else f"{len(report.problems)} problem(s), {len(report.damaged)} damaged line(s)"
    click.echo(f"verified {report.sessions} session(s), {report.events} events: {verdict}")
    ctx.exit(0 if report.ok else 1)


@click.command()
@click.argument("session_id")
@click.option("-n", "lines", type=click.IntRange(min=0), default=10, show_default=True, help="How many events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they are appended; Ctrl-C stops.")
@click.option("--format", "output", type=click.Choice(["table", "jsonl"]),
              help="Default: table on a terminal, jsonl when piped.")
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.25, show_default=True,
              help="Seconds between checks with -f.")
@click.pass_context
def tail(ctx: click.Context, session_id: str, lines: int, follow: bool, output: str | None,
         interval: float) -> None:
    """The last events of SESSION_ID; with -f, new ones as any writer appends them.

    \b
    Example:
      treeship-store tail ssn_42e740bd9eb238f6 -n 20 -f
    """
    from ..render import event_header, event_row  # noqa: PLC0415
    store = open_store(ctx)
    table = output_format(output) == "table"
    if not follow and not store.sessions_dir.joinpath(session_id).is_dir():
        store.read_session(session_id)  # raises the store's "no session" error (or a bad-id error)

    def show(events) -> None:
        for event in events:
            click.echo(event_row(event) if table else event.raw)

    if table:
        click.echo(event_header())
    # Followed from the line after the last event shown (by line, not
    # sequence_no: a later line may repeat a sequence_no).
    last = list(store.events(session_id, newest_first=True, limit=max(lines, 1)))
    show(reversed(last[:lines]))
    try:
        if follow:
            show(store.follow(session_id, after_seq=max((e.line_no for e in last), default=-1), interval=interval))
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("directory", default="treeship-demo")
def demo(directory: str) -> None:
    """Write a sample store (sessions of several agents, every event type, a
    sub-agent hand-off, a failed process, one damaged line) under DIRECTORY.

    \b
    Example:
      treeship-store demo /tmp/demo
    """
    from pathlib import Path  # noqa: PLC0415

    from ..demo import write_demo  # noqa: PLC0415
    from ..render import session_lines  # noqa: PLC0415
    root = Path(directory) / ".treeship"
    store = write_demo(root)
    click.echo(f"wrote a sample store to {root}\n")
    for line in session_lines(store.sessions(), "table"):
        click.echo(line)
    command = f"treeship-store --root {root}"
    click.echo(f"""
Explore it:
  {command} events --agent codex
  {command} events --type agent.wrote_file --format json
  {command} events --failed            # processes that exited non-zero
  {command} files --agent codex      # which files codex wrote
  {command} stats
  {command} tail ssn_4f1d2a9b7c3e8d01 -n 5
  {command} verify          # finds the damaged line a crashed writer left
  {command} append ssn_0c1d2e3f4a5b6c7d --type agent.called_tool --tool Read --agent-id agent://claude-code""")
