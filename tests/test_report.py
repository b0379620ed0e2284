"""`mobilekit report`: the Fig. 5 kind of table (and plot) from a collector database or a
running collector."""

from __future__ import annotations

import csv
import io
import json
import pytest

from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.storage import Store
from mobilekit.collector.wire import DeviceReport, golden_payloads

TOKEN = "report-token"

# (model, device, compute units, target, run medians in ms)
RUNS = [
    ("vlf_b0", "iPhone 15 Pro", "cpuAndNeuralEngine", "ane", [4.0, 5.0, 6.0]),
    ("vtn_eff", "iPhone 15 Pro", "cpuAndNeuralEngine", "ane", [8.0, 10.0]),
    ("vlf_b0", "iPhone 15 Pro", "cpuAndGPU", "coreml-gpu", [9.0]),
    ("vtn_eff", "iPhone 15 Pro", "cpuAndGPU", "coreml-gpu", [6.0]),
    ("vlf_b0", "Pixel 8", "cpu", "xnnpack", [40.0, 44.0]),
    ("vtn_r50", "Pixel 8", "cpu", "xnnpack", [120.0]),
]


def reports() -> list[DeviceReport]:
    ios, android = golden_payloads()["report_ios_ane.json"], golden_payloads()["report_android_xnnpack.json"]
    out = []
    for model, device, units, target, medians in RUNS:
        for i, m in enumerate(medians):
            p = json.loads(json.dumps(ios if device.startswith("iPhone") else android))
            p["report_id"] = f"rep-{model}-{target}-{i}"
            p["artifact"].update(model=model, target=target)
            p["config"]["compute_units"] = units
            p["results"]["latency_ms"] = dict(min=m, median=m, mean=m, p90=m * 1.1, std=0.0)
            out.append(DeviceReport.model_validate(p))
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "c.db"
    store = Store(f"sqlite:///{path}")
    assert all(store.add_reports(reports()))
    store.close()
    return f"sqlite:///{path}"


def report(*args: str):
    """The real command, in-process (a subprocess per call would cost seconds on 2 cores)."""
    from click.testing import CliRunner

    from mobilekit.cli import cli

    result = CliRunner().invoke(cli, ["report", *args])
    result.returncode = result.exit_code
    return result


def test_csv_relative_to_a_reference_model_and_plot(db, tmp_path):
    plot = tmp_path / "fig5.png"
    r = report("--db", db, "--format", "csv", "--relative-to", "vlf_b0", "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    rows = {(x["model"], x["unit"]): x for x in csv.DictReader(io.StringIO(r.stdout))}
    assert float(rows["vlf_b0", "ANE"]["median_ms"]) == 5.0
    assert float(rows["vtn_eff", "ANE"]["relative"]) == pytest.approx(9.0 / 5.0)
    assert float(rows["vtn_eff", "GPU"]["relative"]) == pytest.approx(6.0 / 9.0)
    assert float(rows["vtn_r50", "CPU"]["relative"]) == pytest.approx(120.0 / 42.0)
    assert rows["vtn_r50", "CPU"]["runs"] == "1" and rows["vlf_b0", "CPU"]["device"] == "Pixel 8"
    # Paper order: CPU, GPU, ANE panels/rows.
    assert [x["unit"] for x in csv.DictReader(io.StringIO(r.stdout))][0] == "CPU"
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_table_markdown_and_json_formats(db):
    table = report("--db", db)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header[:4] == ["model", "device", "unit", "target"] and header[-2:] == ["(fastest=1)", "outputs"]
    md = report("--db", db, "--format", "markdown", "--relative-to", "vlf_b0", "--target", "ane")
    lines = md.stdout.splitlines()
    assert lines[0].startswith("| model |") and len(lines) == 4  # header, rule, 2 models
    rows = json.loads(report("--db", db, "--format", "json", "--model", "vtn_eff").stdout)
    assert {(r["unit"], r["relative"]) for r in rows} == {("ANE", 1.0), ("GPU", 1.0)}


def test_report_from_a_running_server_equals_the_database(db, tmp_path):
    with CollectorProcess(db, TOKEN, log_path=tmp_path / "server.log") as server:
        r = report("--server", server.url, "--format", "json", "--relative-to", "vlf_b0")
    assert r.returncode == 0, r.stderr
    local = report("--db", db, "--format", "json", "--relative-to", "vlf_b0")
    assert json.loads(r.stdout) == json.loads(local.stdout)


def test_missing_database_is_one_clear_error(tmp_path):
    r = report("--db", f"sqlite:///{tmp_path / 'nope.db'}")
    assert r.returncode == 2
    assert r.stderr.startswith("error: no collector database") and "Traceback" not in r.stderr
    assert not (tmp_path / "nope.db").exists()


def test_outputs_column_and_flagged_devices(db):
    """The goldens' numerics: iOS runs agree, the Pixel's disagree (flagged on stderr too)."""
    r = report("--db", db, "--format", "json")
    rows = {(x["model"], x["unit"]): x for x in json.loads(r.stdout)}
    ane = rows["vtn_eff", "ANE"]
    assert ane["outputs"] == "agrees 2/2, max diff 0.012, acc 75%" and not ane["flagged"]
    assert ane["checked"] == 2 and ane["precision"] == "fp16" and ane["top1_agreement"] == 1.0
    cpu = rows["vlf_b0", "CPU"]
    assert cpu["outputs"] == "DISAGREES 2/2, max diff 0.042" and cpu["flagged"] and cpu["disagrees"] == 2
    table = report("--db", db)
    assert "warning: vlf_b0 on Pixel 8 [CPU, xnnpack]: outputs DISAGREES 2/2" in table.stderr
    assert "vtn_eff on iPhone 15 Pro" not in table.stderr


def test_a_database_from_before_the_numerics_columns(tmp_path):
    """Report schema 1 databases lack the numerics columns: read-only opens read them as
    null, a writable open adds them, filled from the stored payloads."""
    import sqlite3

    from mobilekit.collector.storage import ADDED_COLUMNS

    path = tmp_path / "old.db"
    store = Store(f"sqlite:///{path}")
    store.add_reports(reports())
    store.close()
    con = sqlite3.connect(path)
    for col in ADDED_COLUMNS:
        con.execute(f"ALTER TABLE reports DROP COLUMN {col}")
    con.commit()
    con.close()
    old = json.loads(report("--db", str(path), "--format", "json").stdout)
    assert old and all(r["outputs"] is None and r["precision"] is None for r in old)
    Store(f"sqlite:///{path}").close()  # the collector starting on it
    cols = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(reports)")}
    assert set(ADDED_COLUMNS) <= cols
    new = {(r["model"], r["unit"]): r for r in json.loads(report("--db", str(path), "--format", "json").stdout)}
    assert new["vlf_b0", "CPU"]["outputs"] == "DISAGREES 2/2, max diff 0.042"
    assert new["vlf_b0", "CPU"]["precision"] == "fp32"
