"""The central store (pip install 'treeship-store[postgres]'): every host's
sessions pushed into one PostgreSQL database (push.py) and asked the same
questions as a local store (queries.py). Derived from the hosts' JSONL,
like the index; psycopg 3 is imported only here."""

from .connection import DB_ENV, holds_password, masked
from .push import JOBS, PushReport, Pusher, push
from .store import CentralStore, CentralVerifyReport

__all__ = ["DB_ENV", "JOBS", "CentralStore", "CentralVerifyReport", "PushReport", "Pusher", "holds_password", "masked",
           "push"]
