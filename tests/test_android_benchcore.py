"""android_app/benchcore (plain Java) compiled with javac and tested with JUnit 4, its
collector client talking to the real Python collector (`mobilekit collect` on a free loopback
port). Missing javac or junit4 is a failure, not a skip: CI installs them (.ci/run)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import REPO, mobilekit_cli
from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.wire import SCHEMA_DIR, ArtifactManifest, DeviceReport

BENCHCORE = REPO / "android_app" / "benchcore"
JUNIT = Path(os.environ.get("JUNIT_JAR", "/usr/share/java/junit4.jar"))
HAMCREST = Path(os.environ.get("HAMCREST_JAR", "/usr/share/java/hamcrest-core.jar"))
TOKEN = "android-test-token"


def _require_java() -> None:
    missing = [t for t in ("javac", "java") if shutil.which(t) is None]
    missing += [str(j) for j in (JUNIT, HAMCREST) if not j.is_file()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install a JDK 17 and Debian's junit4 "
                    "(apt-get install openjdk-17-jdk-headless junit4), as .ci/run does")


def _artifact(folder: Path) -> Path:
    """An artifact folder as `mobilekit convert` lays it out; the bytes only travel here (the
    JVM has no ExecuTorch), so they are random, with a manifest that describes them."""
    folder.mkdir(parents=True)
    data = os.urandom(200_000)
    (folder / "model.pte").write_bytes(data)
    manifest = json.loads((SCHEMA_DIR / "golden" / "manifest_xnnpack.json").read_text())
    manifest.update(model="junit_artifact", file="model.pte", size_bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest())
    manifest["input"]["shape"] = [1, 2, 3, 64, 64]
    manifest.pop("check_set")  # random bytes have no check set; push refuses one whose files are absent
    ArtifactManifest.model_validate(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def _check_set(tmp_path: Path) -> dict:
    """A check set written by the real converter (a tiny tsn_b0, onnx), the host runtime's
    outputs on its clips and the host's numerics figures for them, for CheckSetTest.java."""
    import numpy as np

    from conftest import TINY
    from converters import convert
    from converters.runtimes import load_runtime
    from mobilekit.artifact import read_manifest
    from mobilekit.artifact.checkset import compare, read_check_set

    folder = convert("tsn_b0", "onnx", tmp_path / "tsn_b0-onnx", samples=1, latency_runs=0, **TINY).path
    check = read_check_set(folder, read_manifest(folder).check_set)
    runtime = load_runtime(folder, threads=1)
    got = [runtime.run(clip) for clip in check.inputs]
    (tmp_path / "host_outputs.bin").write_bytes(np.stack([g[0] for g in got]).astype("<f4").tobytes())
    numerics = compare(check.expected, got, check.meta["tolerance"], check.labels)
    assert numerics["status"] == "agrees", numerics
    (tmp_path / "host_numerics.json").write_text(json.dumps(numerics))
    return dict(MOBILEKIT_TEST_CHECKSET_DIR=str(folder), MOBILEKIT_TEST_HOST_OUTPUTS=str(tmp_path / "host_outputs.bin"),
                MOBILEKIT_TEST_HOST_NUMERICS=str(tmp_path / "host_numerics.json"))


def test_benchcore_junit_with_the_real_collector(tmp_path):
    _require_java()
    checks = _check_set(tmp_path)
    art = _artifact(tmp_path / "junit_artifact-xnnpack")
    with CollectorProcess(f"sqlite:///{tmp_path / 'c.db'}", token=TOKEN,
                          log_path=tmp_path / "collector.log").start() as collector:
        push = subprocess.run(mobilekit_cli() + ["push", str(art), "--server", collector.url,
                                                 "--token", TOKEN],
                              capture_output=True, text=True, timeout=120)
        assert push.returncode == 0, push.stderr
        [listed] = httpx.get(collector.url + "/api/v1/artifacts").json()["artifacts"]

        out = tmp_path / "junit-out"
        env = dict(os.environ, MOBILEKIT_COLLECTOR_URL=collector.url,
                   MOBILEKIT_COLLECTOR_TOKEN=TOKEN, MOBILEKIT_REQUIRE_COLLECTOR="1",
                   MOBILEKIT_TEST_ARTIFACT_ID=listed["id"], MOBILEKIT_TEST_ARTIFACT_DIR=str(art),
                   MOBILEKIT_TEST_OUT=str(out), BENCHCORE_BUILD=str(tmp_path / "javac"), **checks)
        run = subprocess.run([str(BENCHCORE / "run_tests.sh")], capture_output=True, text=True,
                             env=env, timeout=300)
        log = run.stdout + run.stderr
        assert run.returncode == 0, log[-6000:]
        assert "OK (" in run.stdout, log[-3000:]

        # What the Java side posted is in the collector, each report exactly once.
        posted = (out / "posted_ids.txt").read_text().split()
        assert len(posted) == 5, posted
        stored = httpx.get(collector.url + "/api/v1/reports", params={"limit": 1000}).json()
        ids = [r["report_id"] for r in stored["reports"]]
        for report_id in posted:
            assert ids.count(report_id) == 1, (report_id, ids)
        assert not any(i == "android-invalid-0001" for i in ids)  # the 422 one was set aside

    # The report the Java builder makes from a real benchmark run is a valid DeviceReport.
    built = DeviceReport.model_validate_json((out / "built_report.json").read_text())
    assert built.app.name == "mobilekit-android"
    assert len(built.results.latencies_ms) == built.config.iterations
    # ... and so is the one carrying the numerics Java computed on the converter's check set.
    checked = DeviceReport.model_validate_json((out / "checkset_report.json").read_text())
    assert checked.schema_version == 3 and checked.numerics.status == "agrees"
    assert checked.numerics.model_dump() == pytest.approx(json.loads((tmp_path / "host_numerics.json").read_text()))
    # ... and so is a streaming run's (StreamLoopTest): per-frame latency in the streaming block.
    stream = DeviceReport.model_validate_json((out / "stream_report.json").read_text())
    assert stream.streaming.mode == "frame-cache" and stream.streaming.frames == 1 + 3 + 6
    assert stream.results.latency_ms == stream.streaming.frame_latency_ms


def test_benchcore_main_sources_have_no_android_imports():
    sources = list((BENCHCORE / "src" / "main" / "java").rglob("*.java"))
    assert len(sources) >= 10
    for src in sources:
        for line in src.read_text().splitlines():
            if line.startswith("import "):
                assert not line.startswith(("import android.", "import androidx.", "import org.json")), \
                    f"{src.name}: {line} (benchcore must compile with plain javac)"
