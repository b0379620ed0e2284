"""ExecuTorch XNNPACK: `int8` (static, per-channel weights, calibrated per-tensor activations)
and `int8-dynamic` (int8 weights, run-time activation ranges, Linear layers only).

PT2E with ExecuTorch's XNNPACKQuantizer, then the same lowering as the fp32 converter:
torch.export -> to_edge_transform_and_lower(XnnpackPartitioner) -> .pte. Dynamic quantization
is scoped to nn.Linear because on the whole model ExecuTorch 1.5.1 fails on the 5-D video
input (ChannelsLastTaggedReshapePass: required rank 4).
"""

from __future__ import annotations

import torch

from converters.quantize.job import QuantJob, QuantResult
from converters.quantize.pt2e import quantize_pt2e


def xnnpack_quantizer(scheme: str):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    quantizer = XNNPACKQuantizer()
    if scheme == "int8":
        quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))
    else:
        quantizer.set_module_type(torch.nn.Linear,
                                  get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    return quantizer


def quantize(job: QuantJob) -> QuantResult:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from converters.executorch import delegation_summary

    notes = []
    quantized = quantize_pt2e(job.model, job.example_input, xnnpack_quantizer(job.scheme.name), job.calibration)
    if job.scheme.name == "int8-dynamic":
        notes.append("dynamic int8 on Linear layers only; convolutions stay fp32 (whole-model dynamic "
                     "quantization fails on the 5-D input in ExecuTorch 1.5.1)")
    with torch.no_grad():
        exported = torch.export.export(quantized, (job.example_input,))
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    delegation = delegation_summary(edge.exported_program().graph_module)
    if delegation["non_delegated_ops"]:
        notes.append("left to portable kernels: " + ", ".join(
            f"{op} x{n}" for op, n in delegation["non_delegated_ops"].items()))
    job.path.write_bytes(edge.to_executorch().buffer)
    return QuantResult(notes=notes, delegation=delegation)
