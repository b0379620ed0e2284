"""Storage for the collector: SQLAlchemy Core over SQLite (default, WAL) or PostgreSQL.

Every report is kept whole (its canonical JSON) plus a few flat columns that the filters and
the summary read, so nothing a client sends is lost and queries need no JSON functions.
Writes come in batches (the server groups concurrent requests into one transaction, see
server.py); a batch is one transaction, so a report is stored completely or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence
from urllib.parse import quote

from sqlalchemy import (BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table, Text, create_engine,
                        event, func, inspect, select)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError

from mobilekit.collector.wire import ArtifactManifest, DeviceReport
from mobilekit.errors import MobilekitError

DEFAULT_DB_URL = "sqlite:///mobilekit-collector.db"

metadata = MetaData()

reports = Table(
    "reports", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # arrival order = revision
    Column("report_id", String, nullable=False, unique=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model", String, nullable=False, index=True),
    Column("quantization", String),
    Column("target", String, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("device_make", String, nullable=False),
    Column("device_model", String, nullable=False),
    Column("device_id", String),
    Column("os", String, nullable=False),
    Column("runtime", String, nullable=False),
    Column("compute_units", String, nullable=False),
    Column("median_ms", Float),
    Column("p90_ms", Float),
    Column("error", Text),
    Column("payload", Text, nullable=False),
    # Added with report schema 2 (a database from before gets them on the next writable open,
    # filled from the stored payloads; see Store._migrate).
    Column("precision", String(16)),
    Column("numerics", String(16)),      # agrees / disagrees / error; null: not checked
    Column("max_abs_diff", Float),
    Column("top1_agreement", Float),
    Column("accuracy", Float),
    # Added with report schema 3, the same way: a streaming run's per-frame figures (its
    # median_ms / p90_ms are per new frame too) and the clip timed beside it in the same run.
    Column("stream_mode", String(16)),   # state / frame-cache; null: a clip run
    Column("frame_median_ms", Float),
    Column("frame_p90_ms", Float),
    Column("clip_median_ms", Float),
    Column("clip_p90_ms", Float),
)
ADDED_COLUMNS = ("precision", "numerics", "max_abs_diff", "top1_agreement", "accuracy",
                 "stream_mode", "frame_median_ms", "frame_p90_ms", "clip_median_ms", "clip_p90_ms")

artifacts = Table(
    "artifacts", metadata,
    Column("id", String, primary_key=True),
    Column("model", String, nullable=False),
    Column("target", String, nullable=False),
    Column("precision", String(16), nullable=False),
    Column("sha256", String, nullable=False),       # from the manifest
    Column("file_name", String, nullable=False),   # what GET .../file serves
    Column("file_sha256", String, nullable=False),  # of the served bytes
    Column("size_bytes", BigInteger, nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
    Column("manifest", Text, nullable=False),
)


@dataclass(frozen=True)
class ReportFilter:
    """Filters of GET /api/v1/reports and /summary; None means any."""
    model: Optional[str] = None
    target: Optional[str] = None
    device: Optional[str] = None   # device model, model identifier or make
    runtime: Optional[str] = None
    since: Optional[datetime] = None


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def report_row(report: DeviceReport, received_at: datetime) -> dict[str, Any]:
    r = report
    return dict(
        report_id=r.report_id, received_at=received_at, created_at=_utc(r.created_at),
        model=r.artifact.model, quantization=r.artifact.quantization, target=r.artifact.target,
        sha256=r.artifact.sha256, device_make=r.device.make, device_model=r.device.model,
        device_id=r.device.model_identifier, os=r.device.os, runtime=r.app.runtime,
        compute_units=r.config.compute_units,
        median_ms=r.results.latency_ms.median if r.results else None,
        p90_ms=r.results.latency_ms.p90 if r.results else None,
        error=r.error, payload=r.model_dump_json(), **_added_values(r),
    )


def _added_values(r: DeviceReport) -> dict[str, Any]:
    n, s = r.numerics, r.streaming
    clip = s.clip_latency_ms if s else None
    return dict(precision=r.artifact.precision, numerics=n.status if n else None,
                max_abs_diff=n.max_abs_diff if n else None, top1_agreement=n.top1_agreement if n else None,
                accuracy=n.accuracy if n else None, stream_mode=s.mode if s else None,
                frame_median_ms=s.frame_latency_ms.median if s else None,
                frame_p90_ms=s.frame_latency_ms.p90 if s else None,
                clip_median_ms=clip.median if clip else None, clip_p90_ms=clip.p90 if clip else None)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL: readers never block the writer; NORMAL sync is safe in WAL (an OS crash may lose
    # the last commits, never corrupt the file); busy_timeout lets several workers share it.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_busy_timeout(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA busy_timeout=10000")


def database_url(value: str) -> str:
    """A SQLAlchemy URL from what a user types after --db: a URL as it is, a plain file path
    (no scheme) as that SQLite file."""
    return value if "://" in value else f"sqlite:///{Path(value).absolute()}"


class Store:
    """Reports and artifact metadata in one database; artifact bytes live on disk (artifacts.py).

    `read_only=True` (what `mobilekit report --db` uses) never writes: a SQLite file is opened
    with mode=ro, no table is created, and a database without the collector's tables is refused.
    """

    def __init__(self, url: str = DEFAULT_DB_URL, read_only: bool = False):
        url = database_url(url)
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise MobilekitError(f"cannot parse database URL {url!r}",
                                 "use sqlite:///path/file.db or postgresql://user:pass@host/db")
        self.url, self.read_only = url, read_only
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        path = self.sqlite_path
        if path is not None and read_only and not path.is_file():
            raise MobilekitError(f"no collector database at {path}",
                                 "pass --db sqlite:///path/to/file.db or --server URL")
        if path is not None and not path.parent.is_dir():
            raise MobilekitError(f"folder {path.parent} for the database does not exist",
                                 "create it or pass another --db")
        try:
            if path is not None and read_only:
                uri = f"file:{quote(str(path))}?mode=ro"
                self.engine: Engine = create_engine(
                    "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False))
            else:
                self.engine = create_engine(url)
        except Exception as e:  # missing driver (psycopg) or bad URL
            raise MobilekitError(f"cannot open database {url!r}: {e}",
                                 "for PostgreSQL `pip install psycopg[binary]`") from e
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_busy_timeout if read_only else _sqlite_pragmas)
        where = str(path) if path is not None else url
        try:
            if not read_only:
                metadata.create_all(self.engine)
                self._migrate()
            self._check_tables(where)
        except DatabaseError as e:
            self.engine.dispose()
            if self.is_sqlite and "not a database" in str(e.orig):
                raise MobilekitError(f"{where} is not a SQLite database",
                                     "pass the database file `mobilekit collect --db` wrote, or a new "
                                     "file name") from e
            raise MobilekitError(f"cannot open database {url!r}: {e.orig}",
                                 "check the path/URL and that the server is reachable") from e
        except MobilekitError:
            self.engine.dispose()
            raise

    def _check_tables(self, where: str) -> None:
        """The collector's tables are there with (at least) the collector's columns: a database
        of another program is refused in one line instead of failing on the first query."""
        insp = inspect(self.engine)
        present = set(insp.get_table_names())
        for table in (reports,) if self.read_only else (reports, artifacts):  # reading needs only reports
            if table.name not in present:
                raise MobilekitError(f"{where} has no mobilekit collector tables (no `{table.name}`)",
                                     "pass the database file `mobilekit collect --db` wrote")
            have = {c["name"] for c in insp.get_columns(table.name)}
            if table is reports:
                self.report_columns = have
            missing = {c.name for c in table.columns} - have - (set(ADDED_COLUMNS) if table is reports else set())
            if missing:
                raise MobilekitError(f"{where} has a `{table.name}` table that is not the collector's "
                                     f"(no column {', '.join(sorted(missing))})",
                                     "pass another --db; this file belongs to another program")

    def _migrate(self) -> None:
        """Add the columns of report schemas 2 and 3 to a reports table from before, filled from each
        stored payload (the canonical JSON holds everything). Only columns are added; a table
        that is not the collector's is refused by _check_tables afterwards."""
        insp = inspect(self.engine)
        if reports.name not in insp.get_table_names():
            return
        have = {c["name"] for c in insp.get_columns(reports.name)}
        if not {c.name for c in reports.columns} - set(ADDED_COLUMNS) <= have:
            return  # not the collector's table: _check_tables refuses it, unchanged
        added = [c for c in reports.columns if c.name in ADDED_COLUMNS and c.name not in have]
        if not added:
            return
        with self.engine.begin() as conn:
            for c in added:
                conn.exec_driver_sql(f"ALTER TABLE {reports.name} ADD COLUMN {c.name} "
                                     f"{c.type.compile(dialect=self.engine.dialect)}")
            for rid, payload in conn.execute(select(reports.c.id, reports.c.payload)).all():
                try:
                    values = _added_values(DeviceReport.model_validate_json(payload))
                except ValueError:
                    continue  # kept as stored; its new columns stay null
                conn.execute(reports.update().where(reports.c.id == rid)
                             .values({k: values[k] for k in (c.name for c in added)}))

    @property
    def sqlite_path(self) -> Optional[Path]:
        db = make_url(self.url).database
        return Path(db).expanduser().resolve() if self.is_sqlite and db and db != ":memory:" else None

    def close(self) -> None:
        self.engine.dispose()

    # --------------------------------------------------------------------------- reports
    def add_reports(self, batch: Sequence[DeviceReport]) -> list[bool]:
        """Store a batch in one transaction; returns, per report, whether it was new.

        A report id seen before (in the database or earlier in the batch) is a duplicate:
        stored once, the first copy wins.
        """
        for attempt in range(3):
            try:
                return self._add_reports_once(batch)
            except IntegrityError:
                # Another worker process stored one of these ids between our check and insert;
                # the transaction rolled back whole, so simply check again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _add_reports_once(self, batch: Sequence[DeviceReport]) -> list[bool]:
        now = datetime.now(timezone.utc)
        ids = [r.report_id for r in batch]
        with self.engine.begin() as conn:
            seen = set(conn.execute(select(reports.c.report_id)
                                    .where(reports.c.report_id.in_(set(ids)))).scalars())
            rows, fresh = [], []
            for r in batch:
                new = r.report_id not in seen
                fresh.append(new)
                if new:
                    seen.add(r.report_id)
                    rows.append(report_row(r, now))
            if rows:
                conn.execute(reports.insert(), rows)
        return fresh

    def _where(self, q, f: ReportFilter):
        if f.model:
            q = q.where(reports.c.model == f.model)
        if f.target:
            q = q.where(reports.c.target == f.target)
        if f.runtime:
            q = q.where(reports.c.runtime == f.runtime)
        if f.device:
            d = f.device.lower()
            q = q.where((func.lower(reports.c.device_model) == d) | (func.lower(reports.c.device_id) == d)
                        | (func.lower(reports.c.device_make) == d))
        if f.since:
            q = q.where(reports.c.created_at >= _utc(f.since))
        return q

    def list_reports(self, f: ReportFilter = ReportFilter(), limit: int = 100,
                     offset: int = 0) -> tuple[int, list[dict]]:
        """(total matching, the page of full payloads, newest first)."""
        with self.engine.connect() as conn:
            total = conn.execute(self._where(select(func.count()).select_from(reports), f)).scalar_one()
            q = self._where(select(reports.c.payload, reports.c.received_at), f)
            q = q.order_by(reports.c.id.desc()).limit(limit).offset(offset)
            page = []
            for payload, received in conn.execute(q):
                item = json.loads(payload)
                item["received_at"] = _utc(received).isoformat().replace("+00:00", "Z")
                page.append(item)
        return total, page

    def summary_rows(self, f: ReportFilter = ReportFilter()) -> list[dict]:
        """The flat columns the summary groups by, one dict per stored report."""
        cols = [reports.c.model, reports.c.quantization, reports.c.target, reports.c.device_make,
                reports.c.device_model, reports.c.runtime, reports.c.compute_units,
                reports.c.median_ms, reports.c.p90_ms, reports.c.error]
        # A read-only database from before report schema 2 or 3 lacks the added columns: null there.
        cols += [getattr(reports.c, n) for n in ADDED_COLUMNS if n in self.report_columns]
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(self._where(select(*cols), f))]
        for row in rows:
            for n in ADDED_COLUMNS:
                row.setdefault(n, None)
        return rows

    def revision(self) -> tuple[int, int]:
        """(highest row id, number of reports): changes whenever a report is stored."""
        with self.engine.connect() as conn:
            top, count = conn.execute(select(func.max(reports.c.id), func.count())
                                      .select_from(reports)).one()
        return int(top or 0), int(count)

    # ------------------------------------------------------------------------- artifacts
    def add_artifact(self, artifact_id: str, manifest: ArtifactManifest, file_name: str,
                     file_sha256: str, size_bytes: int) -> bool:
        """Record an uploaded artifact; False if this id was already there (kept as is)."""
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(artifacts.c.id).where(artifacts.c.id == artifact_id)).first():
                    return False
                conn.execute(artifacts.insert().values(
                    id=artifact_id, model=manifest.model, target=manifest.target,
                    precision=manifest.precision, sha256=manifest.sha256, file_name=file_name,
                    file_sha256=file_sha256, size_bytes=size_bytes,
                    uploaded_at=datetime.now(timezone.utc), manifest=manifest.model_dump_json()))
        except IntegrityError:  # the same artifact pushed twice at once (another worker won)
            return False
        return True

    def list_artifacts(self, model: Optional[str] = None, target: Optional[str] = None) -> list[dict]:
        q = select(*[c for c in artifacts.c if c.name != "manifest"]).order_by(artifacts.c.uploaded_at)
        if model:
            q = q.where(artifacts.c.model == model)
        if target:
            q = q.where(artifacts.c.target == target)
        with self.engine.connect() as conn:
            out = []
            for r in conn.execute(q):
                d = dict(r._mapping)
                d["uploaded_at"] = _utc(d["uploaded_at"]).isoformat().replace("+00:00", "Z")
                out.append(d)
        return out

    def get_artifact(self, artifact_id: str) -> Optional[dict]:
        with self.engine.connect() as conn:
            r = conn.execute(select(artifacts).where(artifacts.c.id == artifact_id)).first()
        return dict(r._mapping) if r else None

