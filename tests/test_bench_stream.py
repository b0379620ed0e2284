"""`mobilekit bench --artifact STREAM [--clip CLIP] --post URL`: a streaming artifact converted
for real (tiny tsn_b0, frame cache; tiny MoViNet step, state), run one frame at a time on the
host runtime, posted as a schema-3 report with its `streaming` block to the real collector
(a subprocess on a free loopback port), and read back from its summary beside the clip."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest
import torch

from conftest import mobilekit_cli
from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.wire import DeviceReport

TOKEN = "stream-bench-token"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    from converters import convert
    from converters.streaming import convert_stream
    from mobilekit.models import create_model
    from mobilekit.models.movinet import ARCHS

    root = tmp_path_factory.mktemp("stream")
    torch.manual_seed(0)
    tsn = create_model("tsn_b0", num_classes=5, num_frames=3, image_size=64).eval()
    stream = convert_stream(tsn, "onnx", root / "tsn-stream", latency_runs=0)
    clip = convert(tsn, "onnx", root / "tsn-clip", samples=1, latency_runs=0)
    assert stream.manifest["streaming"]["validation"]["status"] == "passed"
    assert clip.validation["status"] == "passed"
    stages = [(c, s, layers[:1]) for c, s, layers in ARCHS["a0"]["stages"]][:2]
    mov = create_model("movinet_a0_stream", num_classes=5, image_size=32, stages=stages).eval()
    step = convert_stream(mov, "onnx", root / "mov-stream", latency_runs=0)
    return dict(stream=root / "tsn-stream", clip=root / "tsn-clip", step=root / "mov-stream",
                clip_sha=clip.manifest["sha256"])


def _bench(*args: str):
    from click.testing import CliRunner

    from mobilekit.cli import cli

    return CliRunner().invoke(cli, ["bench", *args])


def test_stream_report_with_its_clip_lands_in_the_collector(artifacts, tmp_path):
    out = tmp_path / "report.json"
    with CollectorProcess(f"sqlite:///{tmp_path / 'c.db'}", token=TOKEN, log_path=tmp_path / "s.log") as server:
        r = _bench("--artifact", str(artifacts["stream"]), "--clip", str(artifacts["clip"]), "--threads", "1",
                   "--warmup", "1", "--iters", "4", "--post", server.url, "--token", TOKEN, "--out", str(out))
        assert r.exit_code == 0, r.stderr
        assert "per new frame (frame-cache, window 3)" in r.stdout and "per frame / clip" in r.stdout
        assert "posted tsn_b0 [onnx, batch 1]" in r.stderr
        report = DeviceReport.model_validate_json(out.read_text())
        s = report.streaming
        assert report.schema_version == 3 and s.mode == "frame-cache" and s.window == 3
        # first frame + max(warm-up, window - 1) to fill the ring + 4 timed frames
        assert s.frames == 1 + 2 + 4 and len(report.results.latencies_ms) == 4
        assert report.results.latency_ms == s.frame_latency_ms and s.clip_sha256 == artifacts["clip_sha"]
        assert s.clip_latency_ms.median > 0 and report.config.threads == 1
        stored = httpx.get(server.url + "/api/v1/reports", params={"model": "tsn_b0"}, timeout=30).json()
        assert [x["streaming"]["frame_latency_ms"]["median"] for x in stored["reports"]] == [
            pytest.approx(s.frame_latency_ms.median)]
        rows = httpx.get(server.url + "/api/v1/summary", timeout=30).json()["rows"]
        row = next(x for x in rows if x["model"] == "tsn_b0")
        assert row["frame_ms"] == pytest.approx(s.frame_latency_ms.median)
        assert row["median_ms"] == pytest.approx(s.clip_latency_ms.median) and row["runs"] == 1
        assert row["frame_over_clip"] == pytest.approx(s.frame_latency_ms.median / s.clip_latency_ms.median)


def test_state_stream_report_and_json(artifacts):
    r = _bench("--artifact", str(artifacts["step"]), "--threads", "1", "--warmup", "2", "--iters", "3", "--json")
    assert r.exit_code == 0, r.stderr
    report = DeviceReport.model_validate_json(r.stdout)
    assert report.streaming.mode == "state" and report.streaming.window is None
    assert report.streaming.frames == 1 + 2 + 3 and report.streaming.clip_latency_ms is None


def test_a_stream_given_as_the_clip_is_one_line_and_writes_nothing(artifacts, tmp_path):
    out = tmp_path / "r.json"
    r = _bench("--artifact", str(artifacts["stream"]), "--clip", str(artifacts["step"]), "--out", str(out))
    assert r.exit_code == 2 and not out.exists()
    lines = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "is a streaming artifact, not a clip" in lines[0]
    r = _bench("--artifact", str(artifacts["clip"]), "--clip", str(artifacts["clip"]), "--out", str(out))
    assert r.exit_code == 2 and "is a clip artifact, not a streaming one" in r.stderr and not out.exists()


def test_the_collector_takes_a_state_stream_and_refuses_a_frame_cache_one(artifacts, tmp_path):
    """It serves one program per artifact: a frame-cache stream would reach a phone without its
    head, so push says so in one line (and the server answers 422 to a raw upload)."""
    with CollectorProcess(f"sqlite:///{tmp_path / 'c.db'}", token=TOKEN, log_path=tmp_path / "s.log") as server:
        env = {**os.environ, "MOBILEKIT_TOKEN": TOKEN}
        ok = subprocess.run(mobilekit_cli() + ["push", str(artifacts["step"]), "--server", server.url, "--token", TOKEN],
                            capture_output=True, text=True, timeout=300, env=env)
        assert ok.returncode == 0, ok.stderr
        bad = subprocess.run(mobilekit_cli() + ["push", str(artifacts["stream"]), "--server", server.url,
                                                "--token", TOKEN], capture_output=True, text=True, timeout=300, env=env)
        assert bad.returncode == 2 and bad.stdout == ""
        [line] = bad.stderr.strip().splitlines()
        assert "frame-cache stream of 2 programs" in line and "mobilekit android run" in line
        raw = (artifacts["stream"] / "manifest.json").read_bytes()
        r = httpx.post(server.url + "/api/v1/artifacts", headers={"Authorization": f"Bearer {TOKEN}"},
                       files={"manifest": ("manifest.json", raw),
                              "file": ("model.onnx", (artifacts["stream"] / "model.onnx").read_bytes())}, timeout=60)
        assert r.status_code == 422 and "one program per artifact" in r.text
        assert [a["model"] for a in httpx.get(server.url + "/api/v1/artifacts", timeout=30).json()["artifacts"]] == [
            "movinet_a0_stream"]
