"""`treeship-store export otlp`: sessions as OpenTelemetry traces. Loaded only
when it runs, and its packages (the `otel` extra) only then."""

from __future__ import annotations

import os
import time

import click

from .context import open_store, require_extra
from .options import one_session_option
from ..follow import Stop
from ..errors import ValidationError


@click.group()
def export() -> None:
    """Send sessions to the tools a team already uses."""


@export.command()
@click.option("--endpoint", metavar="URL",
              help="OTLP/HTTP endpoint (default $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else "
                   "$OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else http://localhost:4318/v1/traces).")
@one_session_option
@click.option("--since", metavar="TIME", help="Only sessions with an event at or after TIME (RFC 3339, or 2h, 7d).")
@click.option("--follow", is_flag=True, help="Keep exporting spans as they complete; Ctrl-C or SIGTERM stops.")
@click.option("--give-up-after", type=click.FloatRange(0, 86400), default=60, show_default=True, metavar="SECONDS",
              help="How long a collector that is down or busy is retried before a run without --follow fails.")
@click.option("--service-name", default=lambda: os.environ.get("OTEL_SERVICE_NAME") or "treeship-store",
              show_default="$OTEL_SERVICE_NAME, else treeship-store", help="The resource's service.name.")
@click.pass_context
def otlp(ctx: click.Context, endpoint: str | None, session: str | None, since: str | None, follow: bool,
         give_up_after: float, service_name: str) -> None:
    """Send every session as an OpenTelemetry trace (GenAI semantic
    conventions: invoke_agent, execute_tool and chat spans) over OTLP/HTTP,
    each span once: a second run sends only spans completed since. Headers
    (API keys) come from $OTEL_EXPORTER_OTLP_HEADERS and are never printed.

    \b
    Example:
      treeship-store export otlp --endpoint http://localhost:4318 --follow
    """
    otel = require_extra("treeship_store.otel", "otel", "export otlp")
    if session is not None and since is not None:
        raise ValidationError("give --session or --since, not both")
    target = otel.collector(endpoint)
    store = open_store(ctx)
    stop = Stop()
    deadline = None  # of this look's retries, set by the first

    def retry(why: str, seconds: float) -> bool:
        """Wait and try again: with --follow until stopped, else for --give-up-after."""
        nonlocal deadline
        if deadline is None:
            deadline = time.monotonic() + give_up_after
        if stop or (not follow and time.monotonic() + seconds > deadline):
            return False
        click.echo(f"warning: {why}; trying again in {seconds:.0f} s", err=True)
        stop.wait(seconds)
        return not stop

    total = otel.ExportReport()
    with otel.Exporter(store, target, service_name) as exporter:
        while True:
            deadline = None
            report = exporter.export(_sessions(store, session, since), stop=stop.__bool__, retry=retry)
            total.spans += report.spans
            total.rejected += report.rejected
            if report.spans or not follow:
                click.echo(f"exported {report.spans} span(s) of {report.sessions} session(s) to {target.shown}"
                           + (f" ({report.rejected} rejected by the collector)" if report.rejected else "")
                           + f", {report.seconds:.2f}s")
            if not follow or stop:
                break
            stop.pause_after(report.seconds)
    if follow:
        click.echo(f"stopped: {total.spans} span(s) exported in all", err=True)


def _sessions(store, session: str | None, since: str | None) -> list[str] | None:
    if session is not None:
        return [session]
    if since is None:
        return None
    found, before = [], None
    while page := store.session_page(since=since, before=before, limit=1000):
        found += [summary["session_id"] for summary in page]
        before = page[-1]["session_id"]
    return found
