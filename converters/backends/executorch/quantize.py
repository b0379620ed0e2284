"""ExecuTorch XNNPACK: `int8` (static, per-channel weights, calibrated per-tensor activations),
`int8-dynamic` (int8 weights, run-time activation ranges, Linear layers only) and `fp16` (the
program in half precision behind fp32 input and outputs).

PT2E with ExecuTorch's XNNPACKQuantizer, then the same lowering as the fp32 converter (lower.py), with a partitioner that also takes int8
sigmoids, pads and copies. Dynamic quantization
is scoped to nn.Linear because on the whole model ExecuTorch 1.5.1 fails on the 5-D video
input (ChannelsLastTaggedReshapePass: required rank 4).

Static int8 also keeps sigmoids (and so SiLU, split into x * sigmoid(x)) in int8. In
ExecuTorch 1.5.1 neither XNNPACKQuantizer annotates sigmoid nor the partitioner takes a
quantized one, so every SiLU ran as dequantize -> fp32 sigmoid, mul -> quantize: on vlf_b0
(8x64x64, 1 thread) that made int8 0.62-0.65x of fp32; with int8 sigmoids 0.46-0.52x. XNNPACK
runs an int8 sigmoid as a 256-entry lookup table; its output range is fixed to [0, 1)
(scale 1/256, zero point -128, as TFLite's int8 logistic), so no observer is needed.

Zero padding and ops that only move values (slice, view, permute, clone, ...) after int8 ops
share their input's quantization; left unannotated, XNNPACK refused to load the 3-D models'
int8 programs (x3d_xs, measured: its temporal convolution's padding and frame slices).
"""

from __future__ import annotations

import torch

from converters.quantize.job import QuantJob, QuantResult
from converters.quantize.pt2e import (DEFAULT_OBSERVER, extend_quantizer, fuse_clamp_outputs, quantize_pt2e,
                                     with_observer)
from mobilekit.models.rewrites import split_silu

SIGMOID_SCALE, SIGMOID_ZERO_POINT = 1.0 / 256, -128


def _annotate_sigmoids(model: torch.fx.GraphModule, input_spec, is_qat: bool = False) -> None:
    """Mark every sigmoid int8 in, int8 out (fixed output range)."""
    from torchao.quantization.pt2e.quantizer import FixedQParamsQuantizationSpec, QuantizationAnnotation

    # QAT's FixedQParamsFakeQuantize asserts a per-tensor qscheme; PTQ keeps the spec it was measured with.
    output_spec = FixedQParamsQuantizationSpec(dtype=torch.int8, scale=SIGMOID_SCALE, zero_point=SIGMOID_ZERO_POINT,
                                               quant_min=-128, quant_max=127,
                                               qscheme=torch.per_tensor_affine if is_qat else None)
    for node in model.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.sigmoid.default \
                and "quantization_annotation" not in node.meta:
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={node.args[0]: input_spec}, output_qspec=output_spec, _annotated=True)


_A = torch.ops.aten
# Ops that move or copy int8 values without changing them: they share their input's
# quantization. XNNPACKQuantizer leaves them unannotated, so one fed by a dequantize that an
# int8 op also uses gets an int8 input and an fp32 output, which XNNPACK 1.5.1 refuses at load
# time (xnn_status_invalid_parameter: StaticConstantPad, then a reshape, in x3d_xs's temporal
# convolution, measured).
_PASSTHROUGH = {_A.slice.Tensor, _A.view.default, _A.reshape.default, _A.squeeze.dim, _A.squeeze.dims,
                _A.unsqueeze.default, _A.permute.default, _A.transpose.int, _A.clone.default,
                _A.flatten.using_ints, _A.contiguous.default}


def _moves_values(node: torch.fx.Node) -> bool:
    """A _PASSTHROUGH op, or zero padding: 0 is exact in every int8 quantization, while
    another fill value (EfficientViT pads with 1.0) may lie outside the input's range."""
    if node.target in _PASSTHROUGH:
        return True
    if node.target == _A.pad.default:  # pad(x, pad, mode="constant", value=None)
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value")
        return mode == "constant" and not value
    if node.target == _A.constant_pad_nd.default:  # constant_pad_nd(x, pad, value=0)
        return not (node.args[2] if len(node.args) > 2 else node.kwargs.get("value", 0))
    return False


def _annotate_passthrough(model: torch.fx.GraphModule, input_spec) -> None:
    """Share the input's quantization through value-moving ops whose input is int8."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    quantized = {n for n in model.graph.nodes
                 if getattr(n.meta.get("quantization_annotation"), "output_qspec", None) is not None}
    for node in model.graph.nodes:  # topological order: a chain of such ops stays int8
        if node.op != "call_function" or "quantization_annotation" in node.meta or not _moves_values(node):
            continue
        source = node.args[0]
        if isinstance(source, torch.fx.Node) and source in quantized:
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={source: input_spec}, output_qspec=SharedQuantizationSpec((source, node)),
                _annotated=True)
            quantized.add(node)


def xnnpack_quantizer(scheme: str, observer: str = DEFAULT_OBSERVER, is_qat: bool = False):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    base = XNNPACKQuantizer()
    if scheme != "int8":
        base.set_module_type(torch.nn.Linear, get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
        return base
    config = with_observer(get_symmetric_quantization_config(is_per_channel=True, is_qat=is_qat), observer)
    base.set_global(config)

    def also(model: torch.fx.GraphModule) -> None:  # what XNNPACKQuantizer leaves fp32 in 1.5.1
        fuse_clamp_outputs(model)
        _annotate_sigmoids(model, config.input_activation, is_qat)
        _annotate_passthrough(model, config.input_activation)

    return extend_quantizer(base, also)


def partitioner():
    """XnnpackPartitioner that also takes int8 sigmoids, pads and copies (1.5.1's configs for
    them are fp32 only; XNNPACK itself runs them in qs8)."""
    from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS
    from executorch.backends.xnnpack.partition.config.generic_node_configs import (CloneConfig, CloneDimOrderConfig,
                                                                                   ConstantPadConfig, SigmoidConfig)
    from executorch.backends.xnnpack.partition.config.xnnpack_config import ConfigPrecisionType
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    def with_int8(config):
        class Int8Too(config):
            def supported_precision_types(self):
                return [ConfigPrecisionType.FP32, ConfigPrecisionType.STATIC_QUANT]

        Int8Too.__name__ = f"Int8{config.__name__}"
        return Int8Too

    widened = {SigmoidConfig, ConstantPadConfig, CloneConfig, CloneDimOrderConfig}
    return XnnpackPartitioner(configs=[with_int8(c) if c in widened else c for c in ALL_PARTITIONER_CONFIGS])


def pt2e_setup(job: QuantJob):
    """(the model as the quantizer sees it, the quantizer): what quantize() annotates, for
    explain.py and mixed.py to prepare the same graph."""
    if job.scheme.name == "int8":
        split_silu(job.model)  # x * sigmoid(x): both halves have int8 kernels
    return job.model, xnnpack_quantizer(job.scheme.name, job.observer, is_qat=job.qat is not None)


def program_partitioner(job: QuantJob):
    """The partitioner quantize() lowers with (explain.py profiles the same program)."""
    return partitioner()


def quantize(job: QuantJob) -> QuantResult:
    from converters.backends.executorch.lower import lower_program, write_program

    if job.scheme.name == "fp16":
        return _fp16(job)
    notes = []
    model, quantizer = pt2e_setup(job)
    quantized, kept = quantize_pt2e(model, job.example_input, quantizer, job.calibration,
                                    float_layers=job.float_layers, float_nodes=job.float_nodes, qat=job.qat,
                                    bias_correction=job.bias_correction)
    if job.scheme.name == "int8-dynamic":
        notes.append("dynamic int8 on Linear layers only; convolutions stay fp32 (whole-model dynamic "
                     "quantization fails on the 5-D input in ExecuTorch 1.5.1)")
    edge, _ = lower_program(quantized, job.example_input, partitioner())
    extras = write_program(edge, job.path)
    return QuantResult(notes=notes + extras["notes"], delegation=extras["delegation"], float_layers=kept)


class _HalfProgram(torch.nn.Module):
    """The model in fp16 behind fp32 input and outputs (the app feeds fp32 as for fp32 programs;
    XNNPACK converts at the edges)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model.half()

    def forward(self, x):
        out = self.model(x.half())
        return tuple(o.float() for o in out) if isinstance(out, (tuple, list)) else out.float()


def _fp16(job: QuantJob) -> QuantResult:
    """An fp16 program for XNNPACK: weights and activations in half precision.

    SiLU is split into x * sigmoid(x) first: decomposed as one op in fp16, SiLU computes its
    sigmoid in fp32 between two casts, which left ~100 casts outside the delegate and cut
    tsn_b0's graph into 99 XNNPACK partitions (measured). The two casts at the edges stay on
    portable kernels: XNNPACK 1.5.1's partitioner takes no dtype-converting copy."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    from converters.backends.executorch.lower import lower_program, write_program

    from converters.graph_rewrites import rewrite_graph

    split_silu(job.model)
    # The target's graph passes (e.g. a keepdim 4-D mean, which XNNPACK takes), as for fp32.
    half, _ = rewrite_graph(_HalfProgram(job.model).eval(), job.example_input, job.target.name)
    edge, _ = lower_program(half, job.example_input, XnnpackPartitioner())
    extras = write_program(edge, job.path)
    return QuantResult(notes=["fp16 weights and arithmetic; input and outputs stay fp32", *extras["notes"]],
                       delegation=extras["delegation"])
