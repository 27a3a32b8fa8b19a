"""Times as the store keeps them: microseconds since the epoch, UTC, from year
1 to 9999, and RFC 3339 back. The index and the queries use these; the append
path checks times without them (event.is_rfc3339), so that a hook never
imports datetime."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # UTC, without a zone to print and strip again
_MICROSECOND = datetime.resolution
# The times the store accepts and indexes: what a datetime can hold, in UTC.
MIN_TIME, MAX_TIME = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"
MIN_MICROS = (datetime(1, 1, 1, tzinfo=timezone.utc) - _EPOCH) // _MICROSECOND
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc) - _EPOCH) // _MICROSECOND


class TimeOutOfRange(ValueError):
    """A valid time that the store cannot hold (before year 1 or after 9999, in UTC)."""


def parse_time(value: str) -> int:
    """Microseconds since the epoch for an RFC 3339 (or ISO 8601) time; naive means UTC.
    Raises ValueError if it is not a time, or not within MIN_TIME..MAX_TIME (UTC):
    every time the store keeps is an integer that format_time can print back."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    micros = (moment - _EPOCH) // _MICROSECOND
    if not MIN_MICROS <= micros <= MAX_MICROS:
        raise TimeOutOfRange(f"{value} is outside {MIN_TIME}..{MAX_TIME}")
    return micros


def format_time(micros: int) -> str:
    """RFC 3339 UTC for microseconds since the epoch (the inverse of parse_time).
    Integer arithmetic throughout: a float loses microseconds near year 9999."""
    text = (_NAIVE_EPOCH + timedelta(microseconds=micros)).isoformat(
        timespec="milliseconds" if micros % 1000 == 0 else "microseconds")
    return (text[:-4] if text.endswith(".000") else text) + "Z"
