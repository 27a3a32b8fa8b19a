"""`treeship-store append`: its options for click (appending.py parses a
plain call before click loads, and writes both)."""

from __future__ import annotations

import click

from .. import appending
from ..appending import FIELD_FLAGS
from ..errors import ValidationError


@click.command()
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


