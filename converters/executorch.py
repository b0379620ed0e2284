"""ExecuTorch targets: `xnnpack` (XNNPACK delegate, runs on the host) and `et-coreml` (Core ML
delegate; exports on Linux, runs only on Apple platforms).

torch.export -> to_edge_transform_and_lower(partitioner) -> to_executorch() -> .pte
"""

from __future__ import annotations

from collections import Counter

import torch

from converters.job import ConversionJob


def _partitioner(job: ConversionJob):
    if job.target.delegate == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return XnnpackPartitioner()
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    specs = CoreMLBackend.generate_compile_specs(
        compute_unit=ct.ComputeUnit.ALL, minimum_deployment_target=ct.target.iOS17,
        compute_precision=ct.precision.FLOAT16)
    return CoreMLPartitioner(compile_specs=specs)


def delegation_summary(graph_module) -> dict:
    """How much of the graph the delegate took: node counts and the ops left to portable kernels."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    total = info.num_delegated_nodes + info.num_non_delegated_nodes
    left = Counter({op: b.non_delegated for op, b in info.delegation_by_operator.items()
                    if b.non_delegated and op not in ("getitem",)})
    return {
        "delegated_subgraphs": info.num_delegated_subgraphs,
        "delegated_nodes": info.num_delegated_nodes,
        "non_delegated_nodes": info.num_non_delegated_nodes,
        "share": round(info.num_delegated_nodes / total, 4) if total else None,
        "non_delegated_ops": dict(left.most_common()),
    }


def convert(job: ConversionJob) -> dict:
    from executorch.exir import to_edge_transform_and_lower

    notes = []
    with torch.no_grad():
        exported = torch.export.export(job.model, (job.example_input,))
    # Not constant_prop_pass: it folds weight-only ops (Swin's index gather, MViT's reshaped
    # kernels) so the graph delegates fully, but the resulting XNNPACK program fails shape
    # propagation at run time (swin_t: xnn_status_invalid_parameter, measured here).
    edge = to_edge_transform_and_lower(exported, partitioner=[_partitioner(job)])
    delegation = delegation_summary(edge.exported_program().graph_module)
    if delegation["non_delegated_ops"]:
        notes.append("left to portable kernels: " + ", ".join(
            f"{op} x{n}" for op, n in delegation["non_delegated_ops"].items()))
    job.path.write_bytes(edge.to_executorch().buffer)
    return {"notes": notes, "delegation": delegation}
