"""What the commands share: the store or reader they ask, the output format,
an optional extra's packages."""

from __future__ import annotations

import sys

import click

from ..errors import StoreError, ValidationError
from ..store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..reader import Reader

def require_extra(module: str, extra: str, needs: str):
    """`module`, from an optional extra: imported when a command needs it, and
    one line saying what to install when its packages are missing."""
    import importlib  # noqa: PLC0415
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise StoreError(f"{needs} needs its packages ({error.name} is missing): "
                         f"pip install 'treeship-store[{extra}]'") from None


def open_store(ctx: click.Context, **options) -> Store:
    """The local store; --db is for the read commands (open_reader) and push."""
    if ctx.meta.get("db") is not None and ctx.command.name != "push":
        raise ValidationError(f"--db works with events, sessions, files, stats, usage, verify, push and prune, "
                              f"not {ctx.command.name}")
    return Store(ctx.obj, **options)


def open_reader(ctx: click.Context) -> Reader:
    """The store the read commands ask: the central one with --db, else the local one."""
    if ctx.meta.get("db") is None:
        return Store(ctx.obj)
    return require_extra("treeship_store.central", "postgres", "a central store").CentralStore(ctx.meta["db"])


def output_format(chosen: str | None) -> str:
    return chosen or ("table" if sys.stdout.isatty() else "jsonl")


