"""`mobilekit check`, for real: ExecuTorch's XNNPACK partitioner, coremltools, and the host
runtimes on tiny models. A deliberately non-delegable op and a Conv3d show up with their
module paths; the conv3d rewrite makes the model fully delegated with unchanged outputs; the
TSM shift rewrite; the CLI's --json / --strict; the core zoo models on xnnpack and Core ML.

Budget (2 CI cores): tiny user modules (16x16 frames), the zoo at TINY (2 frames, 64x64).
"""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
import torch
from conftest import TINY, mobilekit_cli
from torch import nn

from converters import convert
from converters.compat import ACCELERATED, CANNOT_CONVERT, FALLBACKS, check
from converters.compat.rewrites import rewrite_temporal_shifts
from mobilekit.models.rewrites import Conv3dAsConv2d, rewrite_conv3d

CLIP = (1, 2, 3, 16, 16)

USER_NET = '''\
import torch
from torch import nn


class TopTwo(nn.Module):
    """Keeps the two largest logits: topk has no XNNPACK kernel (the deliberate fallback)."""

    def forward(self, x):
        return x.topk(2, dim=-1).values


class Clip3d(nn.Module):
    """A (3, 3, 3) Conv3d + BatchNorm3d block on (B, T, C, H, W) clips."""

    def __init__(self, pick: bool = True):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm3d(8)
        self.fc = nn.Linear(8, 4)
        self.pick = TopTwo() if pick else nn.Identity()

    def forward(self, x):
        y = self.norm(self.conv(x.transpose(1, 2))).relu()
        b, c, t, h, w = y.shape
        f = y.reshape(b, c, t * h, w).mean((2, 3), keepdim=True).flatten(1)
        return self.pick(self.fc(f))


class Plain3d(Clip3d):
    def __init__(self):
        super().__init__(pick=False)
'''


@pytest.fixture(scope="module")
def user_net(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "clipnet.py"
    path.write_text(USER_NET)
    from converters.source import load_module_class

    return path, load_module_class(f"{path}:Clip3d"), load_module_class(f"{path}:Plain3d")


def _finding(report, op_prefix):
    return next(f for f in report.findings if f.op.startswith(op_prefix))


def test_nondelegable_op_and_conv3d_show_module_paths(user_net):
    _, Clip3d, _ = user_net
    model = Clip3d().eval()
    before = copy.deepcopy(model.state_dict())
    # As written: the converter would rewrite the conv3d itself (the backend's Target.rewrites).
    (report,) = check(model, ["xnnpack"], example_input=torch.randn(*CLIP), as_written=True).reports
    topk = _finding(report, "aten.topk")
    assert topk.modules == ["pick (TopTwo)"] and topk.count == 1
    conv = _finding(report, "aten.convolution")
    assert conv.modules == ["conv (Conv3d)"] and "conv3d" in conv.why.lower()
    # Each finding names the graph pass that removes it (what --fix applies); topk has none.
    assert conv.fix == "conv3d_as_conv2d" and "conv3d_as_conv2d" in conv.rewrite
    bn = _finding(report, "aten._native_batch_norm")
    assert bn.modules == ["norm (BatchNorm3d)"] and bn.fix == "batch_norm_5d_as_4d"
    assert topk.fix is None
    # The portable convolution takes 3-D/4-D inputs only: the lowered program fails to run.
    assert report.verdict == CANNOT_CONVERT and "run time" in conv.why
    assert 0 < report.accelerated_share < 0.5 and report.share_basis == "flops"
    # The caller's model is untouched.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert type(model.conv) is nn.Conv3d


def test_conv3d_rewrite_fully_delegated_and_numerically_identical(user_net, tmp_path):
    _, _, Plain3d = user_net
    torch.manual_seed(0)
    model = Plain3d().eval()
    model.norm.running_mean.uniform_(-1, 1)
    model.norm.running_var.uniform_(0.5, 2)
    x = torch.randn(*CLIP)
    # The converter's own rewrite (rewrite_conv3d, Target.rewrites) leaves --fix nothing to do...
    result = check(model, ["xnnpack"], example_input=x, fix=True)
    (report,) = result.reports
    assert report.verdict == ACCELERATED, report.findings
    assert result.rewrites == [] and report.fixed == [] and "rewrite_conv3d" in report.rewrites
    # ...and on the model as written, --fix applies the graph passes its findings name.
    result = check(model, ["xnnpack"], example_input=x, fix=True, as_written=True)
    assert result.rewrites == ["graph_conv3d_as_conv2d", "graph_batch_norm_5d_as_4d"]
    (report,) = result.reports
    assert report.verdict == ACCELERATED, report.findings
    assert report.accelerated_share == 1.0 and report.op_share == 1.0

    rewritten = copy.deepcopy(model)
    assert rewrite_conv3d(rewritten) == 1 and isinstance(rewritten.conv, Conv3dAsConv2d)
    assert rewritten.state_dict().keys() == model.state_dict().keys()
    with torch.no_grad():
        torch.testing.assert_close(rewritten(x), model(x), rtol=0, atol=1e-5)
    # The real .pte on the ExecuTorch runtime matches eager (converter validation).
    art = convert(rewritten, "xnnpack", tmp_path / "plain3d", example_input=x, samples=2, latency_runs=0)
    assert art.validation["status"] == "passed"
    assert art.manifest["conversion"]["delegation"]["non_delegated_ops"] == {}


@pytest.mark.parametrize("kernel,stride,padding,groups", [((3, 3, 3), (2, 2, 2), (1, 1, 1), 4),
                                                          ((5, 1, 1), 1, (2, 0, 0), 8), (1, 1, 0, 1)])
def test_conv3d_as_conv2d_matches_conv3d(kernel, stride, padding, groups):
    torch.manual_seed(0)
    conv = nn.Conv3d(8, 8, kernel, stride, padding, groups=groups)
    x = torch.randn(2, 8, 5, 9, 9)
    fast = copy.deepcopy(conv)
    rewrite_conv3d(fast)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), conv(x), rtol=0, atol=1e-5)


class SliceAssignShift(nn.Module):
    """The reference TSM shift (MIT HAN lab's temporal_shift.py): slice assignment into zeros."""

    def __init__(self, net: nn.Module, n_segment: int, n_div: int = 8):
        super().__init__()
        self.net, self.n_segment, self.fold_div = net, n_segment, n_div

    def forward(self, x):
        nt, c, h, w = x.shape
        x = x.view(nt // self.n_segment, self.n_segment, c, h, w)
        fold = c // self.fold_div
        out = torch.zeros_like(x)
        out[:, :-1, :fold] = x[:, 1:, :fold]
        out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]
        out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
        return self.net(out.view(nt, c, h, w))


def test_tsm_shift_rewrite_same_numbers_and_delegated():
    torch.manual_seed(0)
    model = nn.Sequential(SliceAssignShift(nn.Conv2d(16, 8, 3, padding=1), n_segment=2)).eval()
    x = torch.randn(4, 16, 8, 8)
    fixed = copy.deepcopy(model)
    assert rewrite_temporal_shifts(fixed) == 1
    with torch.no_grad():
        torch.testing.assert_close(fixed(x), model(x), rtol=0, atol=0)
    result = check(model, ["xnnpack"], example_input=x, fix=True)
    assert result.rewrites == ["temporal_shift_cat"]
    assert result.reports[0].verdict == ACCELERATED, result.reports[0].findings


def test_coreml_converts_and_flags_topk_for_the_ane(user_net):
    _, _, Plain3d = user_net

    class TopTwo(nn.Module):
        def forward(self, x):
            return x.topk(2, dim=-1).values

    class WithTopk(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Plain3d()
            self.select = TopTwo()

        def forward(self, x):
            return self.select(self.body(x))

    result = check(WithTopk().eval(), ["ane", "coreml-cpu"], example_input=torch.randn(*CLIP))
    ane, cpu = result.reports
    assert ane.verdict == FALLBACKS and cpu.verdict == ACCELERATED
    topk = _finding(ane, "topk")
    assert topk.evidence == "heuristic" and topk.modules == ["select (TopTwo)"]
    # The ane converter rewrites Conv3d as conv2d over shifted frames (the backend's Target.rewrites), so
    # the only fallback is topk; the model as written also runs its 5-D conv off the ANE.
    assert "rewrite_conv3d" in ane.rewrites and not [f for f in ane.findings if f.op.startswith("conv")]
    (as_written,) = check(WithTopk().eval(), ["ane"], example_input=torch.randn(*CLIP), as_written=True).reports
    conv = _finding(as_written, "conv (5-D)")
    # coremltools fuses the conv with the BatchNorm after it; the fused op keeps the norm's name.
    assert conv.modules in (["body.conv (Conv3d)"], ["body.norm (BatchNorm3d)"])


@pytest.mark.parametrize("name", ["vlf_b0"])
def test_core_zoo_models_fully_delegated_and_convert_to_core_ml(name):
    """The default model here; the whole zoo is in converters/compat/SUPPORT_MATRIX.md
    (test_compat_matrix checks it lists the zoo and re-checks tsn_b0 on xnnpack)."""
    result = check(name, ["xnnpack", "ane", "coreml-gpu", "coreml-cpu"], **TINY)
    by = {r.target: r for r in result.reports}
    assert by["xnnpack"].verdict == ACCELERATED, by["xnnpack"].findings
    for target in ("ane", "coreml-gpu", "coreml-cpu"):
        assert by[target].verdict != CANNOT_CONVERT, by[target].findings


def test_cli_json_and_strict(user_net):
    path, _, _ = user_net
    cmd = mobilekit_cli() + ["check", "--module", f"{path}:Clip3d", "--input-shape", "1,2,3,16,16",
                             "--target", "onnx", "--target", "xnnpack", "--json", "--strict"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    by = {t["target"]: t for t in report["targets"]}
    assert by["onnx"]["verdict"] == ACCELERATED
    # The converter's own conv3d rewrite is applied (as `mobilekit convert` would); topk stays
    # on portable kernels: a fallback, so --strict fails.
    assert by["xnnpack"]["verdict"] == FALLBACKS
    assert "rewrite_conv3d" in by["xnnpack"]["rewrites"]
    ops = {f["op"]: f for f in by["xnnpack"]["findings"]}
    assert ops["aten.topk.default"]["modules"] == ["pick (TopTwo)"]
    assert not any(op.startswith("aten.convolution") for op in ops)
    assert "strict" in proc.stderr

    bad = subprocess.run(mobilekit_cli() + ["check", "--model", "nope", "--target", "xnnpack"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: unknown model 'nope'")
