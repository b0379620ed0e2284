"""`quantize --explain`, for real: per-op error of PT2E int8 (XNNPACKQuantizer) against fp32 on a
tiny untrained net with one deliberately broken layer, the observers, and int8 vs fp32 XNNPACK
kernel times from two real ETDump profiles.

The broken layer: conv `b` has one weight column 100x the others on an input channel that
ReLU keeps at zero. The column changes nothing in fp32, but its per-channel int8 scale rounds
every other weight of `b` to zero: `b` must come first in the ranking.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from converters.backends.executorch.quantize import xnnpack_quantizer
from converters.quantize.explain import _event_key, depthwise_modules, kernel_times, layer_errors, slower_in_int8
from converters.quantize.pt2e import OBSERVERS, prepare_graph
from mobilekit.errors import MobilekitError

SHAPE = (1, 2, 3, 32, 32)


BROKEN_NET = '''\
import torch
from torch import nn


class BrokenNet(nn.Module):
    """Per-frame convs (one depthwise), a linear head; conv `b` quantizes badly (see above)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.b = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, 4)
        with torch.no_grad():
            self.a.weight[7] = 0
            self.a.bias[7] = -1.0        # channel 7 is 0 after the ReLU, for every input
            self.dw.weight[7] = 0
            self.dw.bias[7] = 0
            self.b.weight[:, 7] = 100.0  # changes nothing in fp32, everything in int8
            self.b.bias.zero_()          # no constant part to hide b's error in the logits
            self.head.bias.zero_()

    def forward(self, x):
        b, t = x.shape[:2]
        f = x.reshape(b * t, *x.shape[2:])
        y = torch.relu(self.dw(torch.relu(self.a(f))))
        z = torch.relu(self.b(y)).mean((2, 3))
        return (self.head(z.reshape(b, t, -1).mean(1)),)
'''
_ns: dict = {}
exec(compile(BROKEN_NET, "broken_net.py", "exec"), _ns)
BrokenNet = _ns["BrokenNet"]


def clips(n: int, seed: int) -> list[np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(SHAPE, generator=g).numpy() for _ in range(n)]


@pytest.fixture(scope="module")
def converted():
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    model = BrokenNet().eval()
    graph, prepared, _ = prepare_graph(model, torch.from_numpy(clips(1, 9)[0]), xnnpack_quantizer("int8"), clips(8, 1))
    with torch.no_grad():
        return graph, convert_pt2e(prepared)


def test_the_broken_layer_ranks_first_with_its_module_path(converted):
    graph, conv = converted
    rows = layer_errors(graph, conv, clips(4, 2))
    assert rows[0]["module"] == "b" and rows[0]["op"] == "conv2d"
    assert {r["module"] for r in rows} >= {"a", "dw", "b", "head"}
    by_module = {r["module"]: r for r in rows if r["op"] in ("conv2d", "linear")}
    # b's own output is far worse than a's (cumulative SQNR) and the noise it adds dominates.
    assert by_module["b"]["sqnr_db"] < by_module["a"]["sqnr_db"] - 10
    assert by_module["b"]["added_noise"] > 10 * by_module["a"]["added_noise"]
    assert all(-1 <= r["cosine"] <= 1 and not math.isnan(r["sqnr_db"]) for r in rows)


def test_the_ranking_is_right_about_the_output(converted):
    """Keeping the top-ranked op in float repairs the logits; keeping the last-ranked one does not."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from converters.quantize.mixed import outputs_of
    from converters.quantize.report import agreement

    graph, conv = converted
    rows = layer_errors(graph, conv, clips(4, 2))
    model, held = BrokenNet().eval(), clips(6, 3)
    with torch.no_grad():
        reference = [[o.numpy() for o in model(torch.from_numpy(c))] for c in held]

    def cosine_with_float(node: str) -> float:
        _, prepared, _ = prepare_graph(model, torch.from_numpy(held[0]), xnnpack_quantizer("int8"), clips(8, 1),
                                       float_nodes={node})
        with torch.no_grad():
            return agreement(reference, outputs_of(convert_pt2e(prepared), held))["mean_cosine"]

    assert cosine_with_float(rows[0]["node"]) > cosine_with_float(rows[-1]["node"]) + 0.01


@pytest.mark.parametrize("observer", sorted(OBSERVERS))
def test_every_observer_calibrates(observer):
    """Each observer is the one that watches the activations, and the converted graph runs."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    model = BrokenNet().eval()
    _, prepared, _ = prepare_graph(model, torch.from_numpy(clips(1, 9)[0]), xnnpack_quantizer("int8", observer),
                                   clips(4, 1))
    kinds = {type(m).__name__ for m in prepared.modules()}
    want = {"histogram": "HistogramObserver", "minmax": "MinMaxObserver"}.get(observer, f"{observer.title()}Observer")
    assert want in kinds
    with torch.no_grad():
        out = convert_pt2e(prepared)(torch.from_numpy(clips(1, 5)[0]))[0]
    assert torch.isfinite(out).all()


def test_observers_choose_different_ranges():
    """min-max keeps the whole range; percentile and mse clip it (on the same heavy-tailed data)."""
    from converters.quantize.pt2e import _observer_class

    x = torch.cat([torch.randn(100_000), torch.tensor([40.0])])
    ranges = {}
    for name in ("minmax", "percentile", "mse"):
        obs = _observer_class(name)(dtype=torch.int8, qscheme=torch.per_tensor_affine, quant_min=-128, quant_max=127)
        obs(x)
        scale, _zero = obs.calculate_qparams()
        ranges[name] = float(scale)
    assert ranges["percentile"] < ranges["minmax"] / 4
    assert ranges["mse"] < ranges["minmax"]
    with pytest.raises(MobilekitError, match="unknown observer 'p99'"):
        from converters.quantize.pt2e import check_observer

        check_observer("p99")


def test_event_names():
    assert _event_key("Convolution (NHWC, QC8) DWConv #3") == ("Convolution DWConv", 3)
    assert _event_key("Convolution (NHWC, F32) DWConv #3") == ("Convolution DWConv", 3)
    assert _event_key("Fully Connected (NC, QS8, QC8W) GEMM #12") == ("Fully Connected GEMM", 12)
    assert _event_key("Add (ND) #0") == ("Add", 0)
    assert _event_key("DELEGATE_CALL") is None


def test_kernel_times_from_two_real_profiles(tmp_path, converted):
    """Both programs run with ETDump; depthwise convolutions carry their module path."""
    from converters.backends.executorch.compat import profile_pte
    from converters.backends.executorch.lower import lower_program
    from converters.backends.executorch.quantize import partitioner
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    graph, conv = converted
    example = torch.from_numpy(clips(1, 9)[0])
    rows = {}
    for name, gm, part in (("fp32", copy.deepcopy(graph), XnnpackPartitioner()), ("int8", conv, partitioner())):
        edge, _ = lower_program(gm, example, part)
        pte = tmp_path / f"{name}.pte"
        with torch.no_grad():
            pte.write_bytes(edge.to_executorch().buffer)
        rows[name] = profile_pte(pte, example, runs=3)
    dw = depthwise_modules(graph)
    assert [m for _n, m in dw] == ["dw"]
    times = kernel_times(rows["fp32"], rows["int8"], dw)
    mapped = [p for p in times["operators"] if p.get("module")]
    assert [p["module"] for p in mapped] == ["dw"] and mapped[0]["kind"] == "Convolution DWConv"
    assert mapped[0]["fp32_ms"] > 0 and mapped[0]["int8_ms"] > 0
    assert {k["kind"] for k in times["by_kind"]} >= {"Convolution DWConv"}
    assert times["total_int8_ms"] > 0 and times["total_fp32_ms"] > 0
    slow = slower_in_int8(times)
    assert slow == ([mapped[0]["node"]] if mapped[0]["ratio"] > 1 else [])


def test_relu6_output_is_observed_after_its_clamp():
    """conv -> ReLU6: one int8 range, within the clamp's [0, 6], and no quantize between conv and clamp
    (XNNPACKQuantizer alone shares the conv's pre-clamp range with the clamp's output)."""
    from torch import nn
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 4, 1)).eval()
    with torch.no_grad():
        model[0].bias.fill_(-2.0)  # most pre-clamp values negative: the range the clamp throws away
    x = [(torch.randn(1, 3, 16, 16) * 3).numpy() for _ in range(4)]
    _, prepared, _ = prepare_graph(model, torch.from_numpy(x[0]), xnnpack_quantizer("int8"), x)
    with torch.no_grad():
        conv = convert_pt2e(prepared)
    clamp = next(n for n in conv.graph.nodes if n.target == torch.ops.aten.hardtanh.default)
    assert clamp.args[0].target == torch.ops.aten.conv2d.default  # the conv's output is not quantized
    q = next(iter(clamp.users))
    scale, zero = q.args[1], q.args[2]
    low, high = (-128 - zero) * scale, (127 - zero) * scale
    # The clamp's own range: no negative codes (the conv's output reaches -10 here), none above 6.
    assert -0.05 <= low <= 0.0 and 1.0 <= high <= 6.05, (low, high)


def test_float_gains_point_at_the_broken_layer(converted):
    """What each op's float recovers at the logits: the broken conv most, and it repairs them."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from converters.quantize.explain import float_gains

    model = BrokenNet().eval()
    cal = clips(8, 1)
    _, prepared, _ = prepare_graph(model, torch.from_numpy(clips(1, 9)[0]), xnnpack_quantizer("int8"), cal)
    with torch.no_grad():
        unfolded = convert_pt2e(prepared, fold_quantize=False)
        reference = [[o.numpy() for o in model(torch.from_numpy(c))] for c in clips(4, 2)]
    rows = layer_errors(*converted, clips(4, 2))
    gains = float_gains(unfolded, [r["node"] for r in rows], clips(4, 2), reference)
    best = max(gains, key=gains.get)
    assert next(r["module"] for r in rows if r["node"] == best) == "b"
    assert gains[best] > 0.05 and all(v < gains[best] / 5 for k, v in gains.items() if k != best), gains


def test_bias_correction_zeroes_the_mean_shift_of_every_layer():
    """After correct_bias, each conv's and linear's output has the fp32 graph's channel means on
    the clips it was measured on (it did not before)."""
    from torch import nn
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from converters.quantize.pt2e import _channel_mean, _gemms_by_module, _lockstep, correct_bias
    from converters.quantize.report import agreement
    from converters.quantize.mixed import outputs_of

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU6(), nn.Conv2d(16, 16, 3, padding=1, groups=16),
                          nn.ReLU6(), nn.Conv2d(16, 8, 1), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).eval()
    cal = [(torch.randn(1, 3, 8, 8) * s + s).numpy() for s in (0.5, 1.0, 2.0, 4.0) * 2]
    graph, prepared, _ = prepare_graph(model, torch.from_numpy(cal[0]), xnnpack_quantizer("int8", "minmax"), cal)
    with torch.no_grad():
        conv = convert_pt2e(prepared)

    def shifts() -> dict[str, float]:
        means = {}
        for g, key in ((graph, "ref"), (conv, "q")):
            nodes = {n: k for k, n in _gemms_by_module(g).items()}
            def record(n, outs):
                if n in nodes:
                    means[(key, nodes[n])] = _channel_mean(n, outs)

            _lockstep(g, cal, record)
        return {k: float((means[("q", k)] - means[("ref", k)]).abs().max()) for _, k in means if _ == "ref"}

    held = [(torch.randn(1, 3, 8, 8) * s + s).numpy() for s in (0.7, 1.5, 3.0)]
    with torch.no_grad():
        reference = [[o.numpy() for o in (model(torch.from_numpy(c)),)] for c in held]
    before, cos_before = shifts(), agreement(reference, outputs_of(conv, held))["mean_cosine"]
    corrected = correct_bias(graph, conv, cal)
    after, cos_after = shifts(), agreement(reference, outputs_of(conv, held))["mean_cosine"]
    assert len(corrected) == 4 and set(after) == {"0", "2", "4", "6"}
    assert max(before.values()) > 1e-3, before
    assert max(after.values()) < 1e-4, after
    # On this random net the logits barely change (0.99950 -> 0.99927 measured): whether it helps
    # is a property of the network, measured on the real one (tests/test_realnet.py).
    assert abs(cos_after - cos_before) < 0.01
