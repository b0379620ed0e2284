"""Automatic mixed precision, for real: `--keep-accuracy FLOOR` keeps the ops that explain.py
ranks worst in float until the held-out cosine meets the floor, `--prefer speed` those whose
int8 XNNPACK kernel is slower here; bad floors are one line before anything is written.

The net is test_quantize_explain's BrokenNet (untrained, random weights; figures from it
mean nothing beyond these tests): one conv (`b`) that int8 ruins on purpose.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from converters import load_runtime
from converters.backends.executorch.quantize import xnnpack_quantizer
from converters.quantize import quantize
from converters.quantize.explain import layer_errors
from converters.quantize.mixed import check_floor, check_floor_reachable, keep_accuracy, outputs_of
from converters.quantize.pt2e import prepare_graph
from converters.quantize.report import agreement
from mobilekit.errors import MobilekitError
from test_quantize_explain import BROKEN_NET, BrokenNet, clips

SHAPE = [1, 2, 3, 64, 64]


def test_greedy_keeps_the_broken_layer_and_meets_the_floor():
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    model = BrokenNet().eval()
    example, calib, held = torch.from_numpy(clips(1, 9)[0]), clips(8, 1), clips(6, 3)

    def build(nodes):
        _g, prepared, _ = prepare_graph(model, example, xnnpack_quantizer("int8"), calib, float_nodes=nodes)
        with torch.no_grad():
            return convert_pt2e(prepared)

    graph, prepared, _ = prepare_graph(model, example, xnnpack_quantizer("int8"), calib)
    with torch.no_grad():
        ranking = [r["node"] for r in layer_errors(graph, convert_pt2e(prepared), calib[:4])]
        reference = [[o.numpy() for o in model(torch.from_numpy(c))] for c in held]
    plain = agreement(reference, outputs_of(build(set()), held))["mean_cosine"]
    floor = 0.999
    assert plain < floor  # the test means something: plain int8 misses the floor
    kept, tries = keep_accuracy(build, ranking, held, reference, floor)
    assert ranking[0] in kept and len(kept) < len(ranking)
    assert agreement(reference, outputs_of(build(kept), held))["mean_cosine"] >= floor
    assert tries[0]["ranked_kept"] == 0 and tries[-1]["mean_cosine"] >= floor or \
        any(t["mean_cosine"] >= floor and t["kept"] == len(kept) for t in tries)


@pytest.mark.parametrize("floor", [0, -0.5, 1.01, 2])
def test_floor_outside_0_1_is_refused(floor):
    with pytest.raises(MobilekitError, match=r"is not a cosine floor in \(0, 1\]"):
        check_floor(floor)


def test_floor_the_float_model_cannot_meet_is_refused():
    with pytest.raises(MobilekitError, match=r"cannot be met: the all-float artifact's mean logit cosine .* "
                                             r"is 0\.998000 on ExecuTorch") as e:
        check_floor_reachable(0.999, 0.998, "ExecuTorch 1.5.1")
    assert "at most 0.998000" in e.value.fix
    check_floor_reachable(0.99, 0.998, "ExecuTorch 1.5.1")


@pytest.mark.parametrize("floor", ["1.5", "0"])
def test_cli_bad_floor_is_one_line_and_writes_nothing(tmp_path, floor):
    from mobilekit.cli import cli

    (tmp_path / "broken_net.py").write_text(BROKEN_NET)
    res = CliRunner().invoke(cli, ["quantize", "--module", f"{tmp_path / 'broken_net.py'}:BrokenNet",
                                   "--input-shape", "1,2,3,64,64", "-t", "xnnpack", "-s", "int8",
                                   "--calibration", "synthetic", "--keep-accuracy", floor,
                                   "--out", str(tmp_path / "q")])
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"error: --keep-accuracy {float(floor)} is not a cosine floor in (0, 1]"), line
    assert not (tmp_path / "q").exists()


def test_unsupported_target_is_one_line(tmp_path):
    with pytest.raises(MobilekitError, match="--keep-accuracy is not supported for onnx int8"):
        quantize(BrokenNet().eval(), "onnx", "int8", tmp_path / "q", example_input=torch.zeros(SHAPE),
                 calibration="synthetic", keep_accuracy=0.99)
    assert not (tmp_path / "q").exists()


def test_xnnpack_keep_accuracy_prefer_speed_explain_end_to_end(tmp_path):
    """One real artifact: explain's table, the ops kept in float, the runtime's figures."""
    stages = []
    art = quantize(BrokenNet().eval(), "xnnpack", "int8", tmp_path / "q", example_input=torch.zeros(SHAPE),
                   calibration="synthetic", samples=8, eval_samples=4, latency_runs=2, threads=1, check_set=False,
                   explain=True, keep_accuracy=0.999, prefer="speed", profile_runs=3, on_stage=stages.append)
    r = art.manifest["quantization"]["report"]
    assert r["explain"]["layers"][0]["module"] == "b"
    times = r["explain"]["kernel_times"]
    assert any(p.get("module") == "dw" for p in times["operators"])
    kept = {k["module"]: k["why"] for k in r["mixed"]["kept"]}
    assert kept.get("b") == "accuracy"
    dw = next(p for p in times["operators"] if p.get("module") == "dw")
    assert ("dw" in kept) == (dw["ratio"] > 1)  # --prefer speed: float exactly when int8 was slower here
    assert art.manifest["precision"] == "mixed" and r["observer"] == "histogram"
    assert r["mixed"]["runtime_mean_cosine"] == r["mean_cosine"]
    assert r["mixed"]["simulated_all_int8"]["mean_cosine"] < 0.999
    # The report's figures are the artifact's own: recompute them on the runtime.
    rt = load_runtime(art.path, threads=1)
    model = BrokenNet().eval()
    from converters.quantize.calibration import load_clips

    held = load_clips(SHAPE, "synthetic", samples=0, eval_samples=4).held_out.clips
    with torch.no_grad():
        reference = [[o.numpy() for o in model(torch.from_numpy(c))] for c in held]
    got = agreement(reference, [rt.run(c) for c in held])
    assert np.isclose(got["mean_cosine"], r["mean_cosine"], atol=1e-9)
    assert got["mean_cosine"] > r["mixed"]["simulated_all_int8"]["mean_cosine"]
    assert json.loads((art.path / "manifest.json").read_text())["quantization"]["report"]["mixed"]["floor"] == 0.999


def test_floor_above_the_fp32_artifact_is_refused_before_writing(tmp_path):
    """XNNPACK's fp32 kernels do not reproduce eager PyTorch bit for bit: floor 1.0 is out of reach."""
    stages = []
    with pytest.raises(MobilekitError, match=r"--keep-accuracy 1.0 cannot be met: the all-float artifact") as e:
        quantize(BrokenNet().eval(), "xnnpack", "int8", tmp_path / "q", example_input=torch.zeros(SHAPE),
                 calibration="synthetic", samples=2, eval_samples=2, latency_runs=0, check_set=False,
                 keep_accuracy=1.0, on_stage=stages.append)
    assert "\n" not in str(e.value) and "quantizing" not in stages and not (tmp_path / "q").exists()


def test_xnnpack_fp16_program_runs_here_in_half_precision(tmp_path):
    """The fp16 scheme: half weights (size), fp32 I/O, SiLU fully delegated, run by XNNPACK on this host."""
    from torch import nn

    class SiluNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.head = nn.Linear(16, 4)

        def forward(self, x):
            b, t = x.shape[:2]
            z = nn.functional.silu(self.conv(x.reshape(b * t, *x.shape[2:]))).mean((2, 3))
            return self.head(z.reshape(b, t, -1).mean(1))

    art = quantize(SiluNet().eval(), "xnnpack", "fp16", tmp_path / "h", example_input=torch.zeros(SHAPE),
                   calibration="synthetic", eval_samples=4, latency_runs=2, threads=1)
    m, r = art.manifest, art.manifest["quantization"]["report"]
    assert m["precision"] == "fp16" and m["input"]["dtype"] == "float32" and m["validation"]["status"] == "passed"
    # Only casts stay outside XNNPACK (its partitioner takes no dtype conversion): at the edges,
    # and around the fp16 means that PyTorch's decomposition accumulates in fp32.
    assert set(m["conversion"]["delegation"]["non_delegated_ops"]) == {"dim_order_ops__to_dim_order_copy_default"}
    # fp16 rounding shows (not an fp32 program in disguise), and stays small.
    assert 0 < r["max_abs_diff"] < 0.05 and r["mean_cosine"] > 0.999
