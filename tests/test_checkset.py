"""Check sets (mobilekit/artifact/checkset.py, converters/checkset.py) on artifacts written by
the real converter, run on the real host runtimes through `mobilekit bench --artifact`: fp32
targets agree, an int8 artifact reports its real agreement, a perturbed expected file is
flagged, and a missing / truncated / tampered check set is an error beside the timing (never
a crash, never a pass). Figures here are of an untrained tiny model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import TINY
from mobilekit.artifact import read_manifest
from mobilekit.artifact.checkset import (CheckSetError, compare, read_check_set, tolerance_for)
from mobilekit.bench.host import run_artifact
from mobilekit.collector.wire import DeviceReport

FP32_TARGETS = ("xnnpack", "tflite", "onnx", "ptl")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    from converters import convert

    root = tmp_path_factory.mktemp("checkset")
    return {t: convert("tsn_b0", t, root / f"tsn_b0-{t}", samples=1, latency_runs=0, **TINY).path
            for t in FP32_TARGETS}


def _bench(folder) -> DeviceReport:
    report = run_artifact(folder, warmup=0, iters=1, threads=1)
    return DeviceReport.model_validate_json(report.model_dump_json())  # what crosses the wire


def test_layout_matches_the_manifest(artifacts):
    folder = artifacts["onnx"]
    m = read_manifest(folder)
    cs = m.check_set
    assert cs.count == 4 and cs.precision == "fp32" and cs.source == "synthetic val"
    assert cs.input.file == "checkset/input.bin" and cs.input.shape == [4, *m.input.shape]
    [out] = cs.outputs
    assert out.name == m.outputs[0].name and out.file == f"checkset/{out.name}.bin"
    assert out.shape == [4, *m.outputs[0].shape]
    raw = (folder / cs.input.file).read_bytes()
    assert len(raw) == cs.input.bytes == 4 * np.prod(m.input.shape) * 4
    clips = np.frombuffer(raw, dtype="<f4").reshape(cs.input.shape)
    assert np.isfinite(clips).all() and clips.std() > 0.1  # real (synthetic) video, normalised
    assert cs.total_bytes == cs.input.bytes + out.bytes
    assert cs.tolerance.rule == "max_abs_diff" and len(cs.tolerance.max_abs_diff) == 4


@pytest.mark.parametrize("target", FP32_TARGETS)
def test_fp32_host_runtimes_agree(artifacts, target):
    report = _bench(artifacts[target])
    n = report.numerics
    assert report.schema_version == 3 and report.error is None and report.results is not None
    assert n.status == "agrees" and n.samples == 4 and n.top1_agreement == 1.0, n
    assert n.max_abs_diff < 1e-3 and n.cosine > 0.9999


def test_int8_reports_its_real_agreement(tmp_path):
    from converters.quantize import quantize

    art = quantize("tsn_b0", "xnnpack", "int8", tmp_path / "int8", calibration="synthetic", samples=4, eval_samples=2, latency_runs=0,
                   **TINY)
    cs = art.manifest["check_set"]
    assert cs["precision"] == "int8" and cs["tolerance"]["rule"] == "top1_cosine"
    n = _bench(art.path).numerics
    assert n.status in ("agrees", "disagrees") and n.rule == "top1_cosine"
    # The verdict is the rule applied to the figures, whichever way it goes.
    agrees = n.top1_agreement >= cs["tolerance"]["min_top1_agreement"] and n.cosine >= cs["tolerance"]["min_cosine"]
    assert (n.status == "agrees") == agrees
    assert 0 < n.max_abs_diff and n.cosine < 1.0  # int8 really differs from the fp32 reference


def _copy(artifacts, tmp_path, target="onnx"):
    dst = tmp_path / f"copy-{target}"
    shutil.copytree(artifacts[target], dst)
    return dst


def _rewrite_expected(folder, change):
    """Change the expected logits and re-index them (sha256 and all): only the numbers lie."""
    from mobilekit.artifact.checkset import tensor_entry

    m = json.loads((folder / "manifest.json").read_text())
    out = m["check_set"]["outputs"][0]
    data = np.frombuffer((folder / out["file"]).read_bytes(), dtype="<f4").reshape(out["shape"]).copy()
    m["check_set"]["outputs"][0] = tensor_entry(folder, out["file"], change(data), name=out["name"])
    (folder / "manifest.json").write_text(json.dumps(m))


def test_a_perturbed_expected_file_is_flagged(artifacts, tmp_path):
    folder = _copy(artifacts, tmp_path)

    def perturb(a):
        a[2] += 0.05 * (1 + np.abs(a[2]).max())
        return a
    _rewrite_expected(folder, perturb)
    report = _bench(folder)
    n = report.numerics
    assert n.status == "disagrees" and n.detail.startswith("clip 2: max abs diff")
    assert report.results is not None and report.error is None  # a finding, not a failed run


@pytest.mark.parametrize("damage", ["truncated", "sha256", "missing", "no check set"])
def test_a_damaged_check_set_is_an_error_beside_the_timing(artifacts, tmp_path, damage):
    folder = _copy(artifacts, tmp_path)
    logits = folder / read_manifest(folder).check_set.outputs[0].file
    if damage == "truncated":
        logits.write_bytes(logits.read_bytes()[:-4])
    elif damage == "sha256":
        raw = bytearray(logits.read_bytes())
        raw[0] ^= 1
        logits.write_bytes(bytes(raw))
    elif damage == "missing":
        shutil.rmtree(folder / "checkset")
    else:
        m = json.loads((folder / "manifest.json").read_text())
        m.pop("check_set")
        (folder / "manifest.json").write_text(json.dumps(m))
    report = _bench(folder)
    assert report.results is not None and report.numerics.status == "error"
    expect = {"truncated": "truncated", "sha256": "sha256", "missing": "missing", "no check set": "no check set"}
    assert report.error.startswith("check set: ") and expect[damage] in report.error


def test_compare_figures_by_hand():
    expected = [np.array([[[1.0, 2.0, 3.0]], [[0.0, 5.0, 1.0]]], dtype=np.float32)]
    tol = tolerance_for("fp32", expected)
    assert tol["max_abs_diff"] == [pytest.approx(3e-3), pytest.approx(5e-3)]
    got = [[np.array([[1.0, 2.0, 3.002]])], [np.array([[0.0, 1.0, 5.0]])]]
    n = compare(expected, got, tol, labels=np.array([2, 1], dtype=np.int32))
    assert n["status"] == "disagrees" and n["detail"].startswith("clip 1")
    assert n["max_abs_diff"] == pytest.approx(4.0) and n["top1_agreement"] == 0.5
    assert n["mean_abs_diff"] == pytest.approx((0.002 + 4 + 4) / 6, rel=1e-4)
    assert n["accuracy"] == 0.5 and n["reference_accuracy"] == 1.0
    cos1 = (5 + 5) / (np.linalg.norm([0, 5, 1]) * np.linalg.norm([0, 1, 5]))
    assert n["cosine"] == pytest.approx(cos1)
    q = compare(expected, got, tolerance_for("int8"))
    assert q["status"] == "disagrees" and q["detail"].startswith("top-1 agreement 0.50")


def test_read_refuses_a_path_outside_the_folder(artifacts, tmp_path):
    folder = _copy(artifacts, tmp_path)
    meta = read_manifest(folder).check_set.model_dump(mode="json")
    meta["outputs"][0]["file"] = "../x.bin"
    with pytest.raises(CheckSetError, match="outside"):
        read_check_set(folder, meta)


def test_cli_check_options(tmp_path):
    from click.testing import CliRunner

    from mobilekit.cli import cli

    out = tmp_path / "a"
    r = CliRunner().invoke(cli, ["convert", "--model", "tsn_b0", "--frames", "2", "--size", "64", "--classes", "5",
                                 "--target", "onnx", "--out", str(out), "--no-validate", "--check-samples", "2"])
    assert r.exit_code == 0, r.output
    assert read_manifest(out).check_set.count == 2
    r = CliRunner().invoke(cli, ["convert", "--model", "tsn_b0", "--frames", "2", "--size", "64", "--classes", "5",
                                 "--target", "onnx", "--out", str(tmp_path / "b"), "--no-validate", "--no-check-set"])
    assert r.exit_code == 0, r.output
    assert read_manifest(tmp_path / "b").check_set is None and not (tmp_path / "b" / "checkset").exists()
