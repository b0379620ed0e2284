"""The PT2E flow shared by the ExecuTorch and LiteRT quantizers: export, annotate with a
backend's quantizer, observe calibration clips, convert to quantize/dequantize nodes.

`float_layers` keeps chosen layers in floating point: after the backend's quantizer has
annotated the graph, every node that belongs to a matching module loses its input
annotations, so prepare_pt2e observes none of its inputs and its weights stay fp32.
"""

from __future__ import annotations

import fnmatch
from typing import Callable

import numpy as np
import torch
from torch import nn

from converters.source import model_module_name
from mobilekit.errors import MobilekitError

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


def quantize_pt2e(model: nn.Module, example_input: torch.Tensor, quantizer,
                  calibration: list[np.ndarray], fold_quantize: bool = True,
                  float_layers: list[str] | None = None) -> tuple[torch.fx.GraphModule, list[str]]:
    """The model with int8 quantize/dequantize nodes (torchao's prepare_pt2e/convert_pt2e), and
    the layers kept in floating point (those matching `float_layers`, module names or globs).

    Static schemes need calibration clips (the observers fix activation ranges from them);
    dynamic schemes still run the example input once so per-channel weight observers see
    the weights. `fold_quantize=False` keeps weights float with their quantize nodes, for
    converters that fold them themselves (litert-torch)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    matched: set[str] = set()
    if float_layers:
        quantizer = extend_quantizer(quantizer, lambda g: _keep_float(g, list(float_layers), matched))
    with torch.no_grad():
        graph = torch.export.export(model, (example_input,)).module()
        prepared = prepare_pt2e(graph, quantizer)
        for clip in calibration or [example_input.numpy()]:
            prepared(torch.from_numpy(clip))
        return convert_pt2e(prepared, fold_quantize=fold_quantize), sorted(matched)
