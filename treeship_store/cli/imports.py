"""`treeship-store import claude-code|codex`: the sessions the agents
recorded themselves, before our hooks (or while they were off), brought
into the store (capture/history.py reads them, capture/replay.py writes)."""

from __future__ import annotations

import os

import click

from ..errors import ValidationError
from ..filters import time_bound
from .hooks import AGENT_NAMES


@click.command("import")
@click.argument("agent", metavar="AGENT", type=click.Choice([*AGENT_NAMES, "treeship"]))
@click.option("--path", metavar="PATH",
              help="A copied directory of the agent's records, or one session's file [default: the agent's own: "
                   "$CLAUDE_CONFIG_DIR or ~/.claude/projects, $CODEX_HOME or ~/.codex/sessions].")
@click.option("--since", help="Only sessions active since this time: RFC 3339, or an age such as 30d.")
@click.option("--with-text", is_flag=True, help="Also keep what was said: each turn's prompt and last answer, "
              "redacted and cut at 4,000 characters, searchable with `events --search`.")
@click.pass_context
def import_(ctx: click.Context, agent: str, path: str | None, since: str | None, with_text: bool) -> None:
    """Import what AGENT (claude-code or codex) already recorded: every
    session's tool calls, files, commands with exit codes, sub-agents and
    tokens, with the times the agent wrote down, into the store the hooks
    would use (the nearest .treeship at or above each session's directory),
    or all into --root. Importing again adds only what is new, and never
    what the hooks recorded already.

    \b
    `import treeship --path DIR|FILE` brings back sessions `prune --archive`
    kept (<session>.tar.gz), byte for byte, into a store without them.

    \b
    Examples:
      treeship-store import claude-code
      treeship-store import codex --since 30d
      treeship-store --root ./.treeship import claude-code --path ~/backup/claude/projects
    """
    from ..capture.history import find_files  # noqa: PLC0415
    from ..capture.replay import import_history  # noqa: PLC0415
    since_us = time_bound(since, "since")
    if path is not None and not os.path.lexists(path):
        raise ValidationError(f"--path {path}: no such file or directory")
    if agent == "treeship":
        if since is not None or with_text:
            raise click.UsageError("--since and --with-text are for an agent's records: an archive comes back whole")
        restore(ctx, path)
        return
    files = find_files(agent, path)
    sizes = sum(_size(file) for file in files)
    # On a terminal a bar (bytes, files, sessions, ETA); elsewhere its label once.
    with click.progressbar(length=sizes or 1, label=f"importing {len(files)} {agent} file(s)",
                           file=click.get_text_stream("stderr"), show_eta=True,
                           item_show_func=lambda text: text) as bar:
        report = import_history(agent, files, since_us=since_us, root=ctx.meta.get("explicit_root"),
                                progress=lambda done, text: bar.update(done, text), with_text=with_text)
    click.echo(f"imported {report.events} event(s) into {report.changed} of {report.sessions} session(s) "
               f"from {report.files} file(s), {report.bytes / 1e6:.1f} MB"
               + (f"; {report.bad_lines} line(s) not JSON, passed over" if report.bad_lines else ""))
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
    if report.problems:
        ctx.exit(1)


def restore(ctx: click.Context, path: str | None) -> None:
    """Sessions back from a prune's archives (retention.restore_archives)."""
    from pathlib import Path  # noqa: PLC0415

    from ..retention import restore_archives  # noqa: PLC0415
    if path is None:
        raise ValidationError("import treeship needs --path: a prune's archive directory or one <session>.tar.gz")
    archives = sorted(str(p) for p in Path(path).glob("*.tar.gz")) if os.path.isdir(path) else [path]
    restored, problems = restore_archives(archives, Path(ctx.obj))
    click.echo(f"restored {restored} session(s) from {len(archives)} archive(s)")
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    if problems:
        ctx.exit(1)


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
