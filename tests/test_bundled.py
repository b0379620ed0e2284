"""ExecuTorch BundledProgram (.bpte) from an artifact's program and its check set
(converters/backends/executorch/bundled.py), verified by ExecuTorch's own check
(pybindings' BundledModule.verify_result_with_bundled_expected_output) on the real runtime.
The artifact is the real converter's: a tiny untrained tsn_b0 on xnnpack."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from conftest import TINY
from converters.backends.executorch.bundled import (BUNDLED_FILE, bundle_artifact, bundled_manifest_field,
                                                    verify_bundled, write_bundled)
from mobilekit.artifact import ArtifactManifest, read_manifest
from mobilekit.artifact.checkset import tolerance_for
from mobilekit.errors import MobilekitError


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    from converters import convert

    root = tmp_path_factory.mktemp("bundled")
    return convert("tsn_b0", "xnnpack", root / "tsn_b0-xnnpack", samples=1, latency_runs=0, **TINY).path


def _copy(artifact, tmp_path):
    return shutil.copytree(artifact, tmp_path / "art")


def test_the_bundle_verifies_with_executorchs_own_check(artifact, tmp_path):
    folder = _copy(artifact, tmp_path)
    m = read_manifest(folder)
    info = write_bundled(folder)
    bpte = (folder / BUNDLED_FILE).read_bytes()
    assert info["test_cases"] == m.check_set.count == 4 and info["program_sha256"] == m.sha256
    assert info["sha256"] == hashlib.sha256(bpte).hexdigest() and info["size_bytes"] == len(bpte)
    assert (folder / m.file).read_bytes() in bpte  # the program travels unchanged
    assert info["atol"] == m.check_set.tolerance.max_abs_diff and info["rtol"] == 0.0

    result = verify_bundled(folder / BUNDLED_FILE)
    assert result["status"] == "agrees" and result["test_cases"] == 4 and result["failed"] == [], result
    # The check compares for real: XNNPACK is not bit-equal to eager PyTorch (measured: every
    # clip differs by more than 1e-12), so an absurd bound fails every case.
    tight = verify_bundled(folder / BUNDLED_FILE, atol=1e-12)
    assert tight["status"] == "disagrees" and tight["failed"] == [0, 1, 2, 3] and tight["test_cases"] == 4


def test_a_perturbed_expected_output_fails_executorchs_check(artifact, tmp_path):
    folder = _copy(artifact, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["check_set"]["outputs"][0]
    logits = np.fromfile(folder / entry["file"], dtype="<f4").reshape(entry["shape"])
    bound = manifest["check_set"]["tolerance"]["max_abs_diff"][2]
    logits[2, 0, 0] += 10 * bound  # clip 2's expected output is now wrong, by 10x its tolerance
    (folder / entry["file"]).write_bytes(logits.astype("<f4").tobytes())
    entry["sha256"] = hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))

    write_bundled(folder)
    result = verify_bundled(folder / BUNDLED_FILE)
    assert result["status"] == "disagrees" and result["failed"] == [2], result
    assert result["detail"].startswith("test case 2:")
    # convert --bundled's step refuses it and leaves no bundle behind.
    (folder / BUNDLED_FILE).unlink()
    with pytest.raises(MobilekitError, match="ExecuTorch's own check of model.bpte failed on 1 of 4"):
        bundle_artifact(folder)
    assert not (folder / BUNDLED_FILE).exists()


def test_what_cannot_be_bundled_is_refused_and_writes_nothing(artifact, tmp_path):
    folder = _copy(artifact, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    # A damaged check set: one line, no bundle.
    (folder / "checkset" / "input.bin").write_bytes(b"\0" * manifest["check_set"]["input"]["bytes"])
    with pytest.raises(MobilekitError, match="input.bin does not match the manifest's sha256"):
        write_bundled(folder)
    assert not (folder / BUNDLED_FILE).exists()
    shutil.copy(artifact / "checkset" / "input.bin", folder / "checkset" / "input.bin")
    # An int8 rule has no element-wise bound for ExecuTorch's allclose.
    manifest["check_set"]["tolerance"] = tolerance_for("int8")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MobilekitError, match="top1_cosine, which has no element-wise bound"):
        write_bundled(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["checkset", "manifest.json", "model.pte"]
    with pytest.raises(MobilekitError, match="no bundled program"):
        verify_bundled(folder / BUNDLED_FILE)


def test_the_manifest_records_the_bundle(artifact, tmp_path):
    folder = _copy(artifact, tmp_path)
    info = write_bundled(folder)
    bundled_manifest_field(folder, info)
    assert read_manifest(folder).model_dump(mode="json")["bundled"]["sha256"] == info["sha256"]


def _cli(*args):
    import subprocess

    from conftest import mobilekit_cli

    return subprocess.run(mobilekit_cli() + list(args), capture_output=True, text=True, timeout=900)


def test_convert_bundled_writes_a_verified_bpte(tmp_path):
    out = tmp_path / "art"
    r = _cli("convert", "--model", "tsn_b0", "--frames", str(TINY["num_frames"]), "--size", str(TINY["image_size"]),
             "--classes", str(TINY["num_classes"]), "-t", "xnnpack", "--samples", "1", "--latency-runs", "0",
             "--bundled", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "ExecuTorch's own check: agrees" in r.stdout
    bundled = read_manifest(out).model_dump(mode="json")["bundled"]
    assert bundled["test_cases"] == 4 and bundled["verified"]["status"] == "agrees"
    assert hashlib.sha256((out / bundled["file"]).read_bytes()).hexdigest() == bundled["sha256"]


def test_convert_bundled_on_another_runtime_is_one_line_and_writes_nothing(tmp_path):
    r = _cli("convert", "--model", "tsn_b0", "-t", "onnx", "--bundled", "--out", str(tmp_path / "art"))
    assert r.returncode == 2 and r.stdout == ""
    [line] = r.stderr.strip().splitlines()
    assert "onnx is not an ExecuTorch target" in line and "xnnpack" in line
    assert not (tmp_path / "art").exists()
