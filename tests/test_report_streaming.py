"""Report schema 3's `streaming` block (a streaming artifact's run: per-new-frame latency, and
the clip latency when the same run timed it): the wire rules, the collector's columns (back-
filled in a database from before), the summary, `mobilekit report` and its plot."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from pydantic import ValidationError

from mobilekit.collector.storage import ADDED_COLUMNS, Store
from mobilekit.collector.summary import summarize
from mobilekit.collector.wire import DeviceReport, golden_payloads

CLIP = "report_android_xnnpack.json"
STREAM = "report_android_stream.json"


def _payload(name: str, rid: str, **latency) -> dict:
    p = json.loads(json.dumps(golden_payloads()[name]))
    p["report_id"] = rid
    if latency:
        p["results"]["latency_ms"] = dict(latency)
        if p.get("streaming"):
            p["streaming"]["frame_latency_ms"] = dict(latency)
    return p


def _stats(m: float) -> dict:
    return dict(min=m, median=m, mean=m, p90=m * 1.2, std=0.0)


def test_stream_block_rules():
    ok = DeviceReport.model_validate(_payload(STREAM, "stream-ok-1"))
    assert ok.schema_version == 3 and ok.streaming.mode == "frame-cache" and ok.streaming.window == 16
    # Version 2 and 1 reports are still accepted (no block); the block needs version 3.
    for version in (1, 2):
        old = _payload(CLIP, "old-report-1")
        old["schema_version"] = version
        old.pop("streaming", None)
        if version == 1:
            old.pop("numerics")
        assert DeviceReport.model_validate(old).streaming is None
    p = _payload(STREAM, "stream-v2-1")
    p["schema_version"] = 2
    with pytest.raises(ValidationError, match="streaming needs schema_version 3"):
        DeviceReport.model_validate(p)
    # results of a streaming run are its per-frame figures, not some other latency
    p = _payload(STREAM, "stream-mismatch-1")
    p["results"]["latency_ms"] = _stats(43.5)
    with pytest.raises(ValidationError, match="results time one new frame"):
        DeviceReport.model_validate(p)
    p = _payload(STREAM, "stream-window-1")
    p["streaming"]["window"] = None
    with pytest.raises(ValidationError, match="frame-cache stream names its window"):
        DeviceReport.model_validate(p)
    p = _payload(STREAM, "stream-clip-1")
    p["streaming"]["clip_latency_ms"] = _stats(40.0)
    with pytest.raises(ValidationError, match="come together"):
        DeviceReport.model_validate(p)
    p["streaming"]["clip_sha256"] = "ab" * 32
    assert DeviceReport.model_validate(p).streaming.clip_latency_ms.median == 40.0
    p = _payload(STREAM, "stream-failed-1")
    p["error"], p["results"] = "load failed: x", None
    with pytest.raises(ValidationError, match="failed run carries no streaming block"):
        DeviceReport.model_validate(p)


def _reports() -> list[DeviceReport]:
    """Pixel 8, vlf_b0 xnnpack: two clip runs (40, 44 ms), two streaming runs (4, 5 ms per
    frame), one of them with a clip timed in the same run (42 ms). Galaxy: a stream only."""
    out = [_payload(CLIP, "clip-run-1", **_stats(40.0)), _payload(CLIP, "clip-run-2", **_stats(44.0)),
           _payload(STREAM, "stream-run-1", **_stats(4.0)), _payload(STREAM, "stream-run-2", **_stats(5.0))]
    out[3]["streaming"].update(clip_latency_ms=_stats(42.0), clip_sha256="ab" * 32)
    galaxy = _payload(STREAM, "stream-run-3", **_stats(6.0))
    galaxy["device"]["model"] = "Galaxy S23"
    return [DeviceReport.model_validate(p) for p in out + [galaxy]]


def test_summary_puts_per_frame_beside_clip_latency():
    rows = Store("sqlite://")
    assert all(rows.add_reports(_reports()))
    summary = {r["device"]: r for r in summarize(rows.summary_rows())}
    rows.close()
    pixel = summary["Pixel 8"]
    # the streams' per-frame latency never joins the clip medians; the same-run clip does
    assert pixel["runs"] == 3 and pixel["median_ms"] == 42.0 and pixel["failed"] == 0
    assert pixel["frame_runs"] == 2 and pixel["frame_ms"] == 4.5 and pixel["frame_p90_ms"] == pytest.approx(5.4)
    assert pixel["frame_over_clip"] == pytest.approx(4.5 / 42.0)
    galaxy = summary["Galaxy S23"]  # per-frame only: no clip to compare with, and not a failure
    assert galaxy["runs"] == 0 and galaxy["failed"] == 0 and galaxy["median_ms"] is None
    assert galaxy["frame_ms"] == 6.0 and galaxy["frame_over_clip"] is None and galaxy["relative"] is None


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "c.db"
    store = Store(f"sqlite:///{path}")
    assert all(store.add_reports(_reports()))
    store.close()
    return path


def _report_cmd(*args: str):
    from click.testing import CliRunner

    from mobilekit.cli import cli

    return CliRunner().invoke(cli, ["report", *args])


def test_report_shows_clip_and_frame_side_by_side(db, tmp_path):
    r = _report_cmd("--db", str(db))
    assert r.exit_code == 0, r.stderr
    header = r.stdout.splitlines()[0]
    assert "median ms" in header and "frame ms" in header and "frame/clip" in header
    assert header.index("median ms") < header.index("frame ms") < header.index("rel.")
    pixel = next(line for line in r.stdout.splitlines() if "Pixel 8" in line)
    assert "42.00" in pixel and "4.50" in pixel and f"{4.5 / 42:.3f} (1/9)" in pixel
    plot = tmp_path / "p.png"
    r = _report_cmd("--db", str(db), "--format", "csv", "--plot", str(plot))
    rows = {x["device"]: x for x in csv.DictReader(io.StringIO(r.stdout))}
    assert float(rows["Pixel 8"]["frame_ms"]) == 4.5 and rows["Galaxy S23"]["median_ms"] == ""
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_clip_only_tables_keep_their_columns(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.add_reports([DeviceReport.model_validate(_payload(CLIP, "clip-only-1"))])
    store.close()
    header = _report_cmd("--db", str(tmp_path / "c.db")).stdout.splitlines()[0]
    assert "frame" not in header


def test_a_database_from_before_the_streaming_columns_is_back_filled(db):
    con = sqlite3.connect(db)
    for col in ("stream_mode", "frame_median_ms", "frame_p90_ms", "clip_median_ms", "clip_p90_ms"):
        con.execute(f"ALTER TABLE reports DROP COLUMN {col}")
    con.commit()
    con.close()
    old = {r["device"]: r for r in json.loads(_report_cmd("--db", str(db), "--format", "json").stdout)}
    # read-only: no stream columns, so every run counts as the clip latency it claimed to be
    assert old["Pixel 8"]["frame_ms"] is None
    Store(f"sqlite:///{db}").close()  # the collector starting on it adds and fills them
    cols = {row[1] for row in sqlite3.connect(db).execute("PRAGMA table_info(reports)")}
    assert set(ADDED_COLUMNS) <= cols
    new = {r["device"]: r for r in json.loads(_report_cmd("--db", str(db), "--format", "json").stdout)}
    assert new["Pixel 8"]["frame_ms"] == 4.5 and new["Pixel 8"]["median_ms"] == 42.0
