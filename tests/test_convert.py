"""Converters, for real: a tiny zoo model to every target with validation on the host
runtimes, a user module through the CLI, checkpoints, the unsupported-op error, and a
validation failure that keeps the artifact beside the folder it leaves alone.

Budget: one tiny VLF (2 frames, 64x64, named heads) converted once per target; user
modules are a few layers. Validation uses 2 clips and 2 timed runs to stay fast.
"""

from __future__ import annotations

import re

import copy
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, mobilekit_cli

from converters import TARGETS, ValidationFailed, convert, load_runtime
from converters.validate import NOISE_FACTOR, TOLERANCE, settle_batchnorm, validation_clips
from mobilekit.collector.wire import ArtifactManifest
from mobilekit.errors import MobilekitError
from mobilekit.models import create_model

HEADS = {"verb": 3, "noun": 4}
SAMPLES = 2
# A user's model file: `mobilekit convert --module FILE.py:Class` imports it by path.
USER_NET = '''\
import torch
from torch import nn


class TinyNet(nn.Module):
    """A small video classifier: per-frame conv, temporal mean, linear head."""

    def __init__(self, classes: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        b, t = x.shape[:2]
        f = self.conv(x.flatten(0, 1)).relu().mean((2, 3))
        return self.fc(f.reshape(b, t, -1).mean(1))


class Squash(nn.Module):
    """erfinv has no lowering in coremltools, litert-torch, the ONNX exporter, or ExecuTorch's
    edge dialect (it is not core ATen): the deliberately unsupported op."""

    def forward(self, x):
        return torch.special.erfinv(torch.tanh(x) * 0.5)


class WithErfinv(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = TinyNet()
        self.post = nn.Sequential(nn.Identity(), Squash())

    def forward(self, x):
        return self.post(self.body(x))


class TracedDiffers(nn.Module):
    """Export-safe, but what torch.jit.trace records is not what eager runs (a trace-time
    shortcut): the .ptl passes torch.export's gate and disagrees with eager on every input."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        f = x.mean((1, 2, 4))  # (B, H)
        if torch.jit.is_tracing():
            return -self.fc(f)
        return self.fc(f)
'''


@pytest.fixture(scope="module")
def tiny_vlf():
    torch.manual_seed(0)
    model = create_model("vlf_b0", num_classes=HEADS, num_frames=TINY["num_frames"],
                         image_size=TINY["image_size"]).eval()
    # Fresh EfficientNet features vanish (~1e-13) with BN in eval mode: give BN real
    # statistics so the logits depend on the input and the comparison means something.
    shape = [1, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"]]
    return settle_batchnorm(model, shape)


@pytest.fixture(scope="module")
def user_net(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("user") / "user_net.py"
    path.write_text(USER_NET)
    return path


def _sha256(path: Path) -> str:
    """Independent of converters.manifest: a file's bytes, or a folder's sorted relative
    paths and bytes (how a .mlpackage is hashed)."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
        return h.hexdigest()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def _check_manifest(art) -> dict:
    on_disk = json.loads((art.path / "manifest.json").read_text())
    ArtifactManifest.model_validate(on_disk)
    assert on_disk == art.manifest
    assert on_disk["sha256"] == _sha256(art.file)
    assert on_disk["file"] == art.file.name and art.file.parent == art.path
    return on_disk


@pytest.mark.parametrize("target", list(TARGETS))
def test_tiny_zoo_model_converts_to_every_target(target, tiny_vlf, tmp_path):
    layer_norms_before = sum(type(m) is torch.nn.LayerNorm for m in tiny_vlf.modules())
    art = convert(tiny_vlf, target, tmp_path / target, samples=SAMPLES, latency_runs=2, threads=1)
    m = _check_manifest(art)
    spec = TARGETS[target]
    shape = [1, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"]]
    assert (m["target"], m["runtime"], m["compute_units"], m["precision"], m["delegate"]) == (
        target, spec.runtime, spec.compute_units, spec.precision, spec.delegate)
    assert m["model"] == "vlf_b0" and m["family"] == "vlf" and m["input"]["shape"] == shape
    assert [(o["name"], o["shape"]) for o in m["outputs"]] == [("verb", [1, 3]), ("noun", [1, 4])]
    # the caller's model is untouched (xnnpack rewrites a deep copy)
    assert sum(type(m_) is torch.nn.LayerNorm for m_ in tiny_vlf.modules()) == layer_norms_before > 0
    v = m["validation"]

    if not spec.host_runtime:
        assert v["status"] == "skipped" and v["reason"] == spec.host_skip_reason
        if spec.runtime == "coreml":
            assert art.file.suffix == ".mlpackage" and (art.file / "Manifest.json").is_file()
        else:  # et-coreml, vulkan: the delegate took the graph, and the host refuses it with a reason
            assert m["conversion"]["delegation"]["share"] > 0.9
        with pytest.raises(MobilekitError, match=re.escape(spec.host_skip_reason)):
            load_runtime(art.path)
        return

    # Recompute the figures independently with the same runtime and compare to the manifest:
    # the standard clips, then the four probes (positive, negative, small, large).
    assert v["status"] == "passed" and v["samples"] == SAMPLES + 4 and v["host_latency_ms"] > 0
    clips, kinds = validation_clips(shape, SAMPLES)
    assert kinds == ["standard"] * SAMPLES + ["positive", "negative", "small", "large"]
    assert m["conversion"]["validation_inputs"]["standard"] == f"{SAMPLES} x N(0,1)"
    runtime = load_runtime(art.path, threads=1)
    assert runtime.name == spec.runtime
    per_clip, agree = [], []   # (max abs diff, tolerance) per clip
    model64 = copy.deepcopy(tiny_vlf).double()
    with torch.no_grad():
        eager = [tiny_vlf(torch.from_numpy(c)) for c in clips]
        exact = [model64(torch.from_numpy(c).double()) for c in clips]
    for clip, want, want64 in zip(clips, eager, exact):
        got = runtime.run(clip)
        assert [g.shape for g in got] == [(1, 3), (1, 4)]
        wants = (want["verb"].numpy(), want["noun"].numpy())
        diff = max(float(np.abs(g - w).max()) for g, w in zip(got, wants))
        # the larger of: relative to the logits, and a multiple of eager fp32's own rounding error
        eager_off = max(float((want[k].double() - want64[k]).abs().max()) for k in HEADS)
        per_clip.append((diff, max(TOLERANCE[spec.precision] * max(1.0, *(float(np.abs(w).max()) for w in wants)),
                                   NOISE_FACTOR * eager_off)))
        agree += [g.argmax() == w.argmax() for g, w in zip(got, wants)]
    # the clips give clearly different logits: the comparison is not between constants
    spread = max(np.abs(eager[0][k] - eager[1][k]).max().item() for k in HEADS)
    assert spread > max(100 * max(d for d, _ in per_clip[:SAMPLES]), 1e-3)
    assert not any("untrained" in n for n in m["conversion"]["notes"])
    assert all(d <= tol for d, tol in per_clip)
    worst = max(per_clip, key=lambda c: c[0] / c[1])   # the manifest reports the clip nearest its tolerance
    assert (v["max_abs_diff"], v["tolerance"]) == pytest.approx(worst, abs=1e-6)
    assert v["top1_agreement"] == pytest.approx(np.mean(agree))
    if target == "xnnpack":
        conv = m["conversion"]
        assert conv["rewrites"] == ["decompose_layer_norms"]
        assert conv["delegation"]["share"] == 1.0  # fully delegated (getitems are not counted)
    if target == "ptl":
        assert m["conversion"]["optimize_for_mobile"] in ("used", "unavailable")


def test_cli_converts_a_user_module_to_two_targets(user_net, tmp_path):
    out = tmp_path / "arts"
    proc = subprocess.run(
        mobilekit_cli() + ["convert", "--module", f"{user_net}:TinyNet", "--input-shape", "1,2,3,16,16",
                           "-t", "ptl", "-t", "onnx", "--out", str(out), "--samples", "2",
                           "--latency-runs", "2", "--threads", "1"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for target, ext in (("ptl", "ptl"), ("onnx", "onnx")):
        folder = out / f"TinyNet-{target}"
        m = ArtifactManifest.model_validate_json((folder / "manifest.json").read_text())
        assert m.validation.status == "passed" and m.validation.max_abs_diff <= m.validation.tolerance
        assert m.input.shape == [1, 2, 3, 16, 16] and m.num_classes == 4 and m.model == "TinyNet"
        assert m.sha256 == _sha256(folder / f"model.{ext}")
        assert str(folder / f"model.{ext}") in proc.stdout  # the summary table says where
    assert "passed" in proc.stdout


def test_unsupported_op_is_one_line_naming_op_module_and_target(user_net, tmp_path):
    proc = subprocess.run(
        mobilekit_cli() + ["convert", "--module", f"{user_net}:WithErfinv", "--input-shape", "1,2,3,16,16",
                           "--target", "onnx", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = errors[0]
    assert "erfinv" in line and "`post.1` (Squash)" in line and "target onnx" in line
    assert "another target" in line and "mobilekit check" in line


def test_validation_failure_keeps_the_artifact_beside_the_folder_it_leaves_alone(user_net, tmp_path):
    from converters.source import load_module_class

    folder = tmp_path / "art"
    good = convert(load_module_class(f"{user_net}:TinyNet")(), "ptl", folder, input_shape=[1, 2, 3, 8, 8],
                   samples=1, latency_runs=0, threads=1)
    def contents():  # every file, the check set's included
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    before = contents()
    assert "checkset/input.bin" in before
    with pytest.raises(ValidationFailed, match=r"max abs diff .*\.failed; .*art left as it was") as info:
        convert(load_module_class(f"{user_net}:TracedDiffers")(), "ptl", folder,
                input_shape=[1, 2, 3, 8, 8], samples=2, latency_runs=0, threads=1)
    # the good artifact is whole and untouched; the failed one is kept for inspection beside it
    assert contents() == before
    assert _check_manifest(good)["validation"]["status"] == "passed"
    art = info.value.artifact
    assert art.path == tmp_path / "art.failed" and art.file.is_file()
    m = _check_manifest(art)
    assert m["validation"]["status"] == "failed"
    assert m["validation"]["max_abs_diff"] > m["validation"]["tolerance"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art", "art.failed"]  # no staging left


def test_checkpoint_alone_is_enough(tmp_path):
    from mobilekit.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("tsn_b0", **TINY)
    classes = [f"class_{i}" for i in range(TINY["num_classes"])]
    ckpt = save_checkpoint(tmp_path / "ckpt.pt", model, classes=classes)
    art = convert(checkpoint=str(ckpt), target="ptl", out_dir=tmp_path / "art", samples=1, latency_runs=0)
    m = _check_manifest(art)
    assert m["model"] == "tsn_b0" and m["classes"] == classes and m["num_classes"] == TINY["num_classes"]
    assert m["input"]["shape"] == [1, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"]]
    assert m["conversion"]["source"] == "checkpoint" and m["validation"]["status"] == "passed"


def test_bad_requests_fail_with_a_fix(tmp_path):
    with pytest.raises(MobilekitError, match="unknown target 'xnnpak'.*did you mean xnnpack"):
        convert("tsn_b0", "xnnpak", tmp_path)
    with pytest.raises(MobilekitError, match="unknown model"):
        convert("vlf_b9", "ptl", tmp_path)
    with pytest.raises(MobilekitError, match="not FILE.py:ClassName"):
        convert(module="nofile", target="ptl", input_shape=[1, 2, 3, 8, 8])
    with pytest.raises(MobilekitError, match="does not run on an input of shape"):
        convert("tsn_b0", "ptl", tmp_path, example_input=torch.randn(1, 3, 64, 64), **TINY)
    with pytest.raises(MobilekitError, match="does not exist"):
        load_runtime(tmp_path / "missing.pte")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(MobilekitError, match="could not load"):
        load_runtime(corrupt)
