"""python -m treeship_store: the treeship-store command."""

from .cli import main

main()
