"""Host as a device, end to end: convert a tiny zoo model for real, run the artifact on the
host runtime through `mobilekit bench --artifact`, post the report to the real collector
(a subprocess on a free loopback port) and find it with GET /api/v1/reports."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

from conftest import TINY, mobilekit_cli
from mobilekit.bench.host import run_artifact
from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.wire import DeviceReport
from mobilekit.errors import MobilekitError

TOKEN = "bench-test-token"


@pytest.fixture(scope="module")
def onnx_artifact(tmp_path_factory):
    from converters import convert

    out = tmp_path_factory.mktemp("artifact") / "tsn_b0-onnx"
    art = convert("tsn_b0", "onnx", out, samples=1, latency_runs=1, **TINY)
    assert art.validation["status"] == "passed"
    return out


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    db = tmp_path_factory.mktemp("collector") / "reports.db"
    with CollectorProcess(f"sqlite:///{db}", token=TOKEN) as c:
        yield c


def _bench(*args: str) -> subprocess.CompletedProcess:
    """The installed console script, in its own process (the real end-to-end path)."""
    return subprocess.run(mobilekit_cli() + ["bench", *args], capture_output=True, text=True, timeout=300)


def _bench_here(*args: str):
    """The same CLI in this process (its imports are already paid for): exit code, stderr."""
    from click.testing import CliRunner

    from mobilekit.cli import cli

    result = CliRunner().invoke(cli, ["bench", *args])
    return result.exit_code, result.stderr


def _reports(collector, **params) -> dict:
    r = httpx.get(collector.url + "/api/v1/reports", params=params,
                  headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_host_report_lands_in_the_collector(onnx_artifact, collector, tmp_path):
    manifest = json.loads((onnx_artifact / "manifest.json").read_text())
    out = tmp_path / "report.json"
    proc = _bench("--artifact", str(onnx_artifact), "--warmup", "1", "--iters", "3", "--threads", "1",
                  "--post", collector.url, "--token", TOKEN, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "posted tsn_b0 [onnx, batch 1]" in proc.stderr

    report = DeviceReport.model_validate_json(out.read_text())
    assert report.device.kind == "host" and report.device.cpu_cores >= 1 and report.device.ram_mb > 0
    assert report.app.name == "mobilekit-host" and report.app.runtime == "onnxruntime"
    assert report.artifact.sha256 == manifest["sha256"] and report.artifact.target == "onnx"
    assert report.config.iterations == 3 and report.config.threads == 1 and report.config.batch_size == 1
    res = report.results
    assert res.load_ms > 0 and res.first_inference_ms > 0 and len(res.latencies_ms) == 3
    assert res.latency_ms.min <= res.latency_ms.median <= res.latency_ms.p90
    assert report.error is None

    stored = _reports(collector, model="tsn_b0", target="onnx")
    mine = [r for r in stored["reports"] if r["report_id"] == report.report_id]
    assert len(mine) == 1
    assert mine[0]["device"]["kind"] == "host" and mine[0]["app"]["runtime_version"] == report.app.runtime_version
    assert mine[0]["results"]["latency_ms"]["median"] == pytest.approx(res.latency_ms.median)

    # A wrong token: one error line, nothing stored, and the report kept in a file.
    before = _reports(collector)["total"]
    code, stderr = _bench_here("--artifact", str(onnx_artifact), "--warmup", "0", "--iters", "1",
                               "--post", collector.url, "--token", "wrong",
                               "--out", str(tmp_path / "again.json"))
    assert code == 2
    err = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "401" in err[0] and "saved to" in err[0]
    saved = err[0].split("saved to ")[1].split(",")[0]
    assert DeviceReport.model_validate_json(open(saved).read()).artifact.sha256 == manifest["sha256"]
    assert _reports(collector)["total"] == before


def test_desktop_post(collector, tmp_path):
    code, stderr = _bench_here("--models", "tsn_b0", "--mode", "single", "--device", "cpu",
                               "--frames", "2", "--size", "64", "--classes", "5", "--warmup", "0",
                               "--iters", "2", "--threads", "1", "--post", collector.url, "--token", TOKEN)
    assert code == 0, stderr
    stored = _reports(collector, model="tsn_b0", runtime="pytorch")
    # One single-instance row was benchmarked: exactly one eager-PyTorch host report lands.
    assert stored["total"] == 1
    (report,) = stored["reports"]
    assert report["artifact"]["target"] == "pytorch" and report["device"]["kind"] == "host"


def test_corrupt_artifact_is_refused(onnx_artifact, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(onnx_artifact, broken)
    model = broken / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    code, stderr = _bench_here("--artifact", str(broken), "--iters", "1")
    assert code == 2
    assert stderr.strip().splitlines()[-1].startswith("error: ")
    assert "does not match the manifest's sha256" in stderr

    with pytest.raises(MobilekitError, match="has no manifest.json"):
        run_artifact(tmp_path)


def test_failed_run_is_a_report_with_its_error(onnx_artifact, tmp_path):
    # A manifest whose input shape the model does not take (as a stale manifest would):
    # the runtime fails, and the report says so instead of carrying results.
    wrong = tmp_path / "wrong-shape"
    shutil.copytree(onnx_artifact, wrong)
    manifest = json.loads((wrong / "manifest.json").read_text())
    manifest["input"]["shape"] = [1, 3, 3, 64, 64]
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    report = run_artifact(wrong, warmup=0, iters=1, threads=1)
    assert report.results is None and report.error
    assert report.artifact.sha256 == manifest["sha256"]
