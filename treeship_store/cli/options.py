"""Options several commands take, declared once (sqlite-utils' output_options
is the model): the scope of a question, one session, the output format."""

from __future__ import annotations

import click

FORMATS = click.Choice(["table", "json", "jsonl"])


def _apply(function, options):
    for option in reversed(options):
        function = option(function)
    return function


def scope_options(function=None, *, types: bool = False):
    """--session and --agent (repeatable), --type too if `types`, --since and
    --until: which events a question is about."""
    def decorate(function):
        return _apply(function, [
            click.option("--session", multiple=True, help="Only this session (repeatable)."),
            click.option("--agent", multiple=True, help="Agent id, name or instance id (repeatable)."),
            *([click.option("--type", "types", multiple=True, help="Event type (repeatable).")] if types else []),
            click.option("--since", help="From this time (inclusive): RFC 3339, or an age such as 30m, 2h, 7d."),
            click.option("--until", help="Up to this time (exclusive): RFC 3339 or an age.")])
    return decorate(function) if function is not None else decorate


def one_session_option(function):
    """--session: only this one."""
    return click.option("--session", help="Only this session.")(function)


def format_option(function):
    """--format table|json|jsonl, default table on a terminal and jsonl when piped."""
    return click.option("--format", "output", type=FORMATS,
                        help="Default: table on a terminal, jsonl when piped.")(function)
