"""How a line's values are held in the central store's text columns (type,
agents, host, file path, model), and read back.

PostgreSQL text cannot hold NUL, which a JSON string can ("\\u0000"). So a
value is held with NUL written as \\x01\\x01 and \\x01 as \\x01\\x02, and any
other value as it is. No two values are held alike, and held values sort as
the values do (code point order: PostgreSQL's "C" collation and SQLite's),
so GROUP BY and DISTINCT over a column answer as the local index does.

A B-tree entry takes at most 2,704 bytes, and `lines_files` indexes three of
these columns: a value of more than KEPT_BYTES is held as its first
HEAD_BYTES and its SHA-256 (after the pair \\x01\\x03, which no other value
holds), unique still but no longer the value, nor in its order. Answers that
show such a value read it back from a line that holds it.

Filters are held the same way before they are compared.
"""

from __future__ import annotations

import hashlib
import re

KEPT_BYTES = 800  # of UTF-8: three, and a time, fit a B-tree entry with room to spare
HEAD_BYTES = 360  # of a longer value, kept before its digest: escaped, at most twice as long
_PAIR = re.compile("\x01(.)", re.DOTALL)
_DIGEST = "\x01\x03"


def to_column(value: str) -> str:
    """`value` as a text column holds it."""
    if len(value) <= KEPT_BYTES // 4 and "\0" not in value and "\x01" not in value:
        return value  # nearly every value, at the cost of three scans
    held = _escaped(value)
    if len(held.encode("utf-8", "surrogatepass")) <= KEPT_BYTES:
        return held
    data = value.encode("utf-8", "surrogatepass")
    return _escaped(data[:HEAD_BYTES].decode("utf-8", "ignore")) + _DIGEST + hashlib.sha256(data).hexdigest()


def from_column(text: str) -> str | None:
    """The value a text column holds as `text`; None for one held by its
    digest, which a line holding it must tell."""
    if "\x01" not in text:
        return text
    if any(pair[1] == "\x03" for pair in _PAIR.finditer(text)):
        return None
    return _PAIR.sub(lambda pair: "\0" if pair[1] == "\x01" else "\x01", text)


def to_columns(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(map(to_column, values))


def _escaped(value: str) -> str:
    return value.replace("\x01", "\x01\x02").replace("\0", "\x01\x01")
