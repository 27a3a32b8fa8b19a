"""`treeship-store prune`: drop whole sessions older than an age, locally
(retention.py) or, with --db, in the central store (central/retention.py)."""

from __future__ import annotations

import click

from .context import open_store, require_extra
from .options import format_option


@click.command()
@click.option("--older-than", required=True, metavar="AGE",
              help="Sessions whose last event is older than this: an age (90d, 12w) or an RFC 3339 time.")
@click.option("--dry-run", is_flag=True, help="Say which sessions would go, with their sizes; remove nothing.")
@click.option("--archive", metavar="DIR", type=click.Path(file_okay=False),
              help="First write each session to DIR/<session>.tar.gz (tar and gzip read it; "
                   "`import treeship --path` brings it back). Local only.")
@format_option
@click.pass_context
def prune(ctx: click.Context, older_than: str, dry_run: bool, archive: str | None, output) -> None:
    """Remove whole sessions whose last event is older than AGE: their
    records, and what the index and the sinks hold of them. A session a
    writer appends to meanwhile stays; a killed prune leaves each session
    whole or gone. With --db, from the central store (whole month partitions
    where it can), and a host pushing a pruned session again adds nothing.

    \b
    Examples:
      treeship-store prune --older-than 90d --dry-run
      treeship-store prune --older-than 180d --archive ~/treeship-archive
      treeship-store --db "$TREESHIP_STORE_DB" prune --older-than 1y
    """
    from ..render import json_text, table  # noqa: PLC0415
    if ctx.meta.get("db") is not None:
        if archive is not None:
            raise click.UsageError("--archive is for the local store: the hosts keep their own records")
        retention = require_extra("treeship_store.central.retention", "postgres", "a central store")
        report = retention.prune_central(ctx.meta["db"], older_than, dry_run=dry_run)
    else:
        report = open_store(ctx).prune(older_than, dry_run=dry_run, archive=archive)
    data = report.as_dict()
    if output in ("json", "jsonl"):
        import orjson  # noqa: PLC0415
        click.echo(json_text(data) if output == "json" else orjson.dumps(data).decode())
        return
    if dry_run or not data["pruned"]:
        for line in table([[s["session_id"], s["bytes"], s["last"]] for s in data["older"]],
                          ["SESSION", "BYTES", "LAST EVENT"]):
            click.echo(line)
    total = sum(s["bytes"] for s in data["older"])
    if dry_run:
        click.echo(f"would prune {len(data['older'])} session(s), {total / 1e6:.1f} MB")
        return
    click.echo(f"pruned {len(data['pruned'])} session(s), {data['bytes'] / 1e6:.1f} MB"
               + (f"; archived {data['archived']} to {archive}" if archive else ""))
    for kept in data["kept"]:
        click.echo(f"kept {kept['session_id']}: {kept['why']}", err=True)
