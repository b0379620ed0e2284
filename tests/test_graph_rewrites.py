"""Graph-level rewrites for XNNPACK (converters/graph_rewrites.py), for real: each pass keeps
the numbers on toys that use the ops the way third-party models do (5-D means, AvgPool3d with
strides and padding, softmax over channels, AdaptiveAvgPool3d(1)); ExecuTorch's real
partitioner then delegates every op, the .pte loads and runs (before: error 0x14, no
avg_pool3d kernel), `convert()` records the passes in the manifest, and `check` reports what
the converter produces and names the rewrite as the fix for the model as written.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from converters import convert
from converters.compat import ACCELERATED, check
from converters.graph_rewrites import (adaptive_pool_as_mean, avg_pool3d_as_2d, mean_as_4d, rewrite_graph,
                                       softmax_last_dim)


class FiveDMeans(nn.Module):
    """Means as a user writes them: SE over (T, H, W), a spatial mean, a mean over tokens."""

    def forward(self, x):                                        # (B, C, T, H, W)
        se = x.mean((2, 3, 4), keepdim=True)                     # squeeze-excitation
        spatial = (x * torch.sigmoid(se)).mean((-2, -1))         # (B, C, T)
        tokens = spatial.transpose(1, 2).mean(1)                 # 3-D mean over dim 1: (B, C)
        over_time = x.mean(2)                                    # a non-trailing dim: (B, C, H, W)
        return tokens + over_time.mean((1, 2, 3)).unsqueeze(1)


class Pools(nn.Module):
    """AvgPool3d with a temporal kernel, strides and padding (counted or not), then the
    PyTorchVideo head's tail: softmax over channels and AdaptiveAvgPool3d(1)."""

    def __init__(self):
        super().__init__()
        self.pool_counted = nn.AvgPool3d((2, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1))
        self.pool_uncounted = nn.AvgPool3d((3, 3, 3), stride=(2, 1, 1), padding=(0, 1, 1),
                                           count_include_pad=False)
        self.head_pool = nn.AvgPool3d((4, 2, 2), stride=1)       # X3D's: the whole remaining volume
        self.softmax = nn.Softmax(dim=1)
        self.global_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x):                                        # (1, 3, 4, 8, 8)
        a = self.pool_counted(x)                                 # (1, 3, 5, 4, 4)
        b = self.pool_uncounted(x)                               # (1, 3, 1, 8, 8)
        c = self.head_pool(x[:, :, :, :2, :2])                   # (1, 3, 1, 1, 1)
        y = self.softmax(a + a) + b.mean() + c
        return self.global_pool(y).flatten(1)


def _clip(seed: int, shape=(1, 3, 4, 8, 8)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("toy, passes", [
    (FiveDMeans, {"graph_mean_as_4d"}),
    (Pools, {"graph_adaptive_pool_as_mean", "graph_avg_pool3d_as_2d", "graph_mean_as_4d", "graph_softmax_last_dim"}),
])
def test_graph_rewrites_keep_the_numbers_and_leave_the_module_alone(toy, passes):
    model = toy().eval()
    before = copy.deepcopy(model)
    rewritten, applied = rewrite_graph(model, _clip(0), "xnnpack")
    assert set(applied) == passes
    # The user's module is untouched: same class, same forward, no graph left on it.
    assert type(model) is toy and not isinstance(model, torch.fx.GraphModule)
    # What the converter exports from it:
    graph = torch.export.export(rewritten, (_clip(0),), strict=False).graph
    targets = {str(n.target) for n in graph.nodes if n.op == "call_function"}
    assert not {"aten.avg_pool3d.default", "aten.adaptive_avg_pool3d.default", "aten.mean.default"} & targets
    for n in graph.nodes:
        if n.target is torch.ops.aten.mean.dim:   # only XNNPACK's global-average-pooling form is left
            assert n.args[0].meta["val"].dim() == 4 and sorted(n.args[1]) == [2, 3] and n.args[2]
        if n.target is torch.ops.aten.softmax.int:
            assert n.args[1] in (-1, n.args[0].meta["val"].dim() - 1)
    with torch.no_grad():
        for seed in (1, 2):
            want, got = before(_clip(seed)), rewritten(_clip(seed))
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        assert (before(_clip(1)) - before(_clip(2))).abs().max() > 1e-3   # the clips differ: equality has teeth


def test_each_pass_reports_what_it_changed():
    gm = torch.export.export(Pools().eval(), (_clip(0),), strict=False).module()
    assert adaptive_pool_as_mean(gm) == 1
    assert avg_pool3d_as_2d(gm) == 3
    assert softmax_last_dim(gm) == 1
    assert mean_as_4d(gm) == 2          # b.mean() and the global pool's mean
    assert (adaptive_pool_as_mean(gm), avg_pool3d_as_2d(gm), softmax_last_dim(gm), mean_as_4d(gm)) == (0, 0, 0, 0)


def test_a_graph_without_refused_ops_is_returned_as_it_is():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 2))).eval()
    assert rewrite_graph(model, torch.randn(1, 3, 8, 8), "xnnpack") == (model, [])
    assert rewrite_graph(Pools().eval(), _clip(0), "onnx")[1] == []        # other targets: no passes


def test_rewritten_toys_are_fully_delegated_and_the_pte_runs(tmp_path):
    """Before the rewrites: avg_pool3d, 5-D means and the channel softmax stayed on portable
    kernels and the .pte failed to load its method (error 0x14, no avg_pool3d kernel)."""
    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.means, self.pools = FiveDMeans(), Pools()

        def forward(self, x):
            return self.means(x) + self.pools(x)

    art = convert(Both().eval(), "xnnpack", tmp_path / "both", example_input=_clip(0), latency_runs=0)
    assert art.validation["status"] == "passed"
    assert art.validation["max_abs_diff"] < 1e-4
    conversion = art.manifest["conversion"]
    assert {"graph_mean_as_4d", "graph_avg_pool3d_as_2d", "graph_softmax_last_dim",
            "graph_adaptive_pool_as_mean"} <= set(conversion["rewrites"])
    assert conversion["delegation"]["non_delegated_ops"] == {}
    assert conversion["delegation"]["delegated_subgraphs"] == 1


def test_check_reports_the_converter_result_and_names_the_rewrite_for_the_model_as_written():
    model = Pools().eval()
    result = check(model, ["xnnpack"], example_input=_clip(0))
    report = result.reports[0]
    assert report.verdict == ACCELERATED, report.findings
    assert "graph_avg_pool3d_as_2d" in report.rewrites

    written = check(model, ["xnnpack"], example_input=_clip(0), as_written=True).reports[0]
    by_op = {f.op.rsplit(".", 1)[0]: f for f in written.findings}
    assert by_op["aten.avg_pool3d"].fix == "avg_pool3d_as_2d" and "avg_pool3d_as_2d" in by_op["aten.avg_pool3d"].rewrite
    assert by_op["aten.mean"].fix == "mean_as_4d" and by_op["aten._softmax"].fix == "softmax_last_dim"
    # --fix applies exactly those to the model as written, and re-checks
    result = check(model, ["xnnpack"], example_input=_clip(0), as_written=True, fix=True)
    fixed = result.reports[0]
    assert fixed.verdict == ACCELERATED and "graph_softmax_last_dim" in fixed.rewrites
    named = {f"graph_{f.fix}" for f in written.findings if f.fix}
    assert named == {"graph_avg_pool3d_as_2d", "graph_mean_as_4d", "graph_softmax_last_dim"}
    # ExecuTorch sees AdaptiveAvgPool3d(1) as a mean: mean_as_4d comes with adaptive_pool_as_mean
    assert set(result.rewrites) == set(fixed.fixed) == named | {"graph_adaptive_pool_as_mean"}
