"""The treeship-store command (and `python -m treeship_store`).

A hook call (`treeship-store [--root DIR] hook AGENT [--lock-timeout S]`),
Claude Code's status line (`statusline`) and a plain append (`[--root DIR]
append SESSION ...`), which an agent waits for, run before the command-line
framework is even imported (capture/command.py, capture/statusline.py,
appending.py); everything else, and any form those do not recognise (help, a
mistake to explain), is cli.py's.
"""

import sys


def main() -> None:
    from .capture.command import parse, parse_statusline
    hook = parse(sys.argv[1:])
    if hook is not None:
        from .capture.command import run
        sys.exit(run(*hook))
    statusline = parse_statusline(sys.argv[1:])
    if statusline is not None:
        from .capture.statusline import run as show
        sys.exit(show(*statusline))
    if "append" in sys.argv[1:4]:  # after a --root DIR at most
        from . import appending
        options = appending.parse(sys.argv[1:])
        if options is not None:
            sys.exit(appending.run(options))
    from .cli import main as cli_main
    cli_main()


if __name__ == "__main__":
    main()
