"""JSON for the paths that pay a process start per call (a hook, once per
tool call of an agent), written exactly as orjson writes it elsewhere.

orjson costs a cold process 16-27 ms to import (it loads dataclasses,
inspect, uuid and enum to recognise their types), and the `json` package
8-10 ms (it compiles regular expressions); a bare interpreter starts in about
13 ms. This module uses the C accelerator CPython ships for `json`
(`_json`), about 1 ms, and hands a value to orjson only where the two would
write different bytes: a float (orjson writes 1e16, json 1e+16) or an
integer outside 64 bits (orjson refuses it, as a line must). Compact, keys in
the given order, non-ASCII kept as UTF-8: the bytes orjson.dumps gives
(tests/test_event.py::test_the_hook_codec_writes_what_orjson_writes).
"""

from __future__ import annotations

import sys

try:
    import _json
except ImportError:  # an interpreter without CPython's accelerator: orjson everywhere
    _json = None


def _unencodable(value: object) -> object:
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class _Decoding:
    """What CPython's scanner reads of a decoder (json.decoder.JSONDecoder's fields)."""
    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int, parse_constant = float, int, staticmethod(_constant)
    memo: dict = {}


if _json is not None:
    _encode = _json.make_encoder(None, _unencodable, _json.encode_basestring, None, ":", ",", False, False, False)
    _encode_sorted = _json.make_encoder(None, _unencodable, _json.encode_basestring, None, ":", ",", True, False,
                                        False)
    _scan = _json.make_scanner(_Decoding())
_WHITESPACE = " \t\n\r"


def dumps(value: object, *, sort_keys: bool = False) -> bytes:
    """`value` as orjson.dumps writes it (with OPT_SORT_KEYS if `sort_keys`);
    TypeError/ValueError for what it refuses. A process that has orjson
    loaded already (a reader, the Store) gets orjson itself, the faster."""
    orjson = sys.modules.get("orjson")
    if orjson is not None:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS) if sort_keys else orjson.dumps(value)
    return lean_dumps(value, sort_keys=sort_keys)


def lean_dumps(value: object, *, sort_keys: bool = False) -> bytes:
    """dumps() without loading orjson unless the value needs it."""
    if _json is None or _needs_orjson(value):
        import orjson  # noqa: PLC0415 - only for floats, huge integers, deep nesting
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS) if sort_keys else orjson.dumps(value)
    try:
        return "".join((_encode_sorted if sort_keys else _encode)(value, 0)).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which orjson refuses too
        raise ValueError("str is not valid UTF-8: surrogates not allowed") from None


def loads(data: bytes | str) -> object:
    """One JSON value; ValueError (UnicodeDecodeError included) if it is not one."""
    if _json is None:
        import orjson  # noqa: PLC0415
        return orjson.loads(data)
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"not JSON at character {stop.value}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except SystemError:
        # The accelerator reports a malformed value with json.decoder's
        # JSONDecodeError, which it finds only if json.decoder was imported:
        # import it (costly, but only for bad input) and scan again for the message.
        import json.decoder  # noqa: F401, PLC0415
        return loads(text)
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data at character {end}")
    return value


_ORJSON_DEPTH = 254  # orjson refuses values nested deeper than this


def _needs_orjson(value: object) -> bool:
    """Whether orjson would write `value` otherwise than _json: a float, an
    integer outside 64 bits, nesting past its limit (it refuses the last two)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind is float or (kind is int and not -(2**63) <= item < 2**64):
            return True
        if kind is dict or kind is list or kind is tuple:
            if depth >= _ORJSON_DEPTH:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if kind is dict else item))
    return False
