"""The one ExecuTorch lowering, used by convert, quantize and check alike:

    torch.export -> to_edge_transform_and_lower(partitioner) -> to_executorch() -> .pte

`lower()` is the converter (fp32 programs for xnnpack, et-coreml and vulkan); the int8 pass
(quantize.py) and the XNNPACK check (compat.py) call `lower_program` / `write_program` with
their own partitioner, so a program is built the same way whatever asked for it.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from pathlib import Path

import torch


def partitioner_for(target):
    """The partitioner of an ExecuTorch target: XNNPACK, Core ML (iOS 17, fp16) or Vulkan."""
    if target.delegate == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return XnnpackPartitioner()
    if target.delegate == "vulkan":
        from converters.backends.executorch.vulkan import partitioner

        return partitioner()
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    specs = CoreMLBackend.generate_compile_specs(
        compute_unit=ct.ComputeUnit.ALL, minimum_deployment_target=ct.target.iOS17,
        compute_precision=ct.precision.FLOAT16)
    return CoreMLPartitioner(compile_specs=specs)


class _WhyCollector(logging.Handler):
    """Collects the XNNPACK partitioner's `WhyNoPartition` records: node name -> reason."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.reasons: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg
        node = getattr(msg, "node", None)
        if node is not None and getattr(msg, "reason", ""):
            self.reasons.setdefault(node.name, str(msg.reason))


@contextlib.contextmanager
def _collect_why():
    logger = logging.getLogger("executorch.backends.xnnpack")
    handler = _WhyCollector()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # keep the debug flood out of the user's logs
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def lower_program(model: torch.nn.Module, example_input: torch.Tensor | tuple, partitioner, *,
                  etrecord: bool = False):
    """(edge program manager, the partitioner's reasons by node name for what it refused).
    `example_input`: one tensor, or a tuple of them (a streaming step: frame, then state)."""
    from executorch.exir import to_edge_transform_and_lower

    args = example_input if isinstance(example_input, tuple) else (example_input,)
    with torch.no_grad():
        exported = torch.export.export(model, args)
    # Not constant_prop_pass: it folds weight-only ops (Swin's index gather, MViT's reshaped
    # kernels) so the graph delegates fully, but the resulting XNNPACK program fails shape
    # propagation at run time (swin_t: xnn_status_invalid_parameter, measured here).
    with _collect_why() as why:
        edge = to_edge_transform_and_lower(exported, partitioner=[partitioner], generate_etrecord=etrecord)
    return edge, why.reasons


def delegation_summary(graph_module) -> dict:
    """How much of the graph the delegate took: compute nodes delegated and not (getitems,
    which only unpack a delegate's outputs, not counted), and the ops left to portable kernels."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    by_op = {op: b for op, b in info.delegation_by_operator.items() if op != "getitem"}
    delegated = sum(b.delegated for b in by_op.values())
    left = sum(b.non_delegated for b in by_op.values())
    return {
        "delegated_subgraphs": info.num_delegated_subgraphs,
        "delegated_nodes": delegated,
        "non_delegated_nodes": left,
        "share": round(delegated / (delegated + left), 4) if delegated + left else None,
        "non_delegated_ops": dict(Counter({op: b.non_delegated for op, b in by_op.items()
                                           if b.non_delegated}).most_common()),
    }


def write_program(edge, path: Path) -> dict:
    """Serialise the lowered program to `path`; the manifest extras (delegation, notes)."""
    delegation = delegation_summary(edge.exported_program().graph_module)
    notes = []
    if delegation["non_delegated_ops"]:
        notes.append("left to portable kernels: " + ", ".join(
            f"{op} x{n}" for op, n in delegation["non_delegated_ops"].items()))
    with torch.no_grad():  # out-variant kernels refuse tensors that require grad (cumsum.out)
        Path(path).write_bytes(edge.to_executorch().buffer)
    return {"notes": notes, "delegation": delegation}


def lower(job) -> dict:
    if job.target.delegate == "vulkan":  # its partitioner logs every node unless shielded
        from converters.backends.executorch.vulkan import lower as lower_vulkan

        return lower_vulkan(job)
    edge, _ = lower_program(job.model, job.example_inputs, partitioner_for(job.target))
    return write_program(edge, job.path)
