"""`treeship-store hook AGENT`, run without the command-line framework.

An agent starts this once per tool call and waits for it, so it is started
before click is imported (__main__.py hands over the argument forms below)
and imports only what recording needs. Anything else (`hook --help`, an
unknown option) goes to the click command in cli/hooks.py, which says what
is wrong. Either way a hook never exits 2, which Claude Code takes as "block
the agent": every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import os
import sys

ROOT_ENV = "TREESHIP_STORE_ROOT"


def parse(args: list[str]) -> tuple[str, str | None, float | None, bool] | None:
    """(agent, --root, --lock-timeout, --with-text) for `[--root DIR] hook
    AGENT [--lock-timeout S] [--with-text]`, or None for anything else."""
    timeout = None
    root, rest = _root_and_rest(args)
    if rest is None or len(rest) < 2 or rest[0] != "hook" or rest[1].startswith("-"):
        return None
    agent, options, with_text = rest[1], rest[2:], False
    while options:  # in any order, as click takes them; the last --lock-timeout counts
        if options[0] == "--with-text":
            with_text, options = True, options[1:]
            continue
        if options[0] == "--lock-timeout" and len(options) > 1:
            value, options = options[1], options[2:]
        elif options[0].startswith("--lock-timeout="):
            value, options = options[0][len("--lock-timeout="):], options[1:]
        else:
            return None
        try:
            timeout = float(value)
        except ValueError:
            return None
        if not 0 <= timeout < float("inf"):
            return None
    return agent, root, timeout, with_text


def parse_statusline(args: list[str]) -> tuple[str | None] | None:
    """(--root,) for `[--root DIR] statusline`, or None for anything else."""
    root, rest = _root_and_rest(args)
    return (root,) if rest == ["statusline"] else None


def _root_and_rest(args: list[str]) -> tuple[str | None, list[str] | None]:
    """The --root given before the command (the last one counts, as click
    takes it), and the arguments after it; rest None for a form click must read."""
    root, rest = None, list(args)
    while rest and rest[0].startswith("--root"):
        if rest[0] == "--root" and len(rest) > 1:
            root, rest = rest[1], rest[2:]
        elif rest[0].startswith("--root="):
            root, rest = rest[0][len("--root="):], rest[1:]
        else:
            return None, None
    return root, rest


def run(agent: str, root: str | None, timeout: float | None, with_text: bool = False) -> int:
    """Record one hook call from standard input; the exit status."""
    from ..record import writer
    from ..errors import StoreError
    writer.WARNINGS_TO_STDERR = True
    try:
        from . import HOOK_LOCK_TIMEOUT, run_hook
        run_hook(agent, sys.stdin.buffer.read(), root=root or os.environ.get(ROOT_ENV) or None,
                 lock_timeout=HOOK_LOCK_TIMEOUT if timeout is None else timeout, with_text=with_text)
    except StoreError as error:
        return _fail(str(error))
    except Exception as error:  # noqa: BLE001 - a hook must fail in one line, whatever broke
        return _fail(f"hook {agent}: {type(error).__name__}: {error}")
    return 0


def _fail(message: str) -> int:
    from ..errors import print_error
    print_error(message)
    return 1
