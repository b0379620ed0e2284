"""Quantization, for real: a tiny video model (per-frame convs, one export-safe transformer
layer, a linear head) quantized for xnnpack (int8, int8-dynamic), onnx and tflite (int8,
int8-dynamic) and run on the host runtimes; Core ML schemes checked in the saved spec and
file size; calibration from a real video folder; the CLI and its errors.

The agreement figures are recomputed here from the artifact's own outputs (the host runtime
on the same held-out clips) and must equal the manifest's: they come from real outputs, and
no figure is asserted to a magic number. Budget: ~4 clips per set, 2 timed runs.
"""

from __future__ import annotations

import collections
import json
import platform

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from converters import load_runtime
from converters.quantize import quantize, schemes_for
from converters.quantize.calibration import load_clips
from converters.quantize.report import agreement, top1_accuracy
from mobilekit.collector.wire import ArtifactManifest
from mobilekit.errors import MobilekitError

SHAPE = [1, 2, 3, 64, 64]
# The tiny nets here are untrained: calibrating them on the synthetic set is asked for explicitly.
FEW = dict(samples=4, eval_samples=4, latency_runs=2, threads=1, calibration="synthetic")

TINY_NET = '''\
import torch
from torch import nn

from mobilekit.models.layers import TransformerLayer, frames_to_batch, global_pool


class TinyVideoNet(nn.Module):
    """Per-frame convs, a transformer layer over time, a linear head (every quantizable kind)."""

    def __init__(self, classes: int = 2, dim: int = 64):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(16, dim, 3, stride=2, padding=1), nn.ReLU())
        self.temporal = TransformerLayer(dim, num_heads=4, mlp_dim=2 * dim, dropout=0.0)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        f, b, t = frames_to_batch(x)
        z = global_pool(self.stem(f)).reshape(b, t, -1)
        return self.head(self.temporal(z).mean(1))
'''
_ns: dict = {}
exec(compile(TINY_NET, "tiny_net.py", "exec"), _ns)
TinyVideoNet = _ns["TinyVideoNet"]


@pytest.fixture(scope="module")
def net():
    return TinyVideoNet().eval()


@pytest.fixture(scope="module")
def example():
    return torch.randn(*SHAPE, generator=torch.Generator().manual_seed(0))


def _check_report(art, net, expect_calibrated: bool):
    """The manifest fits the wire format and its agreement figures are what the artifact's own
    outputs give on the held-out clips."""
    m = ArtifactManifest.model_validate(art.manifest).model_dump(mode="json")
    q = m["quantization"]
    r = q["report"]
    assert q["calibration_samples"] == (FEW["samples"] if expect_calibrated else None)
    assert (q["calibration"] == "synthetic train") == expect_calibrated
    assert r["held_out_samples"] == FEW["eval_samples"] and r["size_bytes_after"] == m["size_bytes"]
    assert 0.0 <= r["top1_agreement"] <= 1.0 and -1.0 <= r["mean_cosine"] <= 1.0
    assert r["host_latency_ms_before"] > 0 and r["host_latency_ms_after"] > 0
    assert r["latency_ratio"] == pytest.approx(r["host_latency_ms_after"] / r["host_latency_ms_before"], rel=1e-3)
    # Recompute from real outputs: the same held-out clips through the artifact and eager fp32.
    clips = load_clips(SHAPE, samples=0, eval_samples=FEW["eval_samples"]).held_out.clips
    rt = load_runtime(art.path, threads=1)
    with torch.no_grad():
        ref = [[net(torch.from_numpy(c)).numpy()] for c in clips]
    got = [rt.run(c) for c in clips]
    mine = agreement(ref, got)
    assert mine["top1_agreement"] == pytest.approx(r["top1_agreement"])
    assert mine["mean_cosine"] == pytest.approx(r["mean_cosine"], abs=1e-6)
    assert mine["max_abs_diff"] == pytest.approx(r["max_abs_diff"], rel=1e-5, abs=1e-7)
    assert not np.allclose(got[0][0], ref[0][0], atol=1e-7), "quantized outputs should differ from fp32"
    return m


@pytest.mark.parametrize("scheme", ["int8", "int8-dynamic"])
def test_xnnpack(tmp_path, net, example, scheme):
    art = quantize(net, "xnnpack", scheme, tmp_path / scheme, example_input=example, **FEW)
    m = _check_report(art, net, expect_calibrated=scheme == "int8")
    assert m["precision"] == ("int8" if scheme == "int8" else "mixed")
    assert m["conversion"]["delegation"]["delegated_nodes"] > 0
    assert "torchao" in m["tools"]
    if scheme == "int8":  # every weight in int8: well under half the fp32 program
        assert m["quantization"]["report"]["size_ratio"] < 0.5


class GatedConvNet(nn.Module):
    """EfficientNet's pieces at toy size: conv-BN-SiLU, a 5x5 depthwise conv, a sigmoid gate."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 5, padding=2, groups=16), nn.BatchNorm2d(16), nn.SiLU())
        self.gate = nn.Sequential(nn.Conv2d(16, 16, 1), nn.Sigmoid())
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        b, t = x.shape[:2]
        f = self.dw(self.stem(x.reshape(b * t, *x.shape[2:])))
        f = f * self.gate(f.mean((2, 3), keepdim=True))
        return self.head(f.mean((2, 3), keepdim=True).reshape(b, t, -1).mean(1))


def xnnpack_kernels(pte, shape) -> collections.Counter:
    """The XNNPACK operators a .pte ran, by name (ExecuTorch's ETDump profile of one run)."""
    from converters.backends.executorch.compat import profile_pte

    return collections.Counter(r["event"].split(" #")[0] for r in profile_pte(pte, torch.randn(*shape), runs=1))


def test_xnnpack_int8_runs_sigmoid_and_silu_in_int8(tmp_path):
    """SiLU and sigmoid run as XNNPACK int8 kernels: no fp32 Sigmoid between dequantize and
    quantize (ExecuTorch 1.5.1's own quantizer and partitioner leave them fp32)."""
    shape = [1, 2, 3, 32, 32]
    art = quantize(GatedConvNet().eval(), "xnnpack", "int8", tmp_path / "q", input_shape=shape, **FEW)
    ran = xnnpack_kernels(art.file, shape)
    assert "Sigmoid (NC)" not in ran and "Convolution (NHWC, QC8) DWConv" in ran, ran
    assert art.manifest["quantization"]["report"]["top1_agreement"] is not None


class TemporalConvNet(nn.Module):
    """x3d's pattern at toy size: a spatial Conv3d, then a temporal one with zero padding
    (the xnnpack rewrite turns it into F.pad + per-tap conv2d over frame slices)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.spatial = nn.Conv3d(3, 8, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.temporal = nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        f = torch.relu(self.spatial(x.transpose(1, 2)))
        return self.head(self.temporal(f).mean((2, 3, 4)))


def test_xnnpack_int8_temporal_padding_loads(tmp_path):
    """Padding and slicing between int8 convs stay int8: left fp32, XNNPACK refused to load the
    program (StaticConstantPad / reshape: invalid parameter), so no 3-D model quantized."""
    shape = [1, 4, 3, 16, 16]
    art = quantize(TemporalConvNet().eval(), "xnnpack", "int8", tmp_path / "q", input_shape=shape, **FEW)
    assert art.manifest["validation"]["status"] == "passed"
    ran = xnnpack_kernels(art.file, shape)  # the temporal taps are 1x1 convs: XNNPACK runs them as GEMMs
    assert {"Constant Pad (ND, X8)", "Slice (ND, X8)", "Convolution (NHWC, QC8) IGEMM"} <= set(ran), ran


def test_float_layers_stay_fp32(tmp_path):
    shape = [1, 2, 3, 32, 32]
    art = quantize(GatedConvNet().eval(), "xnnpack", "int8", tmp_path / "q", input_shape=shape,
                   float_layers=["dw.*"], **FEW)
    m = art.manifest
    # dw.1, the BatchNorm, is folded into dw.0's weights before annotation: no node of its own.
    assert m["quantization"]["report"]["float_layers"] == ["dw.0", "dw.2"] and m["precision"] == "mixed"
    ran = xnnpack_kernels(art.file, shape)
    assert "Convolution (NHWC, F32) DWConv" in ran and "Convolution (NHWC, QC8) IGEMM" in ran, ran
    with pytest.raises(MobilekitError, match="--float-layers blocks.9 matches no layer"):
        quantize(GatedConvNet().eval(), "tflite", "int8", tmp_path / "t", input_shape=shape,
                 float_layers=["blocks.9"], **FEW)
    with pytest.raises(MobilekitError, match="--float-layers is not supported for onnx int8"):
        quantize(GatedConvNet().eval(), "onnx", "int8", tmp_path / "o", input_shape=shape,
                 float_layers=["dw.0"], **FEW)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("scheme", ["int8", "int8-dynamic"])
def test_onnx(tmp_path, net, example, scheme):
    import onnx

    art = quantize(net, "onnx", scheme, tmp_path / scheme, example_input=example, **FEW)
    _check_report(art, net, expect_calibrated=scheme == "int8")
    ops = {n.op_type for n in onnx.load(str(art.file)).graph.node}
    if scheme == "int8":
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
        # uint8 activations (U8S8): ONNX Runtime's CPU provider fuses every QDQ convolution into
        # QLinearConv; with int8 activations most stayed fp32 Conv between Dequantize/Quantize.
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
        ort.InferenceSession(str(art.file), opts, providers=["CPUExecutionProvider"])
        optimized = collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node)
        assert optimized["QLinearConv"] == 2 and optimized["Conv"] == 0, optimized
        model = onnx.load(str(art.file))
        inits = {i.name: i for i in model.graph.initializer}
        act_zp = [inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"
                  and n.input[0] not in inits]
        assert act_zp and all(z.data_type == onnx.TensorProto.UINT8 for z in act_zp)
    else:  # MatMul/Gemm only: convolutions stay float
        assert "DynamicQuantizeLinear" in ops and "Conv" in ops and "ConvInteger" not in ops


@pytest.mark.parametrize("scheme", ["int8", "int8-dynamic"])
def test_tflite(tmp_path, net, example, scheme):
    art = quantize(net, "tflite", scheme, tmp_path / scheme, example_input=example, **FEW)
    m = _check_report(art, net, expect_calibrated=scheme == "int8")
    io = m["quantization"]["report"].get("io")
    if scheme == "int8":  # full int8: the interpreter takes and returns int8, described in the manifest
        assert m["input"]["dtype"] == "int8"
        assert io["inputs"][0]["dtype"] == "int8" and io["inputs"][0]["scale"] > 0
        assert io["outputs"][0]["dtype"] == "int8"
    else:
        assert io is None and m["input"]["dtype"] == "float32"


@pytest.mark.parametrize("target,scheme,lut", [("coreml-cpu", "w8", False), ("ane", "palettize4", True),
                                                ("coreml-gpu", "palettize6", True)])
def test_coreml_weights_are_compressed(tmp_path, net, example, target, scheme, lut):
    from converters.backends.coreml.quantize import op_counts

    art = quantize(net, target, scheme, tmp_path / scheme, example_input=example, **FEW)
    m = ArtifactManifest.model_validate(art.manifest)
    ops = op_counts(art.file)
    compressed = ops["constexpr_lut_to_dense"] if lut else ops["constexpr_affine_dequantize"]
    assert compressed >= 4  # both convs' big weight, attention and MLP projections (>= 2048 elements)
    r = m.quantization.report
    # fp32 -> int8 is ~4x smaller, fp16 -> 4/6-bit LUT ~4x / ~2.7x; small tensors stay uncompressed.
    assert r["size_ratio"] < (0.5 if scheme != "palettize6" else 0.6)
    assert r["size_bytes_after"] == m.size_bytes < r["size_bytes_before"]
    if platform.system() != "Darwin":
        assert m.validation.status == "skipped" and "macOS" in r["agreement_skipped"]
        # The estimate off macOS: the same compression applied to the PyTorch weights.
        from converters.backends.coreml.quantize import simulate

        clips = load_clips(SHAPE, samples=0, eval_samples=FEW["eval_samples"]).held_out.clips
        sim = simulate(net, scheme)
        with torch.no_grad():
            est = agreement([[net(torch.from_numpy(c)).numpy()] for c in clips],
                            [[sim(torch.from_numpy(c)).numpy()] for c in clips])
            changed = sum(not torch.equal(a, b) for a, b in zip(net.parameters(), sim.parameters()))
        assert changed >= 4 and est["mean_cosine"] == pytest.approx(r["simulated_mean_cosine"])
        assert 0.0 <= r["simulated_top1_agreement"] <= 1.0


@pytest.mark.skipif(platform.system() == "Darwin", reason="w8a8 runs on macOS")
def test_coreml_w8a8_needs_macos(tmp_path, net, example):
    with pytest.raises(MobilekitError, match="macOS"):
        quantize(net, "ane", "w8a8", tmp_path / "w8a8", example_input=example, **FEW)
    assert not (tmp_path / "w8a8").exists()  # refused before any work


def test_unsupported_scheme_lists_the_targets_schemes(net, example):
    with pytest.raises(MobilekitError) as e:
        quantize(net, "tflite", "palettize4", example_input=example)
    assert "tflite supports int8, int8-dynamic" in str(e.value)
    with pytest.raises(MobilekitError, match="ptl has no quantization schemes"):
        quantize(net, "ptl", "int8", example_input=example)
    assert schemes_for("ane") == ["w8", "palettize4", "palettize6", "w8a8"]


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    """A folder per class of real mpeg4 clips (no split folders), plus one corrupt file."""
    pytest.importorskip("av")
    from test_data_layouts import write_video

    root = tmp_path_factory.mktemp("clips")
    for c, name in enumerate(["open", "shut"]):
        for k in range(5):
            write_video(root / name / f"{name}{k}.mp4", 60 * c + 10 * k, codec="mpeg4")
    (root / "shut" / "broken.mp4").write_bytes(b"not a video")
    return root


def test_calibration_from_a_video_folder(video_folder):
    root = video_folder
    data = load_clips(SHAPE, str(root), samples=4, eval_samples=4, model_classes=["open", "shut"])
    assert len(data.calibration) == 4 and len(data.held_out) == 4
    assert data.source == f"folder:{root}" and data.skipped <= 1
    assert all(c.shape == tuple(SHAPE) and c.dtype == np.float32 for c in data.calibration.clips)
    # No val split: one shuffle cut in two, so no clip is in both sets.
    cal = {c.tobytes() for c in data.calibration.clips}
    assert not cal & {c.tobytes() for c in data.held_out.clips}
    assert sorted(set(data.held_out.labels)) <= [0, 1] and data.held_out.labels is not None
    # Other class names: the labels cannot measure this model's accuracy.
    other = load_clips(SHAPE, str(root), samples=1, eval_samples=2, model_classes=["a", "b"])
    assert other.held_out.labels is None


def test_bad_calibration_source_is_one_clear_error(tmp_path, net, example):
    with pytest.raises(MobilekitError, match="does not exist"):
        quantize(net, "onnx", "int8", example_input=example, calibration=str(tmp_path / "nope"))
    with pytest.raises(MobilekitError, match=r"\(B, T, 3, S, S\)"):
        load_clips([1, 3, 64, 64], samples=1, eval_samples=1)


def test_accuracy_reported_when_labels_fit(tmp_path, net, example, video_folder):
    """A 2-class model without class names on a 2-class video folder: labels are assumed in the
    folder's order (and the manifest says so); both accuracies come from the held-out clips'
    real outputs. On the synthetic set, whose labels mean nothing to this model, none is given."""
    art = quantize(net, "onnx", "int8-dynamic", tmp_path / "acc", example_input=example,
                   **(FEW | dict(calibration=str(video_folder))))
    r = art.manifest["quantization"]["report"]
    assert r["held_out_source"] == f"folder:{video_folder} val"
    data = load_clips(SHAPE, str(video_folder), samples=0, eval_samples=FEW["eval_samples"], num_classes=2)
    rt = load_runtime(art.path)
    got = [rt.run(c) for c in data.held_out.clips]
    with torch.no_grad():
        ref = [[net(torch.from_numpy(c)).numpy()] for c in data.held_out.clips]
    assert r["accuracy_quantized"] == pytest.approx(top1_accuracy(got, data.held_out.labels, ["logits"]))
    assert r["accuracy_fp32"] == pytest.approx(top1_accuracy(ref, data.held_out.labels, ["logits"]))
    assert any("assumed" in n for n in art.manifest["conversion"]["notes"])
    assert load_clips(SHAPE, samples=0, eval_samples=2, num_classes=2).held_out.labels is None


def test_cli_quantize_and_convert_quantize(tmp_path):
    from mobilekit.cli import cli

    (tmp_path / "tiny_net.py").write_text(TINY_NET)
    module = f"{tmp_path / 'tiny_net.py'}:TinyVideoNet"
    runner = CliRunner()
    res = runner.invoke(cli, ["quantize", "--module", module, "--input-shape", "1,2,3,64,64", "-t", "onnx",
                              "-s", "int8-dynamic", "--eval-samples", "2", "--latency-runs", "1",
                              "--out", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    assert "top-1 agreement" in res.output and "size:" in res.output
    assert json.loads((tmp_path / "q" / "manifest.json").read_text())["quantization"]["scheme"] == "int8-dynamic"
    res = runner.invoke(cli, ["convert", "--module", module, "--input-shape", "1,2,3,64,64", "-t", "onnx",
                              "--quantize", "int8-dynamic", "--latency-runs", "1", "--out", str(tmp_path / "c"),
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["quantization"]["report"]["held_out_samples"] == 32
    res = runner.invoke(cli, ["quantize", "--module", module, "--input-shape", "1,2,3,64,64", "-t", "xnnpack",
                              "-s", "w8"])
    assert res.exit_code == 2
    last = res.stderr.strip().splitlines()[-1]  # one line: the problem and the supported schemes
    supported = ", ".join(schemes_for("xnnpack"))
    assert last == f"error: scheme 'w8' is not supported for xnnpack; xnnpack supports {supported}"
    res = runner.invoke(cli, ["quantize", "--module", module, "--input-shape", "1,2,3,64,64", "-t", "onnx",
                              "-s", "int8", "--calibration", "synthetic", "--float-layers", "stem.0,head",
                              "--float-layers", "temporal.*"])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines()[-1] == ("error: --float-layers is not supported for onnx int8; drop "
                                                   "--float-layers, or quantize for xnnpack or tflite")


def test_no_silent_synthetic_calibration(tmp_path, net, example):
    """A model not trained on the synthetic set is not calibrated on it unless asked: one line,
    before any work; uncalibrated schemes still compare on synthetic clips, and say so."""
    stages = []
    with pytest.raises(MobilekitError, match=r"^no --calibration given, and this model was not trained on the "
                                             r"synthetic set: .*or --calibration synthetic") as e:
        quantize(net, "onnx", "int8", tmp_path / "q", example_input=example, on_stage=stages.append,
                 **(FEW | dict(calibration=None)))
    assert "\n" not in str(e.value) and "converting fp32" not in stages and not (tmp_path / "q").exists()
    with pytest.raises(MobilekitError, match="not trained on the synthetic set"):
        load_clips(SHAPE, samples=1, eval_samples=1, model_classes=[str(i) for i in range(1000)])
    data = load_clips(SHAPE, samples=0, eval_samples=1)
    assert data.source == "synthetic" and any("says little about this model" in n for n in data.notes)


def test_synthetic_trained_model_keeps_the_synthetic_default():
    """What a mobilekit.train checkpoint trained on the synthetic set records: its class names."""
    from converters.quantize.calibration import trained_on_synthetic
    from mobilekit.data import build_dataset

    names = build_dataset("synthetic", None, "val", 2, 32, train=False, num_samples=1, num_classes=4).classes
    assert trained_on_synthetic(names) and not trained_on_synthetic(names[:1] + ["jumping"] + names[2:])
    data = load_clips(SHAPE, samples=2, eval_samples=2, model_classes=names, num_classes=4)
    assert data.source == "synthetic" and len(data.calibration) == 2 and data.held_out.labels is not None
    assert not any("says little" in n for n in data.notes)


def test_cli_refuses_silent_synthetic_calibration_in_one_line(tmp_path):
    from mobilekit.cli import cli

    (tmp_path / "tiny_net.py").write_text(TINY_NET)
    res = CliRunner().invoke(cli, ["quantize", "--module", f"{tmp_path / 'tiny_net.py'}:TinyVideoNet",
                                   "--input-shape", "1,2,3,64,64", "-t", "xnnpack", "-s", "int8",
                                   "--out", str(tmp_path / "q")])
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: no --calibration given") and "--calibration synthetic" in line, line
    assert not (tmp_path / "q").exists()
