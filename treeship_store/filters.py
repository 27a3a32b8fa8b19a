"""Which events a question is about: the filters, declared and checked once.

The library's events(), count_events() and files(), and the command line's
options, all go through EventFilter.build, so a bad value gets the same
ValidationError wherever it comes from, before anything is read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from .errors import ValidationError
from .event import EVENT_TYPES, MAX_MICROS, MAX_TIME, MIN_MICROS, MIN_TIME, TimeOutOfRange, check_session_id, parse_time
from .projector import plain_words

INT64_MAX = 2**63 - 1
# Every filter as a caller names it (a library keyword, a web query
# parameter; the CLI's options are cli/options.py) and what it takes: several
# values, one text, an integer or true/false. EventFilter.build checks them.
MANY, TEXT, INTEGER, FLAG = "many", "text", "integer", "flag"
PARAMETERS = {"session": MANY, "agent": MANY, "type": MANY, "since": TEXT, "until": TEXT, "after_seq": INTEGER,
              "failed": FLAG, "search": TEXT, "limit": INTEGER, "host": MANY}
_RELATIVE_TIME = re.compile(r"(\d{1,30})([smhdwy])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}


@dataclass(frozen=True)
class EventFilter:
    """Filters that combine with AND. None means "any"."""
    sessions: tuple[str, ...] | None = None
    agents: tuple[str, ...] | None = None  # agent_id, agent_name or agent_instance_id
    types: tuple[str, ...] | None = None
    since_us: int | None = None  # inclusive, microseconds since the epoch
    until_us: int | None = None  # exclusive
    after_seq: int | None = None
    failed: bool = False  # processes that exited non-zero
    search: str | None = None  # an FTS5 query (search_query) of the words asked for
    limit: int | None = None
    newest_first: bool = False
    hosts: tuple[str, ...] | None = None  # host_id: a central store's filter

    @classmethod
    def build(cls, session: str | Iterable[str] | None = None, *, agent: str | Iterable[str] | None = None,
              type: str | Iterable[str] | None = None, since: str | datetime | None = None,
              until: str | datetime | None = None, after_seq: int | None = None, failed: bool = False,
              search: str | None = None, limit: int | None = None, newest_first: bool = False,
              host: str | Iterable[str] | None = None) -> EventFilter:
        """Check every filter as a caller gave it; raise ValidationError naming the bad one."""
        sessions = _values(session, "session")
        for session_id in sessions or ():
            check_session_id(session_id)
        if limit is not None and not (_is_int(limit) and 0 <= limit <= INT64_MAX):
            raise ValidationError(f"limit must be an integer from 0 to {INT64_MAX}, got {limit!r}")
        if after_seq is not None and not (_is_int(after_seq) and -INT64_MAX - 1 <= after_seq <= INT64_MAX):
            raise ValidationError(f"after_seq must be a 64-bit integer, got {after_seq!r}")
        for name, value in (("failed", failed), ("newest_first", newest_first)):
            if not isinstance(value, bool):
                raise ValidationError(f"{name} must be True or False, got {value!r}")
        return cls(sessions=sessions, agents=_values(agent, "agent"), types=_values(type, "type"),
                   since_us=time_bound(since, "since"), until_us=time_bound(until, "until"), after_seq=after_seq,
                   failed=failed, search=None if search is None else search_query(search), limit=limit,
                   newest_first=newest_first, hosts=_values(host, "host"))

    def index_filters(self, session_keys: list[int] | None) -> dict:
        """The filters as the index's events_query takes them, with sessions as keys."""
        if self.hosts is not None:
            raise ValidationError("host needs a central store: the local index does not keep hosts")
        return dict(session_keys=session_keys, agents=self.agents, types=self.types, since_us=self.since_us,
                    until_us=self.until_us, after_seq=self.after_seq, failed=self.failed, search=self.search,
                    limit=self.limit,
                    newest_first=self.newest_first)


def time_bound(value: str | datetime | None, name: str) -> int | None:
    """Microseconds since the epoch for a `since`/`until` filter: RFC 3339, an
    age (30m, 2h, 7d, 1w, 1y: 365 days) or a datetime, within the times the store holds."""
    if value is None:
        return None
    out_of_range = ValidationError(f"{name}: {value!r} is outside the times the store holds "
                                   f"({MIN_TIME} to {MAX_TIME})")
    relative = _RELATIVE_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if relative:
        micros = time.time_ns() // 1000 - int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)] * 1_000_000
        if not MIN_MICROS <= micros <= MAX_MICROS:
            raise out_of_range
        return micros
    if isinstance(value, (str, datetime)):
        try:
            return parse_time(value.isoformat() if isinstance(value, datetime) else value.strip())
        except TimeOutOfRange:
            raise out_of_range from None
        except ValueError:
            pass
    raise ValidationError(f"{name}: {value!r} is not a time; use RFC 3339 (2026-04-05T08:00:00Z) "
                          "or an age such as 30m, 2h, 7d")


def search_query(text: object) -> str:
    """The FTS5 query for words a person typed: every word must occur (in any
    field, any order); a word is matched as written, punctuation included
    ("app.py", "-rf"), within one field (a phrase), and a trailing * makes it
    a prefix. Nothing typed is ever read as FTS5 syntax."""
    if not isinstance(text, str) or not text.strip() or "\0" in text or len(text) > MAX_SEARCH_CHARS:
        raise ValidationError(f"search must be 1 to {MAX_SEARCH_CHARS} characters of words, got {text!r:.80}")
    terms, words = [], 0
    for word in dict.fromkeys(text.split()):  # a word twice asks nothing more, and would cost twice
        prefix = word.endswith("*") and len(word) > 1
        phrase = plain_words(word.rstrip("*" if prefix else ""))
        words += len(_INDEXED_WORD.findall(phrase))
        terms.append('"' + phrase.replace('"', '""') + '"' + "*" * prefix)
    if words > MAX_SEARCH_WORDS:
        raise ValidationError(f"search has {words} words, more than {MAX_SEARCH_WORDS} (each part of a word with "
                              "punctuation counts: app.py is two); leave some out")
    return " ".join(terms)


MAX_SEARCH_CHARS = 1000
# Each word costs a pass over the index entries it matches (a prefix, over
# every word it starts), however few events match them all: 333 copies of
# "c*" took 5 s over 200,000 events. No one types more than a few; a pasted
# command line is 10 to 20.
MAX_SEARCH_WORDS = 32
_INDEXED_WORD = re.compile(r"[^\W_]+")  # about what FTS5's unicode61 takes as one word


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _values(value: str | Iterable[str] | None, name: str) -> tuple[str, ...] | None:
    """One value or several, as a tuple without repeats (in the order given)."""
    if value is None:
        return None
    values = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple, set,
                                                                                         frozenset)) else None
    if not values or not all(isinstance(v, str) for v in values):
        raise ValidationError(f"{name} must be a string or a non-empty list of strings, got {value!r}")
    return tuple(dict.fromkeys(values))


def check_types(types: Iterable[str] | None, stored_types: Callable[[], Iterable[str]],
                held: Callable[[str], str] = str, shown: Callable[[str], str | None] = str) -> None:
    """Types not in Treeship's schema must be in the store (a newer Treeship's):
    else they are typos, and an empty answer would hide that. Both stores ask
    this, with the types they hold (`stored_types`, asked only for such a
    type), as they hold them: `held(type)` is how a type is held, `shown(held)`
    the type a held one is (None where it cannot say)."""
    unknown = [event_type for event_type in types or () if event_type not in EVENT_TYPES]
    if not unknown:
        return
    stored = set(stored_types())
    for event_type in unknown:
        if held(event_type) not in stored:
            import difflib  # noqa: PLC0415 - only for this error
            known = sorted(name for name in map(shown, stored) if name)
            close = difflib.get_close_matches(event_type, [*EVENT_TYPES, *known], n=1)
            raise ValidationError(f"unknown event type {event_type!r}: not in Treeship's schema or this store"
                                  + (f" (did you mean {close[0]}?)" if close else ""))
