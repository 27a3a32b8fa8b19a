"""The treeship-store command (and `python -m treeship_store`).

A hook call (`treeship-store [--root DIR] hook AGENT [--lock-timeout S]`),
which an agent waits for at every tool call, is run before the command-line
framework is even imported (capture/command.py); everything else is cli.py's.
"""

import sys


def main() -> None:
    from .capture.command import parse
    hook = parse(sys.argv[1:])
    if hook is not None:
        from .capture.command import run
        sys.exit(run(*hook))
    from .cli import main as cli_main
    cli_main()


if __name__ == "__main__":
    main()
