"""mobilekit.artifact, the one reader and writer of artifact folders, on real files: a tiny
model converted for real (ONNX), and folders damaged the ways they get damaged (a corrupt or
invalid manifest, a changed or missing model file, a manifest describing another file), plus
the .mlpackage directory digest that the converter, the host and the collector's zip check
must agree on."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from mobilekit.artifact import (ArtifactManifest, directory_sha256, open_artifact, read_manifest, sha256_of,
                                size_of, write_manifest, zipped_directory_sha256)
from mobilekit.errors import MobilekitError


@pytest.fixture(scope="module")
def onnx_artifact(tmp_path_factory):
    from converters import convert

    out = tmp_path_factory.mktemp("artifact") / "tsn_b0-onnx"
    convert("tsn_b0", "onnx", out, num_classes=3, num_frames=2, image_size=32, latency_runs=0)
    return out


@pytest.fixture
def copy(onnx_artifact, tmp_path):
    dest = tmp_path / "art"
    shutil.copytree(onnx_artifact, dest)
    return dest


def _one_line(e: pytest.ExceptionInfo) -> str:
    text = f"{e.value.problem}; {e.value.fix}"
    assert "\n" not in text
    return text


def test_a_converted_folder_opens_verified_from_the_folder_or_its_file(onnx_artifact):
    art = open_artifact(onnx_artifact)
    on_disk = json.loads((onnx_artifact / "manifest.json").read_text())
    assert art.folder == onnx_artifact and art.file == onnx_artifact / "model.onnx"
    assert isinstance(art.manifest, ArtifactManifest)
    assert art.manifest.model_dump(mode="json") == on_disk
    assert art.manifest.sha256 == hashlib.sha256(art.file.read_bytes()).hexdigest() == sha256_of(art.file)
    assert art.manifest.size_bytes == art.file.stat().st_size == size_of(art.file)
    by_file = open_artifact(onnx_artifact / "model.onnx")
    assert (by_file.folder, by_file.file, by_file.manifest) == (art.folder, art.file, art.manifest)
    assert read_manifest(onnx_artifact) == art.manifest == read_manifest(onnx_artifact / "manifest.json")


def test_the_host_runtime_and_bench_read_through_it(onnx_artifact):
    from converters.runtimes import load_runtime, resolve_artifact_file
    from mobilekit.bench.host import read_artifact

    file, manifest = resolve_artifact_file(onnx_artifact)
    assert file == onnx_artifact / "model.onnx" and manifest["target"] == "onnx"
    assert resolve_artifact_file(file) == (file, manifest)
    manifest_model, model_file = read_artifact(onnx_artifact)
    assert model_file == file and manifest_model.model_dump(mode="json") == manifest
    import numpy as np

    (logits,) = load_runtime(onnx_artifact, threads=1).run(np.zeros(manifest["input"]["shape"], np.float32))
    assert logits.shape == (1, 3)


def test_a_changed_model_file_is_refused_unless_not_verifying(copy):
    model = copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(MobilekitError, match="model.onnx does not match the manifest's sha256") as e:
        open_artifact(copy)
    assert "re-run `mobilekit convert`" in _one_line(e)
    art = open_artifact(copy, verify=False)  # a timed load checks nothing; verify() still can
    with pytest.raises(MobilekitError, match="does not match the manifest's sha256"):
        art.verify()


def test_a_missing_model_file_is_named(copy):
    (copy / "model.onnx").unlink()
    with pytest.raises(MobilekitError, match=r"model.onnx named by .*manifest.json is missing") as e:
        open_artifact(copy, verify=False)
    _one_line(e)


def test_missing_folder_and_missing_manifest(tmp_path):
    with pytest.raises(MobilekitError, match="nowhere does not exist"):
        open_artifact(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MobilekitError, match="empty has no manifest.json") as e:
        open_artifact(tmp_path / "empty")
    _one_line(e)
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(MobilekitError, match="m.onnx has no manifest.json beside it"):
        open_artifact(tmp_path / "m.onnx")
    bare = open_artifact(tmp_path / "m.onnx", bare_ok=True)   # host runtimes run plain files
    assert bare.manifest is None and bare.file == tmp_path / "m.onnx"


@pytest.mark.parametrize("breakage, field", [
    (lambda m: "{not json", "(root)"),
    (lambda m: json.dumps({**m, "sha256": "ABC"}), "sha256"),
    (lambda m: json.dumps({k: v for k, v in m.items() if k != "input"}), "input"),
    (lambda m: json.dumps({**m, "file": "../model.onnx"}), "file"),
    (lambda m: json.dumps({**m, "target": "bad/target"}), "target"),
    (lambda m: json.dumps({**m, "compute_units": "cpu only"}), "compute_units"),
    (lambda m: json.dumps({**m, "validation": {**m["validation"], "max_abs_diff": "NaN"}}), "validation.max_abs_diff"),
    (lambda m: json.dumps({**m, "extra_key": 1}), "extra_key"),
])
def test_an_invalid_manifest_names_the_field(copy, breakage, field):
    mpath = copy / "manifest.json"
    mpath.write_text(breakage(json.loads(mpath.read_text())))
    with pytest.raises(MobilekitError, match="not a valid artifact manifest") as e:
        open_artifact(copy)
    text = _one_line(e)
    assert f"fields: {field}" in text and str(mpath) in text


def test_a_manifest_describing_another_file(copy):
    other = copy / "other.onnx"
    shutil.copy(copy / "model.onnx", other)
    with pytest.raises(MobilekitError, match="describes 'model.onnx', not other.onnx"):
        open_artifact(other)
    assert open_artifact(other, bare_ok=True).manifest is None


def test_write_manifest_is_atomic_and_validates(copy):
    m = read_manifest(copy)
    before = (copy / "manifest.json").read_text()
    path = write_manifest(copy, m.model_dump(mode="json"))
    assert path.read_text() == before  # the converter's bytes: same dict, same text
    assert sorted(p.name for p in copy.iterdir()) == ["checkset", "manifest.json", "model.onnx"]  # no temp left
    with pytest.raises(MobilekitError, match="fields: sha256"):
        write_manifest(copy, {**m.model_dump(mode="json"), "sha256": "nope"})
    with pytest.raises(MobilekitError, match="fields: validation.mean_abs_diff"):
        write_manifest(copy, {**m.model_dump(mode="json"),
                              "validation": {**m.validation.model_dump(), "mean_abs_diff": float("inf")}})
    assert (copy / "manifest.json").read_text() == before  # a refused write leaves the old one
    assert sorted(p.name for p in copy.iterdir()) == ["checkset", "manifest.json", "model.onnx"]
    write_manifest(copy, m.model_copy(update={"model": "renamed"}))
    assert open_artifact(copy).manifest.model == "renamed"


def _reference_directory_digest(root) -> str:
    """Written from the rule in digest.py's docstring, not from its code."""
    h = hashlib.sha256()
    files = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    for rel in sorted(files, key=lambda s: s.encode()):
        h.update(rel.encode() + b"\0" + files[rel].read_bytes())
    return h.hexdigest()


def test_mlpackage_digest_is_one_rule_for_converter_host_and_collector(copy, tmp_path):
    from mobilekit.collector.artifacts import prepare_upload, zip_directory

    pkg = copy / "model.mlpackage"   # a directory model, laid out as Core ML writes one
    (pkg / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (pkg / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(bytes(range(256)) * 64)
    (pkg / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec")
    # "x.b" sorts before "x/a" as a path string, after it component by component: the digest
    # must use one order on disk and in a zip listing.
    (pkg / "Data" / "x").mkdir()
    (pkg / "Data" / "x" / "a").write_bytes(b"in x")
    (pkg / "Data" / "x.b").write_bytes(b"beside x")
    (pkg / "Manifest.json").write_text("{}")
    (copy / "model.onnx").unlink()

    digest = directory_sha256(pkg)
    assert digest == sha256_of(pkg) == _reference_directory_digest(pkg)
    zipped = tmp_path / "model.mlpackage.zip"
    zip_directory(pkg, zipped)
    assert zipped_directory_sha256(zipped, "model.mlpackage") == digest
    assert size_of(pkg) == sum(p.stat().st_size for p in pkg.rglob("*") if p.is_file())

    m = json.loads((copy / "manifest.json").read_text())
    m.update(file="model.mlpackage", target="coreml-cpu", runtime="coreml", compute_units="cpuOnly",
             sha256=digest, size_bytes=size_of(pkg))
    write_manifest(copy, m)
    assert open_artifact(copy).file == pkg and open_artifact(pkg).manifest.sha256 == digest
    upload = prepare_upload(copy)   # the collector's push: verified, zipped
    try:
        assert zipped_directory_sha256(upload.path, "model.mlpackage") == digest
    finally:
        upload.close()
    (pkg / "Data" / "x.b").write_bytes(b"changed")
    with pytest.raises(MobilekitError, match="model.mlpackage does not match the manifest's sha256"):
        open_artifact(copy)
    with zipfile.ZipFile(tmp_path / "stray.zip", "w") as zf:
        zf.writestr("elsewhere/file", b"x")
    with pytest.raises(ValueError, match="outside model.mlpackage/"):
        zipped_directory_sha256(tmp_path / "stray.zip", "model.mlpackage")


def test_ground_schema_takes_any_well_formed_target_the_wire_only_registered_ones(onnx_artifact):
    from mobilekit.collector import wire

    m = json.loads((onnx_artifact / "manifest.json").read_text())
    future = {**m, "target": "future-npu", "runtime": "someruntime", "compute_units": "npu"}
    assert ArtifactManifest.model_validate(future).target == "future-npu"
    with pytest.raises(ValueError, match="target"):
        wire.ArtifactManifest.model_validate(future)
    # The registry's new targets are on the wire: ExecuTorch's Vulkan delegate (gpu) and the
    # LiteRT GPU delegate as a compute unit an Android run reports for a tflite artifact.
    vulkan = wire.ArtifactManifest.model_validate({**m, "target": "vulkan", "runtime": "executorch",
                                                   "compute_units": "gpu", "delegate": "vulkan"})
    assert vulkan.target == "vulkan"
    golden = wire.golden_payloads()["report_android_xnnpack.json"]
    report = wire.DeviceReport.model_validate({
        **golden, "app": {**golden["app"], "runtime": "litert"},
        "artifact": {**golden["artifact"], "target": "tflite"}, "config": {**golden["config"], "compute_units": "gpu"}})
    assert (report.artifact.target, report.config.compute_units) == ("tflite", "gpu")
    schema = json.loads((wire.SCHEMA_DIR / "manifest.schema.json").read_text())
    assert "vulkan" in schema["properties"]["target"]["enum"]


def test_build_manifest_refuses_a_target_runtime_pair_the_registry_does_not_have(onnx_artifact):
    from converters.manifest import build_manifest

    m = json.loads((onnx_artifact / "manifest.json").read_text())
    assert build_manifest(**m) == m
    with pytest.raises(MobilekitError, match="not a registered pair"):
        build_manifest(**{**m, "runtime": "litert"})


def test_the_artifact_module_stands_on_the_ground_floor():
    """Importing it pulls in none of the floors above (nor torch)."""
    code = ("import sys, mobilekit.artifact as a; a.open_artifact, a.ArtifactManifest, a.sha256_of; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('converters', 'torch', 'numpy') "
            "or m.startswith(('mobilekit.collector', 'mobilekit.bench', 'mobilekit.commands', "
            "'mobilekit.models', 'mobilekit.train', 'mobilekit.data'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
