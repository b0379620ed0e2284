"""What `check` suggests, `--fix` does: graph passes keyed by the findings they fix, on a model
the project never saw.

A user's module written with plain torch ops (F.conv3d on a parameter, F.batch_norm on the
5-D result, F.avg_pool3d, softmax over channels, a 5-D mean over (T, H, W)) has nothing the
zoo's module rewrites retype. As written, ExecuTorch's real XNNPACK partitioner leaves every
one of those ops on portable kernels; each finding names the graph pass that removes it
(`Finding.fix`), `check --fix` applies exactly those and re-checks (fully delegated), and
`convert` applies them by default (the .pte runs with the eager numbers). The conv3d and 5-D
batch-norm passes keep the numbers for every convolution shape the module rewrite handles.
Conversion failures carry their facts (op, module path, class, target) as data.

Budget (2 CI cores): 16x16 frames, xnnpack except one Core ML check and one failure.
"""

from __future__ import annotations

import copy
import json
import pickle

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from converters import convert
from converters.compat import ACCELERATED, FALLBACKS, check
from converters.graph_rewrites import GRAPH_PASSES, fix_for, rewrite_graph

CLIP = (1, 4, 3, 16, 16)
SHAPE = ",".join(map(str, CLIP))

UNSEEN = '''\
import torch
import torch.nn.functional as F
from torch import nn


class Unseen(nn.Module):
    """Plain torch ops on (B, T, C, H, W) clips: nothing here is an nn.Conv3d or BatchNorm3d."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(torch.randn(8, 3, 3, 3, 3, generator=g) * 0.2)
        self.bias = nn.Parameter(torch.randn(8, generator=g) * 0.1)
        self.register_buffer("mu", torch.randn(8, generator=g) * 0.1)
        self.register_buffer("var", torch.rand(8, generator=g) + 0.5)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = F.conv3d(x.transpose(1, 2), self.weight, self.bias, padding=1)
        y = F.batch_norm(y, self.mu, self.var, None, None, False, 0.0, 1e-5).relu()
        y = F.avg_pool3d(y, (1, 2, 2))
        y = torch.softmax(y, dim=1) * y
        return self.fc(y.mean((2, 3, 4)))


class SqueezeExcite(nn.Module):
    """The issue's case: a 5-D mean over (T, H, W) and a softmax over channels."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        y = x.transpose(1, 2)
        y = y * torch.softmax(y.mean((2, 3, 4), keepdim=True), dim=1)
        return self.fc(y.mean((2, 3, 4)))
'''
UNSEEN_FIXES = {"aten.convolution": "conv3d_as_conv2d", "aten._native_batch_norm_legit_no_training":
                "batch_norm_5d_as_4d", "aten.avg_pool3d": "avg_pool3d_as_2d", "aten._softmax": "softmax_last_dim",
                "aten.mean": "mean_as_4d"}


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    path = tmp_path_factory.mktemp("unseen") / "unseen.py"
    path.write_text(UNSEEN)
    from converters.source import load_module_class

    return path, load_module_class(f"{path}:Unseen"), load_module_class(f"{path}:SqueezeExcite")


def _clip(seed: int, shape=CLIP) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _base(op: str) -> str:
    return op.rsplit(".", 1)[0]


def _ops(module: nn.Module, x: torch.Tensor) -> list[torch.fx.Node]:
    graph = torch.export.export(module, (x,), strict=False).graph
    return [n for n in graph.nodes if n.op == "call_function"]


class FunctionalConv3d(nn.Module):
    def __init__(self, kernel, stride=1, padding=0, dilation=1, groups=1, bias=True, computed=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 8 // groups, *kernel) * 0.2)
        self.bias = nn.Parameter(torch.randn(8)) if bias else None
        self.args, self.computed = (stride, padding, dilation, groups), computed

    def forward(self, x):
        w = self.weight * 2 if self.computed else self.weight   # computed: not a constant of the graph
        return F.conv3d(x, w, self.bias, *self.args)


@pytest.mark.parametrize("kw", [
    dict(kernel=(3, 3, 3), padding=1),
    dict(kernel=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1), groups=4),
    dict(kernel=(5, 1, 1), padding=(2, 0, 0), bias=False),
    dict(kernel=(3, 3, 3), stride=(3, 1, 1), padding=(2, 1, 1), dilation=(2, 1, 1)),
    dict(kernel=(1, 1, 1)),
    dict(kernel=(3, 3, 3), padding="same"),
    dict(kernel=(3, 1, 1), padding=(1, 0, 0), computed=True),
])
def test_conv3d_pass_keeps_the_numbers_with_constant_taps(kw):
    torch.manual_seed(0)
    model = FunctionalConv3d(**kw).eval()
    x = _clip(0, (2, 8, 5, 9, 9))
    rewritten, applied = rewrite_graph(model, x, "xnnpack", passes=["conv3d_as_conv2d"])
    assert applied == ["graph_conv3d_as_conv2d"] and type(model) is FunctionalConv3d
    ops = _ops(rewritten, x)
    assert not [n for n in ops if "conv" in str(n.target) and n.args[1].meta["val"].dim() == 5]
    assert not [n for n in ops if "slice" in str(n.target) and len(n.args) > 4 and n.args[4] != 1]
    assert all(n.meta["val"].dim() <= 5 for n in ops if isinstance(n.meta.get("val"), torch.Tensor))
    if not kw.get("computed"):   # each tap's kernel is a constant, the 5-D weight is gone
        assert "weight" not in dict(rewritten.named_parameters())
        assert sum(name.startswith("_conv3d_tap") for name, _ in rewritten.named_buffers()) == kw["kernel"][0]
    with torch.no_grad():
        for seed in (1, 2):
            torch.testing.assert_close(rewritten(_clip(seed, x.shape)), model(_clip(seed, x.shape)),
                                       rtol=0, atol=1e-5)


def test_batch_norm_5d_pass_keeps_the_numbers():
    class Norms(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm3d(3)
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)
            self.bn.weight.data.uniform_(0.5, 2)

        def forward(self, x):
            y = self.bn(x)
            return F.batch_norm(y, self.bn.running_mean * 0 + 0.5, self.bn.running_var, None, None, False, 0.0, 1e-3)

    model = Norms().eval()
    x = _clip(0, (2, 3, 4, 6, 6))
    rewritten, applied = rewrite_graph(model, x, "xnnpack", passes=["batch_norm_5d_as_4d"])
    assert applied == ["graph_batch_norm_5d_as_4d"]
    norms = [n for n in _ops(rewritten, x) if "batch_norm" in str(n.target)]
    assert len(norms) == 2 and all(n.args[0].meta["val"].dim() == 4 for n in norms)
    with torch.no_grad():
        torch.testing.assert_close(rewritten(_clip(1, x.shape)), model(_clip(1, x.shape)), rtol=0, atol=1e-6)


def test_a_pass_is_named_only_for_the_nodes_it_rewrites():
    class Forms(nn.Module):
        def forward(self, x):                     # (1, 3, 4, 8, 8)
            f = x[:, :, 0]                        # 4-D
            return (f.mean((2, 3), keepdim=True).sum() + x.mean((2, 3, 4)).sum()
                    + torch.softmax(f, -1).sum() + torch.softmax(f, 1).sum())

    by_fix = {}
    for n in _ops(Forms().eval(), _clip(0, (1, 3, 4, 8, 8))):
        if "mean" in str(n.target) or "softmax" in str(n.target):
            by_fix.setdefault(_base(str(n.target)), []).append(fix_for(str(n.target), [n]))
    assert by_fix == {"aten.mean": [None, "mean_as_4d"], "aten.softmax": [None, "softmax_last_dim"]}
    assert fix_for("aten.topk.default", []) is None
    # Core ML's ANE rules name MIL ops; the passes declare those findings too
    assert fix_for("conv (5-D)") == "conv3d_as_conv2d" and fix_for("avg_pool (5-D)") == "avg_pool3d_as_2d"
    assert fix_for("max_pool (5-D)") is None
    from converters.compat.rewrites import FIXES

    assert not set(FIXES) & set(GRAPH_PASSES)   # a finding's `fix` names one rewrite


def test_findings_name_their_fix_and_fix_applies_exactly_those(unseen):
    _, Unseen, _ = unseen
    model = Unseen().eval()
    (written,) = check(model, ["xnnpack"], example_input=_clip(0), as_written=True).reports
    assert written.verdict != ACCELERATED
    assert {_base(f.op): f.fix for f in written.findings} == UNSEEN_FIXES
    for f in written.findings:
        assert f.fix in f.rewrite and f.modules == ["(top level)"]

    result = check(model, ["xnnpack"], example_input=_clip(0), as_written=True, fix=True)
    (report,) = result.reports
    assert report.verdict == ACCELERATED, report.findings
    assert report.accelerated_share == 1.0 and report.op_share == 1.0
    # exactly the named passes, in the registry's order
    assert result.rewrites == report.fixed == [f"graph_{n}" for n in GRAPH_PASSES if n in UNSEEN_FIXES.values()]
    assert report.notes[0].startswith("--fix applied graph_conv3d_as_conv2d") and "removed" in report.notes[0]

    # What convert writes: the same passes by default, the .pte runs with the eager numbers.
    (default,) = check(model, ["xnnpack"], example_input=_clip(0)).reports
    assert default.verdict == ACCELERATED and default.fixed == []
    assert {f"graph_{n}" for n in UNSEEN_FIXES.values()} <= set(default.rewrites)


def test_convert_applies_the_passes_and_the_pte_matches_eager(unseen, tmp_path):
    _, Unseen, _ = unseen
    model = Unseen().eval()
    state = copy.deepcopy(model.state_dict())
    art = convert(model, "xnnpack", tmp_path / "unseen", example_input=_clip(0), samples=2, latency_runs=0)
    conversion = art.manifest["conversion"]
    assert {"graph_conv3d_as_conv2d", "graph_batch_norm_5d_as_4d"} <= set(conversion["rewrites"])
    assert conversion["delegation"]["non_delegated_ops"] == {} and conversion["delegation"]["delegated_subgraphs"] == 1
    assert art.validation["status"] == "passed" and art.validation["max_abs_diff"] < 1e-4, art.validation
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())   # the user's module untouched


def test_fix_applies_what_a_targets_convert_does_not(unseen):
    """ane's convert rewrites 3-D convolutions (its graph_passes) but not 3-D pooling; the ANE
    rules flag the 5-D avg_pool and name the pass; --fix applies it and the re-check is clean."""
    _, Unseen, _ = unseen
    (before,) = check(Unseen().eval(), ["ane"], example_input=_clip(0)).reports
    assert "graph_conv3d_as_conv2d" in before.rewrites
    pool = next(f for f in before.findings if f.op == "avg_pool (5-D)")
    assert pool.fix == "avg_pool3d_as_2d" and before.verdict == FALLBACKS
    result = check(Unseen().eval(), ["ane"], example_input=_clip(0), fix=True)
    (after,) = result.reports
    assert result.rewrites == ["graph_avg_pool3d_as_2d"]
    assert not [f for f in after.findings if f.fix] and after.verdict == ACCELERATED, after.findings


def test_cli_shows_the_fix_and_applies_it(unseen, monkeypatch):
    from mobilekit.cli import cli

    path, _, _ = unseen
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli, ["check", "--module", f"{path}:SqueezeExcite", "--input-shape", SHAPE,
                                     "-t", "xnnpack", "--as-written", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    # The issue: a 5-D mean over (T, H, W) "runs with fallbacks"; the finding names its pass.
    report = json.loads(run("--json"))["targets"][0]
    assert report["verdict"] == FALLBACKS
    assert {_base(f["op"]): f["fix"] for f in report["findings"]} == {"aten.mean": "mean_as_4d",
                                                                      "aten._softmax": "softmax_last_dim"}
    text = run()
    assert "runs with fallbacks" in text and "`--fix` applies mean_as_4d" in text
    fixed = run("--fix")
    assert "runs fully accelerated" in fixed
    assert "rewrites applied: graph_mean_as_4d, graph_softmax_last_dim" in fixed


def test_conversion_errors_carry_their_facts():
    from converters.diagnose import ConversionError, unsupported_op_error

    class Inv(nn.Module):
        def forward(self, x):
            return torch.special.erfinv(x.clamp(-0.9, 0.9))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.inv = nn.Conv2d(3, 4, 1), Inv()

        def forward(self, x):
            return self.inv(self.body(x[:, 0])).mean((1, 2, 3))

    model, x = Net().eval(), _clip(0, (1, 2, 3, 8, 8))
    err = unsupported_op_error(RuntimeError("Unsupported fx node special_erfinv"), model, x, "ane", ["xnnpack"])
    assert isinstance(err, ConversionError) and err.kind == "op" and err.target == "ane"
    assert (err.op, err.module_path, err.module_class) == ("aten.special_erfinv.default", "inv", "Inv")
    assert err.problem == "target ane cannot convert op aten.special_erfinv.default in `inv` (Inv)"
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.op == err.op
    assert err.for_target("coreml-gpu").problem.startswith("target coreml-gpu cannot convert op")

    # The checks read the facts, not the text: Core ML shares one fp16 conversion between ane
    # and coreml-gpu, and each report names its own target.
    result = check(model, ["ane", "coreml-gpu", "onnx"], example_input=x)
    for report in result.reports:
        (finding,) = report.findings
        assert (finding.op, finding.modules) == ("aten.special_erfinv.default", ["inv (Inv)"]), report.target
        assert finding.why.startswith(f"target {report.target} cannot convert") and finding.fix is None
