"""How a line's values are held in the central store's text columns (type,
agents, host, file path, model), and read back.

PostgreSQL text cannot hold NUL, which a JSON string can ("\\u0000"). So a
value is held with NUL written as \\x01\\x01 and \\x01 as \\x01\\x02, and any
other value as it is. No two values are held alike, and held values sort as
the values do (code point order: PostgreSQL's "C" collation and SQLite's),
so ORDER BY, GROUP BY and DISTINCT over a column answer as the local index
does. Filters are held the same way before they are compared.
"""

from __future__ import annotations

import re

_ESCAPED = re.compile("\x01(.)", re.DOTALL)


def to_column(value: str) -> str:
    """`value` as a text column holds it."""
    if "\0" not in value and "\x01" not in value:
        return value
    return value.replace("\x01", "\x01\x02").replace("\0", "\x01\x01")


def from_column(text: str) -> str:
    """The value a text column holds as `text`."""
    if "\x01" not in text:
        return text
    return _ESCAPED.sub(lambda pair: "\0" if pair[1] == "\x01" else "\x01", text)


def to_columns(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(map(to_column, values))
