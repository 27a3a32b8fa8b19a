"""`treeship-store hook <agent>` and `treeship-store hooks install|uninstall`.

The capture package loads only when these commands run. A hook never exits
2, which Claude Code takes as "block the agent": every failure, a usage error
included, is one line on stderr and exit status 1 (see cli.StoreGroup).
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import StoreError

AGENT_NAMES = ("claude-code", "codex")


@click.command()
@click.argument("agent", metavar="AGENT")
@click.option("--lock-timeout", type=float, default=None,
              help="Seconds to wait for the session's lock before giving up, writing nothing [default: 5].")
@click.option("--with-text", is_flag=True, help="Keep the user's prompts and the agent's answers as searchable "
              "text (redacted). `hooks install --with-text` installs it so.")
@click.pass_context
def hook(ctx: click.Context, agent: str, lock_timeout: float | None, with_text: bool) -> None:
    """Record one hook call of AGENT (claude-code or codex): the hook's JSON
    payload on standard input becomes events in the store at or above the
    payload's cwd (or --root). Installed by `treeship-store hooks install`.

    \b
    Example (what Claude Code runs after each tool call):
      echo '{"session_id":"...","hook_event_name":"PostToolUse",...}' | treeship-store hook claude-code
    """
    data = click.get_binary_stream("stdin").read()
    try:
        from ..capture import HOOK_LOCK_TIMEOUT, run_hook  # noqa: PLC0415 - only for hooks
        run_hook(agent, data, root=ctx.meta.get("explicit_root"),
                 lock_timeout=HOOK_LOCK_TIMEOUT if lock_timeout is None else lock_timeout, with_text=with_text)
    except StoreError:
        raise
    except Exception as error:  # noqa: BLE001 - a hook must fail in one line, whatever broke
        raise StoreError(f"hook {agent}: {type(error).__name__}: {error}") from None


@click.command()
@click.pass_context
def statusline(ctx: click.Context) -> None:
    """One line for Claude Code's status line: the model, the session's cost,
    its tokens and failed commands so far, from Claude Code's status JSON on
    standard input and the session's record. `hooks install claude-code
    --statusline` sets it up.

    \b
    Example (what Claude Code runs):
      echo '{"session_id":"...","cwd":"...","model":{"display_name":"Opus"}}' | treeship-store statusline
    """
    from ..capture.statusline import line  # noqa: PLC0415
    click.echo(line(click.get_binary_stream("stdin").read(), ctx.meta.get("explicit_root")))


@click.group()
def hooks() -> None:
    """Install or remove treeship-store's hooks in Claude Code's or Codex's settings.

    \b
    Examples:
      treeship-store hooks install claude-code            # this project's .claude/settings.json
      treeship-store hooks install codex --user --trust   # ~/.codex/hooks.json, trusted in ~/.codex/config.toml
      treeship-store hooks status codex                   # will they run? exit 1 if not
      treeship-store hooks uninstall claude-code --dry-run
    """


def _where(function):
    function = click.option("--user", is_flag=True, help="The user's settings (~/.claude, ~/.codex).")(function)
    function = click.option("--project", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
                            help="The project whose settings to change [default: the current directory].")(function)
    return click.argument("agent", type=click.Choice(AGENT_NAMES))(function)


def _target(function):
    function = click.option("--dry-run", is_flag=True, help="Print the resulting settings; write nothing.")(function)
    return _where(function)


@hooks.command()
@_target
@click.option("--trust", is_flag=True,
              help="Codex: also trust our hooks (and the project) in $CODEX_HOME/config.toml, as Codex's /hooks "
                   "screen would. Read README's 'Codex's trust' first.")
@click.option("--with-text", is_flag=True,
              help="Also keep what was said: the user's prompts and the agent's answers, redacted and cut at "
                   "4,000 characters, searchable with `events --search`. Off unless given; installing again "
                   "without it turns it off.")
@click.option("--statusline", is_flag=True,
              help="Claude Code: also show the session's cost, tokens and failed commands in its status line "
                   "(not over a status line of your own).")
def install(agent: str, project: Path | None, user: bool, dry_run: bool, trust: bool, with_text: bool,
            statusline: bool) -> None:
    """Add our hooks to AGENT's settings. Other settings and hooks stay as they
    are; installing twice changes nothing. Says what is left to do before
    the agent will run them."""
    if trust and agent != "codex":
        raise click.UsageError("--trust is for codex: Claude Code has no per-hook trust")
    if statusline and agent != "claude-code":
        raise click.UsageError("--statusline is for claude-code: Codex has no status-line command")
    path = _change("install", agent, project, user, dry_run, with_text=with_text, statusline=statusline)
    if dry_run:
        return
    from ..capture import trust as gates  # noqa: PLC0415
    directory = None if user else path.parent.parent
    if trust:
        for line in gates.write_codex_trust(path, directory) or ["nothing to trust: already trusted"]:
            click.echo(f"{gates.codex_home() / 'config.toml'}: {line}")
    failing = [check for check in gates.status(agent, path, directory) if not check.ok]
    for check in failing:
        click.echo(f"left to do: {check.name}: {check.detail}")
    if failing and agent == "codex":
        click.echo("Codex skips untrusted hooks without a word: review them in codex's /hooks screen, "
                   "or run this again with --trust. `treeship-store hooks status codex` checks.")
    click.echo(f"The hooks record from now on; `treeship-store import {agent}` brings in the sessions "
               f"{agent} recorded before (it keeps them only so long).")


@hooks.command()
@_target
def uninstall(agent: str, project: Path | None, user: bool, dry_run: bool) -> None:
    """Remove our hooks, and only ours, from AGENT's settings."""
    _change("uninstall", agent, project, user, dry_run)


@hooks.command()
@_where
def status(agent: str, project: Path | None, user: bool) -> None:
    """Whether AGENT will run our hooks, from its own configuration: installed,
    the command present, and for Codex the project and each hook trusted
    with a current hash. Exit 0 when they will run, 1 when not."""
    from ..capture import trust as gates  # noqa: PLC0415
    from ..capture.install import settings_path  # noqa: PLC0415
    if user and project:
        raise click.UsageError("give --project or --user, not both")
    path = settings_path(agent, project=project, user=user)
    checks = gates.status(agent, path, None if user else path.parent.parent)
    for check in checks:
        click.echo(f"{check.name + ':':18} {'ok' if check.ok else 'NO'}  {check.detail}")
    if not all(check.ok for check in checks):
        click.echo(f"{agent} will not run treeship-store's hooks.")
        raise SystemExit(1)
    click.echo(f"{agent} will run treeship-store's hooks.")


def _change(action: str, agent: str, project: Path | None, user: bool, dry_run: bool, **options) -> Path:
    from ..capture import install as settings  # noqa: PLC0415
    if user and project:
        raise click.UsageError("give --project or --user, not both")
    path = settings.settings_path(agent, project=project, user=user)
    changed, text = getattr(settings, action)(agent, path, dry_run=dry_run, **options)
    if dry_run:
        click.echo(text, nl=False)
    elif not changed:
        click.echo(f"{path}: nothing to {action}")
    else:
        click.echo(f"{path}: {'installed' if action == 'install' else 'removed'} treeship-store's {agent} hooks")
    return path
