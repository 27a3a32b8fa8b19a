"""The `treeship-store` command: parses, calls Store, prints.

The append path is what a hook runs once per tool call, as a new process: it
imports only click, the store and what they need. Output rendering, verify and
the demo load only in the commands that use them.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from .. import __version__
from ..errors import StoreError
from ..store import ROOT_ENV, find_root
from .append import append
from .queries import events, files, sessions, stats



class StoreGroup(click.Group):
    """Turns the store's errors into one line on stderr and exit status 1, and
    loads the hook commands only when one is asked for (append never pays)."""

    LAZY = {"hook": "hooks", "hooks": "hooks", "reindex": "admin", "verify": "admin", "tail": "admin",
            "demo": "admin", "serve": "web", "push": "central", "export": "export", "import": "imports",
            "usage": "usage", "statusline": "hooks", "prune": "prune"}

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            import importlib  # noqa: PLC0415
            module = importlib.import_module(f".{self.LAZY[name]}", __package__)
            return getattr(module, "import_" if name == "import" else name)  # `import` is a keyword
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
        from ..errors import printable  # noqa: PLC0415 - only when failing
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


for command in (append, events, sessions, files, stats):
    cli.add_command(command)


def main() -> None:
    try:
        cli(prog_name="treeship-store")
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
