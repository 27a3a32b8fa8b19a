"""Connecting to the central PostgreSQL store: libpq connection strings (and
everything libpq honours: PG* variables, service files, passfile, sslmode),
the schema brought up to date on first use, and psycopg's errors turned
into the store's, with any password masked. Every session reads times in
UTC, whatever the server's TimeZone."""

from __future__ import annotations

import re

import psycopg
from psycopg import conninfo as libpq

from ..errors import CentralRefused, CentralUnavailable, ValidationError
from .schema import MIGRATIONS

DB_ENV = "TREESHIP_STORE_DB"
# SQLSTATE classes that waiting may cure: the connection (08), a transaction
# rolled back (40: serialization, deadlock), the server's resources (53), an
# operator (57: shutting down, starting up) and system errors (58). An error
# without one comes from libpq, before or while connecting: a store that is
# down, or a login refused (libpq does not say why), so it is retried too.
PASSING = ("08", "40", "53", "57", "58")
_MIGRATION_LOCK = 0x54735374  # pg_advisory_xact_lock key: "TsSt", as the SQLite index's application_id
_URI = ("postgresql://", "postgres://")


def masked(url: str) -> str:
    """The connection string as it may be shown: password replaced by ***.
    A URL whose password cannot be told from the rest is shown as
    postgresql://*** whole."""
    if _misread(url):
        return url.split("//", 1)[0] + "//***"
    try:
        parts = libpq.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # Unparseable: hide anything that looks like user:password@ or password=.
        return re.sub(r"(password\s*=\s*)\S+", r"\1***", re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url))
    if "password" not in parts:
        return url
    if url.startswith(_URI):
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", re.sub(r"([?&]password=)[^&]*", r"\1***", url))
    return libpq.make_conninfo(**{**parts, "password": "***"})


def holds_password(url: str) -> bool:
    """Whether the connection string itself carries a password (one libpq
    cannot parse is refused by connect, saying why)."""
    try:
        return bool(libpq.conninfo_to_dict(url).get("password"))
    except psycopg.ProgrammingError:
        return False


def connect(url: str | None, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection to the central store at `url` (a libpq connection string),
    its schema migrated. Raises CentralUnavailable, saying why in one line."""
    if not url:
        raise ValidationError(f"no central store given: pass a postgresql:// URL (or set ${DB_ENV})")
    if _misread(url):
        raise ValidationError(f"not a PostgreSQL connection string: {masked(url)} (libpq would not read its user "
                              "name and password as written: percent-encode '@', '/' and '?' in them as %40, %2F, "
                              "%3F, or better, give the password in $PGPASSWORD or a passfile)")
    try:
        libpq.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise ValidationError(scrub(f"not a PostgreSQL connection string: {masked(url)} ({first_line(error)})",
                                    url)) from None
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10,
                               application_name="treeship-store")
    except psycopg.Error as error:
        raise translate(error, url) from None
    try:
        with conn.transaction():
            # Times are read in UTC: in the server's zone, year 1 west of UTC is
            # year 0 and 9999-12-31 east of it is 10000, neither a datetime.
            conn.execute("SET TIME ZONE 'UTC'")
        migrate(conn)
    except psycopg.Error as error:
        conn.close()
        raise translate(error, url) from None
    return conn


def migrate(conn: psycopg.Connection) -> None:
    """Apply the migrations this version knows and the database lacks."""
    known = {name for name, _ in MIGRATIONS}
    with conn.transaction():
        # Read first: a role with only SELECT and INSERT must not need to create anything.
        exists = conn.execute("SELECT to_regclass('treeship_migrations') IS NOT NULL").fetchone()[0]
        if exists and {name for name, in conn.execute("SELECT name FROM treeship_migrations")} == known:
            return
    try:
        _apply(conn, known)
    except psycopg.errors.InsufficientPrivilege:
        raise CentralRefused("the central store's schema is missing or older than this treeship-store: "
                             "push once as the database's owner to create or upgrade it") from None


def _apply(conn: psycopg.Connection, known: set[str]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS treeship_migrations "
                     "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {name for name, in conn.execute("SELECT name FROM treeship_migrations")}
        if unknown := done - known:
            raise CentralRefused(f"the central store has migrations this treeship-store does not know "
                                 f"({', '.join(sorted(unknown))}): upgrade treeship-store")
        for name, sql in MIGRATIONS:
            if name not in done:
                conn.execute(sql)
                conn.execute("INSERT INTO treeship_migrations (name) VALUES (%s)", (name,))


def _misread(url: str) -> bool:
    """A postgresql:// URL whose user name or password holds a raw '@' or
    '/' (or one libpq cannot parse at all, holding an '@'). libpq reads them
    up to the first '@' or '/', so the rest of such a password would become
    the host, port or database: looked up in DNS, named in libpq's errors,
    and past what masking can tell is the password."""
    if not url.startswith(_URI) or "@" not in url:
        return False
    try:
        libpq.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return True  # its error would quote the part it could not read
    rest = url.split("//", 1)[1]
    end = min((i for i in (rest.find("@"), rest.find("/")) if i >= 0), default=-1)
    if end >= 0 and rest[end] == "@":
        rest = rest[end + 1:]  # past the user name and password libpq reads
    return "@" in rest.split("?", 1)[0]  # an '@' left in the host, port or database


def translate(error: psycopg.Error, url: str) -> CentralUnavailable:
    """psycopg's error as one line that names the store (password masked):
    CentralRefused if waiting will not change it."""
    passing = error.sqlstate is None or error.sqlstate.startswith(PASSING)
    return (CentralUnavailable if passing else CentralRefused)(
        scrub(f"central store {masked(url)}: {first_line(error)}", url))


def first_line(error: Exception) -> str:
    """The server's own message, or libpq's lines (reason, then hint) as one."""
    diag = getattr(error, "diag", None)
    if diag is not None and diag.message_primary:
        return diag.message_primary
    text = str(error).strip() or type(error).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def scrub(text: str, url: str) -> str:
    """`text` without any password `url` holds, even where psycopg quotes it."""
    secrets = set(re.findall(r"//[^/:@]*:([^@/]*)@", url)) | set(re.findall(r"password\s*=\s*([^\s&]+)", url))
    try:
        secrets.add(libpq.conninfo_to_dict(url).get("password") or "")
    except psycopg.ProgrammingError:
        pass
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
