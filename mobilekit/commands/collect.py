"""`mobilekit collect` (the server phones post to), `mobilekit report` (tables and plots) and
`mobilekit push` (upload an artifact folder for the apps)."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import click

from converters.backends import runtime_names, target_names
from mobilekit.errors import MobilekitError

# = storage.DEFAULT_DB_URL, repeated so that `mobilekit --help` does not import SQLAlchemy.
DEFAULT_DB = "sqlite:///mobilekit-collector.db"


def _database_url(_ctx, _param, value):
    if value is None:
        return None
    from mobilekit.collector.storage import database_url

    return database_url(value)


@click.command("collect")
@click.option("--host", default="0.0.0.0", show_default=True,
              help="Interface to listen on; 0.0.0.0 lets phones on the LAN reach it.")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--db", "db_url", default=DEFAULT_DB, show_default=True, callback=_database_url,
              help="A SQLite file (path or sqlite:///path; WAL mode) or postgresql://user:pass@host/db.")
@click.option("--token", envvar="MOBILEKIT_TOKEN", default=None,
              help="Bearer token clients must send on POSTs [env MOBILEKIT_TOKEN; generated if unset].")
@click.option("--artifacts", "artifacts_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for uploaded artifact files [default: <db file>.artifacts/ beside a "
                   "SQLite file, ./mobilekit-artifacts for PostgreSQL].")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="uvicorn worker processes (one is plenty for SQLite; writes are batched).")
@click.option("--access-log", is_flag=True, help="Log every HTTP request.")
@click.option("--quiet", "-q", is_flag=True, help="Do not log a line per stored report.")
def collect_cmd(host, port, db_url, token, artifacts_dir, workers, access_log, quiet):
    """Run the collector: phones and hosts POST latency reports, apps download artifacts,
    and http://HOST:PORT/ shows the live summary table and plot.

    \b
    API (POSTs need `Authorization: Bearer TOKEN`; GETs are open):
      POST /api/v1/reports            a DeviceReport (mobilekit.collector.wire)
      GET  /api/v1/reports            ?model= &target= &device= &runtime= &since= &limit= &offset=
      GET  /api/v1/summary            the same filters, &relative_to=vlf_b0
      POST /api/v1/artifacts          upload (use `mobilekit push`)
      GET  /api/v1/artifacts[/ID/manifest|/ID/file|/ID/checkset/NAME]
      GET  /healthz
    Interactive API docs: /docs.
    """
    from mobilekit.collector.server import lan_addresses, serve
    from mobilekit.collector.storage import Store

    generated = not token
    token = token or secrets.token_urlsafe(16)
    Store(db_url).close()  # fail fast with one clear line on a bad --db or a busy port
    _check_port_free(host, port)
    if host in ("0.0.0.0", "::"):
        addresses = lan_addresses() or ["127.0.0.1"]
    else:
        addresses = [host]
    click.echo("mobilekit collector")
    for a in addresses:
        click.echo(f"  phones post to   http://{a}:{port}")
    click.echo(f"  dashboard        http://{addresses[0]}:{port}/")
    click.echo(f"  token            {token}" + ("   (generated; pass --token or MOBILEKIT_TOKEN to keep one)"
                                                 if generated else ""))
    click.echo(f"  database         {_without_password(db_url)}")
    click.echo("Ctrl+C to stop.", err=True)
    serve(host, port, db_url, token, artifacts_dir, workers=workers, access_log=access_log, quiet=quiet)


def _without_password(db_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise MobilekitError(f"cannot listen on {host}:{port} ({e.strerror})",
                                 "pass another --port or stop the program using it") from e


@click.command("report")
@click.option("--server", help="Read from a running collector, e.g. http://192.168.1.20:8765.")
@click.option("--db", "db_url", callback=_database_url,
              help=f"Read a collector database directly: a SQLite file (path or URL) [default: {DEFAULT_DB}].")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]),
              default="table", show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the plot (PNG) here: one panel per compute unit, a bar per device.")
@click.option("--relative-to", help="Reference model (e.g. vlf_b0); default: the fastest model "
                                    "on each device and compute unit is 1.0, as in the paper.")
@click.option("--model", help="Only this model.")
@click.option("--target", help=f"Only this target ({', '.join(target_names())}).")
@click.option("--device", help="Only this device (model name, identifier or make).")
@click.option("--runtime", help=f"Only this runtime ({', '.join(runtime_names())}).")
@click.option("--token", envvar="MOBILEKIT_TOKEN", default=None, help="Token for --server; optional, GETs are open [env MOBILEKIT_TOKEN].")
def report_cmd(server, db_url, fmt, plot, relative_to, model, target, device, runtime, token):
    """Latency per model, device and compute unit, relative to a reference model (the kind
    of paper 001's Fig. 5): median of the runs' medians, median of their p90s, run counts,
    and outputs: whether the devices' outputs on the artifact's check set agree with eager
    PyTorch (agrees / DISAGREES n/runs, largest max abs diff, accuracy where labelled); a
    device whose outputs disagree or were not checked is also named on stderr.
    """
    from mobilekit.collector.summary import render, summarize

    if server and db_url:
        raise MobilekitError("--server and --db both given", "pick one source")
    filters = dict(model=model, target=target, device=device, runtime=runtime)
    if server:
        from mobilekit.collector.client import CollectorClient

        with CollectorClient(server, token=token, retries=1) as client:
            rows = client.summary(relative_to=relative_to, **filters)["rows"]
    else:
        from mobilekit.collector.storage import ReportFilter, Store

        store = Store(db_url or DEFAULT_DB, read_only=True)  # reading a report never writes
        try:
            rows = summarize(store.summary_rows(ReportFilter(**filters)), relative_to)
        finally:
            store.close()
    if relative_to and rows and not any(r["model"] == relative_to for r in rows):
        click.secho(f"warning: no runs of {relative_to!r}; relative column left empty", err=True, fg="yellow")
    if not rows:
        click.echo("no reports match" if any(filters.values()) else "no reports yet", err=True)
    else:
        click.echo(render(rows, fmt, relative_to))
    for r in rows:  # a device whose outputs are wrong: its latency is not a result
        if r.get("flagged"):
            click.secho(f"warning: {r['model']} on {r['device']} [{r['unit']}, {r['target']}]: outputs "
                        f"{r['outputs']} (the check set's expected outputs)", err=True, fg="yellow")
    if plot:
        from mobilekit.collector.plots import plot_summary

        plot.write_bytes(plot_summary(rows, relative_to))
        click.echo(f"plot written to {plot}", err=True)


@click.command("push")
@click.argument("artifact_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--server", required=True, help="Collector URL, e.g. http://192.168.1.20:8765.")
@click.option("--token", envvar="MOBILEKIT_TOKEN", default=None, help="The collector's token [env MOBILEKIT_TOKEN].")
def push_cmd(artifact_dir, server, token):
    """Upload an artifact folder from `mobilekit convert` (manifest.json, model file and its
    check set under checkset/; an .mlpackage directory is zipped) so the phone apps can
    download it. Checked by sha256 on both ends (a broken check set is refused before
    anything is sent); pushing the same artifact again is harmless."""
    from mobilekit.collector.client import CollectorClient

    if not token:
        raise MobilekitError("no token for the collector", "pass --token or set MOBILEKIT_TOKEN")
    with CollectorClient(server, token=token) as client:
        res = client.push_artifact(artifact_dir)
    state = "already there" if res["duplicate"] else "uploaded"
    click.echo(f"{state}: {res['id']}  ({res['size_bytes']:,} bytes, sha256 {res['file_sha256'][:12]}...)")
    if res.get("check_set_files"):
        click.echo(f"  check set: {res['check_set_files']} files, {res['check_set_bytes']:,} bytes")
    click.echo(f"  apps download {client.server}/api/v1/artifacts/{res['id']}/file")


commands = [collect_cmd, report_cmd, push_cmd]
