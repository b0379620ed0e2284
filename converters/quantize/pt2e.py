"""The PT2E flow shared by the ExecuTorch and LiteRT quantizers: export, annotate with a
backend's quantizer, observe calibration clips, convert to quantize/dequantize nodes.

`float_layers` keeps chosen layers in floating point: after the backend's quantizer has
annotated the graph, every node that belongs to a matching module loses its input
annotations, so prepare_pt2e observes none of its inputs and its weights stay fp32.
`float_nodes` does the same for graph nodes by name (the automatic mixed precision of
mixed.py, which picks single ops, not whole modules).

`observer` picks how activation ranges are fixed from the calibration clips (OBSERVERS):
the quantizer's own choice (XNNPACK and litert-torch: torch's HistogramObserver, which
searches the histogram for the range of least L2 quantization error), plain min-max, a
percentile clip, or a line search for the least mean squared error on a sample of values.
"""

from __future__ import annotations

import fnmatch
from typing import Callable

import numpy as np
import torch
from torch import nn

from converters.source import model_module_name
from mobilekit.errors import MobilekitError

_GEMMS = {torch.ops.aten.conv1d.default, torch.ops.aten.conv2d.default, torch.ops.aten.conv3d.default,
          torch.ops.aten.linear.default}
_CLAMPS = {torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default, torch.ops.aten.relu.default,
           torch.ops.aten.relu_.default}


def layer_names(node: torch.fx.Node) -> list[str]:
    """The modules a graph node was traced in, outermost first, as the model names them."""
    names = (model_module_name(path) for path, _type in (node.meta.get("nn_module_stack") or {}).values())
    return [n for n in names if n]


def _compute_in_float(node: torch.fx.Node) -> None:
    """Drop a node's input annotations (its weights stay fp32 and it computes in fp32). Its
    output annotation stays, so consumers that share its output's quantization still find
    it; the node's output is then quantized for them, as the backend's kernel boundary."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    ann = node.meta.get("quantization_annotation")
    if ann is None:
        return
    out = ann.output_qspec
    if isinstance(out, SharedQuantizationSpec) and isinstance(out.edge_or_node, tuple) \
            and out.edge_or_node[1] is node:  # shares one of this node's own (now float) inputs
        out = None
    node.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=out, _annotated=True)


def extend_quantizer(base, after: Callable[[torch.fx.GraphModule], None]):
    """`base` (a torchao Quantizer) whose annotate() also runs `after` on the annotated graph."""
    from torchao.quantization.pt2e.quantizer import Quantizer

    class Extended(Quantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            base.annotate(model)
            after(model)
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            base.validate(model)

        def transform_for_annotation(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            return base.transform_for_annotation(model)

    return Extended()


def _keep_float(model: torch.fx.GraphModule, patterns: list[str], matched: set[str]) -> None:
    """Compute the nodes of modules matching `patterns` in fp32; add those modules to `matched`."""
    seen: set[str] = set()
    for node in model.graph.nodes:
        names = layer_names(node)
        seen.update(names)
        hit = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if hit:
            matched.add(hit[0])
            _compute_in_float(node)
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in seen)]
    if unmatched:
        examples = ", ".join(sorted(seen, key=len, reverse=True)[:3])
        raise MobilekitError(f"--float-layers {', '.join(unmatched)} matches no layer of the model",
                             f"give module names or globs as in the model's state dict, e.g. {examples}")


def _keep_float_nodes(model: torch.fx.GraphModule, names: set[str]) -> None:
    """Compute the named nodes in float with a float output (unlike float_layers, whose output
    stays int8 for its consumers): an int8 consumer quantizes the edge on its own input, and
    value-moving ops that share a float node's quantization become float with it. A float
    node's output stays annotated only where an annotation that remains shares it by node."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    # A conv fused with its clamp (fuse_clamp_outputs) is one op: the clamp carries its output's quantization.
    names = set(names) | {user.name for node in model.graph.nodes if node.name in names and len(node.users) == 1
                          for user in node.users if user.target in _CLAMPS}
    floated: set[torch.fx.Node] = set()
    for node in model.graph.nodes:  # topological: a chain of shared value-moving ops follows its source
        ann = node.meta.get("quantization_annotation")
        follows = (ann is not None and isinstance(ann.output_qspec, SharedQuantizationSpec)
                   and ann.input_qspec_map and all(src in floated for src in ann.input_qspec_map))
        if node.name in names or follows:
            _compute_in_float(node)
            floated.add(node)

    def shared_nodes(node: torch.fx.Node, outputs_only: bool) -> set[torch.fx.Node]:
        ann = node.meta.get("quantization_annotation")
        if ann is None:
            return set()
        specs = [ann.output_qspec] + ([] if outputs_only else list(ann.input_qspec_map.values()))
        return {s.edge_or_node for s in specs
                if isinstance(s, SharedQuantizationSpec) and isinstance(s.edge_or_node, torch.fx.Node)}

    keep = set().union(*(shared_nodes(n, False) for n in model.graph.nodes if n not in floated)) & floated
    while True:  # a kept float output that shares another float node's keeps that one too
        more = set().union(set(), *(shared_nodes(n, True) for n in keep)) & floated - keep
        if not more:
            break
        keep |= more
    for node in floated - keep:
        node.meta["quantization_annotation"] = QuantizationAnnotation(_annotated=True)


def fuse_clamp_outputs(model: torch.fx.GraphModule) -> None:
    """Observe a convolution's or linear's output after its clamp (ReLU6 = hardtanh(0, 6), ReLU).

    XNNPACKQuantizer and litert-torch's quantizer fuse only `relu` into the preceding conv;
    ReLU6 shares the conv's own output quantization. The int8 range then spans the conv's
    pre-clamp output (e.g. [-14, 7.4] where ReLU6 keeps [0, 6]): a third of the codes are spent
    on values the clamp throws away, at every activation of a ReLU6 network. Measured on
    EfficientNet-Lite0 (ImageNet weights, held-out real photos, 2x224, PyTorch simulation of
    xnnpack int8): mean logit cosine 0.910 -> 0.993, top-1 agreement 84% -> 94%. Both
    runtimes fuse the clamp into the kernel (XNNPACK: output_min/max of the convolution;
    TFLite: a fused RELU6), so the conv's output is never materialised in int8 and needs no
    quantization of its own."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, QuantizationSpec

    for clamp in model.graph.nodes:
        if clamp.op != "call_function" or clamp.target not in _CLAMPS:
            continue
        gemm = clamp.args[0]
        if not isinstance(gemm, torch.fx.Node) or gemm.target not in _GEMMS or len(gemm.users) != 1:
            continue
        ann = gemm.meta.get("quantization_annotation")
        if ann is None or not isinstance(ann.output_qspec, QuantizationSpec):
            continue
        clamp.meta["quantization_annotation"] = QuantizationAnnotation(output_qspec=ann.output_qspec, _annotated=True)
        gemm.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=ann.input_qspec_map,
                                                                      _annotated=True)


def graph_tensors(graph: torch.fx.GraphModule) -> dict[str, torch.Tensor]:
    """A graph module's parameters and buffers by attribute name (a converted graph keeps
    biases as either)."""
    return {**dict(graph.named_parameters()), **dict(graph.named_buffers())}


def _gemms_by_module(graph: torch.fx.GraphModule) -> dict[str, torch.fx.Node]:
    """Each conv/linear node under the module it was traced in (modules called once only):
    prepare/convert may rename nodes, the module path stays."""
    seen: dict[str, list[torch.fx.Node]] = {}
    for n in graph.graph.nodes:
        if n.op == "call_function" and n.target in _GEMMS and layer_names(n):
            seen.setdefault(layer_names(n)[-1], []).append(n)
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


def _lockstep(graph: torch.fx.GraphModule, clips: list[np.ndarray],
              at_node: Callable[[torch.fx.Node, list], list | None]) -> None:
    """Run `graph` on every clip node by node, all clips in step; after each node,
    `at_node(node, outputs)` sees its output for every clip and may replace them (a list).
    Values are freed after their last use, as torch.fx.Interpreter.run does."""
    runs = [torch.fx.Interpreter(graph) for _ in clips]
    for run, clip in zip(runs, clips):
        run.env, run.args_iter = {}, iter([torch.from_numpy(clip)])
    last_uses = runs[0].user_to_last_uses
    with torch.no_grad():
        for node in graph.graph.nodes:
            if node.op == "output":
                break
            outs = [run.run_node(node) for run in runs]
            replaced = at_node(node, outs)
            outs = outs if replaced is None else replaced
            for run, out in zip(runs, outs):
                run.env[node] = out
                for dead in last_uses.get(node, []):
                    del run.env[dead]


def _channel_mean(node: torch.fx.Node, outs: list) -> torch.Tensor:
    """Per output channel (dim 1 of a conv, the last of a linear), the mean over all clips."""
    channel = -1 if node.target == torch.ops.aten.linear.default else 1
    return torch.stack([o.detach().float().movedim(channel, 0).flatten(1).mean(1) for o in outs]).mean(0)


BIAS_CORRECTION_CLIPS = 8


def correct_bias(reference: torch.fx.GraphModule, converted: torch.fx.GraphModule,
                 clips: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", Sec. 4.2, with
    data): rounding weights and activations to int8 shifts the mean of each conv's and linear's
    output per channel; its bias absorbs the shift for free. Layer by layer in graph order, each
    on the outputs of the layers already corrected (one pass: all clips run in step, and each
    layer's output is corrected before its consumers run), the bias moves by the converted
    graph's channel means minus the fp32 graph's (`reference`, the graph it was prepared from)
    over `clips`. Correcting all layers at once from one uncorrected pass diverged on
    EfficientNet-Lite0 (each correction changes the next layer's inputs); in order it took
    xnnpack int8's mean cosine on held-out photos from 0.993 to 0.996 (2x224, measured).
    Returns {bias attribute: corrected value}."""
    params = graph_tensors(converted)
    ref_nodes = {n: k for k, n in _gemms_by_module(reference).items()}
    gemms = {n: k for k, n in _gemms_by_module(converted).items()
             if k in ref_nodes.values() and len(n.args) > 2 and isinstance(n.args[2], torch.fx.Node)
             and n.args[2].target in params}
    want: dict[str, torch.Tensor] = {}

    def record(node, outs):
        if node in ref_nodes:
            want[ref_nodes[node]] = _channel_mean(node, outs)

    _lockstep(reference, clips, record)
    corrected: dict[str, torch.Tensor] = {}

    def correct(node, outs):
        if node not in gemms:
            return None
        bias = params[node.args[2].target]
        shift = _channel_mean(node, outs) - want[gemms[node]]
        if shift.shape != bias.shape:
            return None
        bias.data -= shift.to(bias.dtype)
        corrected[node.args[2].target] = bias.detach().clone()
        view = [1] * outs[0].dim()
        view[-1 if node.target == torch.ops.aten.linear.default else 1] = -1
        return [o - shift.view(view).to(o.dtype) for o in outs]  # what the corrected bias gives

    _lockstep(converted, clips, correct)
    return corrected


def set_biases(graph: torch.fx.GraphModule, biases: dict[str, torch.Tensor]) -> None:
    """Copy corrected biases (correct_bias) into another conversion of the same prepared graph."""
    params = graph_tensors(graph)
    for name, value in biases.items():
        if name in params and params[name].shape == value.shape:
            params[name].data.copy_(value)


def convert_graph(reference: torch.fx.GraphModule, prepared: torch.fx.GraphModule, calibration: list[np.ndarray],
                  fold_quantize: bool = True, bias_correction: bool = False) -> torch.fx.GraphModule:
    """convert_pt2e, then (bias_correction) correct_bias on the first calibration clips."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    with torch.no_grad():
        converted = convert_pt2e(prepared, fold_quantize=fold_quantize)
    if bias_correction and calibration:
        converted.meta["corrected_biases"] = correct_bias(reference, converted, calibration[:BIAS_CORRECTION_CLIPS])
    return converted


OBSERVERS = {
    "histogram": "torch's HistogramObserver: the range of least L2 error over a histogram (the quantizers' default)",
    "minmax": "the observed minimum and maximum (every outlier kept)",
    "percentile": "the 0.01th and 99.99th percentiles of each calibration clip, averaged (outliers clipped)",
    "mse": "a line search over shrunken min-max ranges for the least mean squared error on sampled values",
}
DEFAULT_OBSERVER = "histogram"


def _observer_class(name: str):
    """A PT2E activation observer class for `name` (None: keep the quantizer's own)."""
    from torchao.quantization.pt2e.observer import MinMaxObserver

    if name == DEFAULT_OBSERVER:
        return None
    if name == "minmax":
        return MinMaxObserver

    class _Sampled(MinMaxObserver):
        """Min-max plus what the range choice needs, in forward (calibration only)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.lows: list[float] = []
            self.highs: list[float] = []
            self.sample: list[torch.Tensor] = []

        def forward(self, x_orig):
            if x_orig.numel() == 0:
                return x_orig
            x = x_orig.detach().float().flatten()
            super().forward(x_orig)
            if name == "percentile":
                pick = x if x.numel() <= 1 << 22 else x[torch.randperm(x.numel())[:1 << 22]]
                lo, hi = torch.quantile(pick, torch.tensor([1e-4, 1 - 1e-4])).tolist()
                self.lows.append(lo)
                self.highs.append(hi)
            else:  # mse: a bounded sample of every clip's values
                self.sample.append(x[torch.randperm(x.numel())[:1 << 16]] if x.numel() > 1 << 16 else x)
            return x_orig

        def calculate_qparams(self):
            if self.lows:
                lo = torch.tensor(min(0.0, float(np.mean(self.lows))))
                hi = torch.tensor(max(0.0, float(np.mean(self.highs))))
                return self._calculate_qparams(lo, hi)
            if not self.sample:
                return super().calculate_qparams()
            x = torch.cat(self.sample)
            best, best_err = 1.0, None
            for shrink in torch.linspace(0.2, 1.0, 41).tolist():
                scale, zero = self._calculate_qparams(self.min_val * shrink, self.max_val * shrink)
                q = torch.fake_quantize_per_tensor_affine(x, float(scale), int(zero), self.quant_min, self.quant_max)
                err = float((q - x).pow(2).mean())
                if best_err is None or err < best_err:
                    best, best_err = shrink, err
            return self._calculate_qparams(self.min_val * best, self.max_val * best)

    _Sampled.__name__ = f"{name.title()}Observer"
    return _Sampled


def with_observer(config, observer: str):
    """A QuantizationConfig whose activation specs use `observer` (OBSERVERS); weights keep
    their per-channel min-max. Dynamic and fixed-range specs are left as they are."""
    import dataclasses

    cls = _observer_class(observer)
    if cls is None or config is None:
        return config

    def swap(spec):
        if spec is None or getattr(spec, "is_dynamic", False) or not hasattr(spec, "observer_or_fake_quant_ctr"):
            return spec
        return dataclasses.replace(spec, observer_or_fake_quant_ctr=cls.with_args(eps=2 ** -12))

    return dataclasses.replace(config, input_activation=swap(config.input_activation),
                               output_activation=swap(config.output_activation))


def check_observer(observer: str) -> None:
    if observer not in OBSERVERS:
        raise MobilekitError(f"unknown observer {observer!r}", f"use one of {', '.join(OBSERVERS)}")


def prepare_graph(model: nn.Module, example_input: torch.Tensor, quantizer, calibration: list[np.ndarray],
                  float_layers: list[str] | None = None, float_nodes: set[str] | None = None,
                  qat: Callable[[torch.fx.GraphModule], None] | None = None
                  ) -> tuple[torch.fx.GraphModule, torch.fx.GraphModule, list[str]]:
    """(the exported fp32 graph, the observed graph after the calibration clips, the layers
    kept in float). The fp32 graph is the reference that explain.py compares with.

    `qat` (quantization-aware training, converters/quantize/qat.py): the graph is prepared with
    fake-quant modules (prepare_qat_pt2e; the quantizer must be built for QAT), calibrated once,
    then `qat(prepared)` fine-tunes it with gradients before it is converted."""
    import copy

    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    matched: set[str] = set()
    if float_layers or float_nodes:
        def keep(g: torch.fx.GraphModule) -> None:
            if float_layers:
                _keep_float(g, list(float_layers), matched)
            if float_nodes:
                _keep_float_nodes(g, set(float_nodes))

        quantizer = extend_quantizer(quantizer, keep)
    from torchao.quantization.pt2e.utils import _fuse_conv_bn_, _fuse_linear_bn_

    with torch.no_grad():
        graph = torch.export.export(model, (example_input,)).module()
        # What prepare_pt2e does first: folded here too, the reference's conv outputs are the
        # converted graph's (after batch norm), not the raw convolution's.
        _fuse_conv_bn_(graph)
        _fuse_linear_bn_(graph)
        prepared = (prepare_qat_pt2e if qat is not None else prepare_pt2e)(copy.deepcopy(graph), quantizer)
        for clip in calibration or [example_input.numpy()]:
            prepared(torch.from_numpy(clip))
    if qat is not None:  # outside no_grad: the hook trains the fake-quantized graph
        qat(prepared)
    return graph, prepared, sorted(matched)


def quantize_pt2e(model: nn.Module, example_input: torch.Tensor, quantizer,
                  calibration: list[np.ndarray], fold_quantize: bool = True,
                  float_layers: list[str] | None = None,
                  float_nodes: set[str] | None = None,
                  qat: Callable[[torch.fx.GraphModule], None] | None = None,
                  bias_correction: bool = False) -> tuple[torch.fx.GraphModule, list[str]]:
    """The model with int8 quantize/dequantize nodes (torchao's prepare_pt2e/convert_pt2e), and
    the layers kept in floating point (those matching `float_layers`, module names or globs).

    Static schemes need calibration clips (the observers fix activation ranges from them);
    dynamic schemes still run the example input once so per-channel weight observers see
    the weights. `fold_quantize=False` keeps weights float with their quantize nodes, for
    converters that fold them themselves (litert-torch). `qat`: see prepare_graph.
    `bias_correction`: correct_bias on the calibration clips after converting."""
    graph, prepared, matched = prepare_graph(model, example_input, quantizer, calibration, float_layers, float_nodes,
                                             qat)
    return convert_graph(graph, prepared, calibration, fold_quantize, bias_correction), matched
