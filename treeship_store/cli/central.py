"""`treeship-store push` and `verify --db`: the central PostgreSQL store.
Loaded only when one of them runs, and psycopg only then."""

from __future__ import annotations

import os

import click

from .context import open_store, require_extra
from .options import one_session_option
from ..follow import Stop
from ..errors import CentralRefused, CentralUnavailable, ValidationError

MAX_BACKOFF = 30.0  # seconds between reconnection attempts at most


def central():
    return require_extra("treeship_store.central", "postgres", "a central store")


@click.command()
@click.argument("url", required=False)
@one_session_option
@click.option("--follow", is_flag=True, help="Keep shipping new lines as they are appended; Ctrl-C or SIGTERM stops.")
@click.option("--jobs", type=int, help="Connections a push with much to ship uses at once (default 2; "
              "--follow keeps one between catch-ups).")
@click.pass_context
def push(ctx: click.Context, url: str | None, session: str | None, follow: bool, jobs: int) -> None:
    """Ship every line (events, and damaged lines as damage) that the central
    store at URL lacks: a libpq connection string, default $TREESHIP_STORE_DB
    (libpq's own PG* variables, service and password files apply).

    Pushing twice changes nothing; a line that differs from the central
    store's at its position is kept as a conflict (see verify --db).

    \b
    Example:
      treeship-store push postgresql://treeship@db.internal/treeship --follow
    """
    module = central()
    given = url or ctx.meta.get("db")  # on the command line
    url = given or os.environ.get(module.DB_ENV)
    if not url:
        raise ValidationError(f"push needs the central store: give a postgresql:// URL or set ${module.DB_ENV}")
    if follow and given and module.holds_password(given):
        # A command line is readable by every user of the machine (ps, /proc) for as long as
        # the process runs, and --follow runs for days; an environment only by its owner.
        raise ValidationError(f"push --follow would show the password in its command line to every user of this "
                              f"machine for as long as it runs: give the URL in ${module.DB_ENV}, or the password "
                              "in a passfile or $PGPASSWORD")
    jobs = module.JOBS if jobs is None else jobs
    store = open_store(ctx)
    sessions = None if session is None else [session]
    if not follow:
        report = module.push(store, url, session, jobs)
        click.echo(summary(report, module.masked(url)))
        return
    stop = Stop()
    pusher, backoff, pushed = None, 1.0, module.PushReport()
    try:
        while not stop:
            try:
                if pusher is None:
                    pusher = module.Pusher(store, url, jobs)
                    click.echo(f"pushing to {module.masked(url)}; Ctrl-C stops", err=True)
                    backoff = 1.0
                report = pusher.push(sessions, stop=stop.__bool__)
                _retention(store)
                if report.lines:
                    pushed.lines += report.lines
                    pushed.new += report.new
                    pushed.conflicts += report.conflicts
                    click.echo(summary(report, module.masked(url)))
                stop.pause_after(report.seconds)
            except CentralRefused:
                raise  # the same answer next time: one Error line, not a warning for ever
            except CentralUnavailable as error:
                if pusher is not None:
                    pusher.close()
                    pusher = None
                click.echo(f"warning: {error}; trying again in {backoff:.0f} s", err=True)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
    finally:
        if pusher is not None:
            pusher.close()
    click.echo(f"stopped: {pushed.lines} lines pushed in all, {pushed.new} new, {pushed.conflicts} conflicts",
               err=True)


def _retention(store) -> None:
    """The store's retention policy, at most once a day (retention.py)."""
    from ..retention import run_policy  # noqa: PLC0415
    pruned = run_policy(store)
    if pruned is not None:
        click.echo(f"retention: pruned {len(pruned.pruned)} session(s) ({pruned.bytes / 1e6:.1f} MB)", err=True)


def summary(report, shown: str) -> str:
    return (f"pushed {report.lines} lines of {report.sessions} session(s) to {shown}: {report.new} new, "
            f"{report.lines - report.new - report.conflicts} already there, {report.conflicts} conflicts, "
            f"{report.seconds:.2f}s" + (f"; {report.pruned} session(s) pruned there, not pushed again"
                                        if report.pruned else ""))


def verify_central(ctx: click.Context, store, session: str | None) -> None:
    from ..render import printable  # noqa: PLC0415
    report = store.verify(session)
    for conflict in report.conflicts:
        click.echo(f"conflict: session {conflict['session_id']} line {conflict['line_no']} from store "
                   f"{conflict['store_id']} differs from the line already there: "
                   f"{printable(conflict['line'].decode('utf-8', 'replace'))[:200]}")
    verdict = "ok" if report.ok else f"{len(report.conflicts)} conflict(s), {report.damaged_lines} damaged line(s)"
    click.echo(f"verified {report.sessions} session(s), {report.lines} lines in {store.root}: {verdict}")
    ctx.exit(0 if report.ok else 1)
