"""The `treeship-store` command: parses, calls Store, prints.

The append path is what a hook runs once per tool call, as a new process: it
imports only click, the store and what they need. Output rendering, verify and
the demo load only in the commands that use them.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

import click

from . import __version__
from .errors import StoreError, ValidationError
from . import appending
from .appending import FIELD_FLAGS
from .store import ROOT_ENV, Store, find_root

if TYPE_CHECKING:
    from .backend import Reader

FORMATS = click.Choice(["table", "json", "jsonl"])
# Treeship's own flag names for type fields.


class StoreGroup(click.Group):
    """Turns the store's errors into one line on stderr and exit status 1, and
    loads the hook commands only when one is asked for (append never pays)."""

    LAZY = {"hook": "cli_hooks", "hooks": "cli_hooks", "reindex": "cli_admin", "verify": "cli_admin",
            "tail": "cli_admin", "demo": "cli_admin", "serve": "cli_web", "push": "cli_central",
            "export": "cli_export"}

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            import importlib  # noqa: PLC0415
            return getattr(importlib.import_module(f".{self.LAZY[name]}", __package__), name)
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if error.ctx is None or error.ctx.command.name != "hook":
                raise
            self.fail(ctx, error)  # a hook never exits 2: Claude Code takes 2 as "block the agent"
        except StoreError as error:
            self.fail(ctx, error)

    @staticmethod
    def fail(ctx: click.Context, error: Exception) -> None:
        from .render import printable  # noqa: PLC0415 - only when failing
        click.echo(f"Error: {printable(str(error))}", err=True)
        ctx.exit(1)


@click.group(cls=StoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", metavar="DIR",
              help="Store root (default: $TREESHIP_STORE_ROOT, else the nearest .treeship directory "
                   "here or above, else ./.treeship).")
@click.option("--db", metavar="URL",
              help="Ask a central PostgreSQL store (a libpq connection string) instead of the local one: "
                   "events, sessions, files, stats and verify.")
@click.option("--version", is_flag=True, is_eager=True, expose_value=False, callback=lambda ctx, _, shown: shown
              and (click.echo(f"treeship-store {__version__}"), ctx.exit()), help="Show the version and exit.")
@click.pass_context
def cli(ctx: click.Context, root: str | None, db: str | None) -> None:
    """Keep AI-agent session events safe and fast to query.

    Reads and writes Treeship's .treeship/sessions/<id>/events.jsonl, with a
    SQLite index beside it.

    \b
    Example:
      treeship-store demo /tmp/demo
      treeship-store --root /tmp/demo/.treeship events --type agent.wrote_file
    """
    ctx.obj = find_root(root)
    # A hook finds its store from its payload unless told: --root or $TREESHIP_STORE_ROOT.
    ctx.meta["explicit_root"] = root or os.environ.get(ROOT_ENV) or None
    ctx.meta["db"] = db
    handler = logging.StreamHandler()  # what the library logs (a session left out...), as one line each
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logging.getLogger("treeship_store").addHandler(handler)


def open_store(ctx: click.Context, **options) -> Store:
    """The local store; --db is for the read commands (open_reader) and push."""
    if ctx.meta.get("db") is not None and ctx.command.name != "push":
        raise ValidationError(f"--db works with events, sessions, files, stats, verify and push, "
                              f"not {ctx.command.name}")
    return Store(ctx.obj, **options)


def open_reader(ctx: click.Context) -> Reader:
    """The store the read commands ask: the central one with --db, else the local one."""
    if ctx.meta.get("db") is None:
        return Store(ctx.obj)
    try:
        from .central import CentralStore  # noqa: PLC0415 - only with --db
    except ImportError as error:
        raise StoreError(f"a central store needs its packages ({error.name} is missing): "
                         "pip install 'treeship-store[postgres]'") from None
    return CentralStore(ctx.meta["db"])


def output_format(chosen: str | None) -> str:
    return chosen or ("table" if sys.stdout.isatty() else "jsonl")


@cli.command()
@click.argument("session_id")
@click.option("--type", "event_type", help="Event type, e.g. agent.called_tool.")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read events from standard input: JSON lines, or one JSON array.")
@click.option("--agent-id", help="Agent URI [$TREESHIP_AGENT_ID].")
@click.option("--agent-name", help="Agent name [$TREESHIP_AGENT_NAME; default: from the agent id].")
@click.option("--agent-instance-id", help="Agent instance [$TREESHIP_AGENT_INSTANCE_ID].")
@click.option("--agent-role", help="Agent role, e.g. operator.")
@click.option("--host-id", help="Host [$TREESHIP_HOST_ID; default: this machine's name].")
@click.option("--tool", help="tool_name (agent.called_tool).")
@click.option("--file", help="file_path (agent.read_file, agent.wrote_file).")
@click.option("--destination", help="destination (agent.connected_network).")
@click.option("--duration-ms", type=int, help="duration_ms.")
@click.option("--exit-code", type=int, help="exit_code (agent.completed_process).")
@click.option("--model", help="model (agent.decision).")
@click.option("--provider", help="provider (agent.decision).")
@click.option("--tokens-in", type=int, help="tokens_in (agent.decision).")
@click.option("--tokens-out", type=int, help="tokens_out (agent.decision).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Any field, typed by the schema; repeat a list field's key for each item.")
@click.option("--meta", help="meta, as JSON.")
@click.option("--allow-unknown", is_flag=True, help="Accept types and fields this version does not know.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored event(s) as JSON lines.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to wait for the session lock before giving up (nothing is written).")
@click.pass_context
def append(ctx: click.Context, session_id: str, event_type: str | None, from_stdin: bool, assignments: tuple,
           meta: str | None, allow_unknown: bool, as_json: bool, lock_timeout: float, **flags) -> None:
    """Append one event (from flags) or several (--stdin) to SESSION_ID.

    \b
    Examples:
      treeship-store append ssn_42e740bd9eb238f6 --type agent.called_tool --tool Read \\
          --agent-id agent://claude-code --duration-ms 42
      echo '{"type":"agent.read_file","file_path":"a.py"}' | treeship-store append ssn_1 --stdin
    """
    if from_stdin and (event_type or assignments or meta or any(flags[name] is not None for name in FIELD_FLAGS)):
        raise click.UsageError("--stdin takes the events from standard input; give no --type or field flags")
    if not from_stdin and not event_type:
        raise click.UsageError("give --type TYPE, or --stdin")
    if ctx.meta.get("db") is not None:
        raise ValidationError("--db works with events, sessions, files, stats, verify and push, not append")
    options = {"root": str(ctx.obj), "session_id": session_id, "event_type": event_type, "from_stdin": from_stdin,
               "assignments": list(assignments), "meta": meta, "allow_unknown": allow_unknown, "as_json": as_json,
               "lock_timeout": lock_timeout, **flags}
    for line in appending.append(options, click.get_binary_stream("stdin").read() if from_stdin else None):
        click.echo(line)


@cli.command()
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
    from .render import event_lines  # noqa: PLC0415 - not on the append path
    for line in event_lines(found, output_format(output)):
        click.echo(line)


@cli.command()
@click.option("--format", "output", type=FORMATS, help="Default: table on a terminal, jsonl when piped.")
@click.pass_context
def sessions(ctx: click.Context, output: str | None) -> None:
    """One row per session: events, damaged lines, agents, first and last time.

    \b
    Example:
      treeship-store sessions
    """
    from .render import session_lines  # noqa: PLC0415
    for line in session_lines(open_reader(ctx).sessions(), output_format(output)):
        click.echo(line)


@cli.command()
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
    from .render import file_lines  # noqa: PLC0415
    found = open_reader(ctx).files(session or None, agent=agent or None, since=since, until=until, read=read)
    for line in file_lines(found, output_format(output)):
        click.echo(line)


@cli.command()
@click.option("--session", help="Only this session.")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def stats(ctx: click.Context, session: str | None, output: str) -> None:
    """Events by type and agent, tokens by model, failed processes, files written.

    \b
    Example:
      treeship-store stats --session ssn_42e740bd9eb238f6
    """
    from .render import stats_lines  # noqa: PLC0415
    for line in stats_lines(open_reader(ctx).stats(session), output):
        click.echo(line)


def main() -> None:
    try:
        cli(prog_name="treeship-store")
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
