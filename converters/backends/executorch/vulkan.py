"""`vulkan`: ExecuTorch's Vulkan delegate, for Android GPUs.

torch.export -> to_edge_transform_and_lower(VulkanPartitioner) -> to_executorch() -> .pte

Read from the executorch 1.5.1 wheel (executorch/backends/vulkan/):

- partitioner/vulkan_partitioner.py: `VulkanPartitioner(compile_options, operator_blocklist,
  operator_allowlist, nn_module_blocklist, nn_module_allowlist)`. compile_options that reach the
  device (parse_compile_options): bools (force_fp16, small_texture_limits, downcast_64_bit,
  skip_memory_planning, ...), texture_limits, storage_type_override / memory_layout_override.
  Defaults: 3-D textures up to (16384, 16384, 2048) texels, the mobile-GPU limits (utils.py);
  `small_texture_limits` drops to 2048, what the Vulkan spec guarantees every GPU.
- op_registry.py: which ops, dtypes and shapes the delegate takes. The one that matters here:
  `check_conv_node` refuses a 2-D convolution whose input batch is not 1, so a 2-D backbone
  run over frames folded into the batch (B*T, C, H, W: TSN, VLF, VTN, TSM) keeps every conv
  on the CPU's portable kernels. `split_batched_conv2d` rewrites each such conv as one conv per
  sample (the same numbers), which the delegate takes.

No runtime on this machine runs the .pte (see `runtime_note()`, `HOST_REASON`), so a conversion is checked by
what the partitioner took and by the delegate blobs in the written program (`pte_delegates`).

Importing this module imports neither torch nor executorch.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from pathlib import Path

BACKEND_ID = "VulkanBackend"  # VulkanBackend.__name__, the delegate id inside the .pte
COMPUTE_UNITS = "gpu"
DELEGATE = "vulkan"

TOOL = "ExecuTorch VulkanPartitioner (get_delegation_info)"
# Why the host cannot run the .pte, as measured with executorch 1.5.1 (runtime_note() asks the
# installed runtime each time; this is its answer here, for places that must not import it).
# It follows "running it ..." in the backend's messages.
HOST_REASON = (
    "needs an ExecuTorch runtime built with the Vulkan backend (EXECUTORCH_BUILD_VULKAN=ON) and "
    "a Vulkan GPU driver; the executorch 1.5.1 wheel's pybindings register only QnnBackend, "
    "OpenvinoBackend and XnnpackBackend, so no host runtime here loads it")

# Ops the partitioner refuses, with why (executorch 1.5.1 backends/vulkan/op_registry.py).
_WHY = {
    "aten.convolution": "the Vulkan conv2d takes batch 1 only (op_registry.py check_conv_node)",
    "aten.native_layer_norm": "no Vulkan layer norm for this input (op_registry.py)",
}


@contextlib.contextmanager
def _root_logging():
    """Route the root logger into a list while executorch's Vulkan code runs, then put it back.

    The partitioner logs every decision at INFO on the root logger and sets the root level to
    INFO when imported; its first `logging.info` would also install a stderr handler
    (logging.basicConfig). Library code does not print, nor change the caller's logging."""
    root = logging.getLogger()
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    level, handlers = root.level, root.handlers[:]
    root.handlers = [_Keep(logging.DEBUG)]
    try:
        yield records
    finally:
        root.handlers = handlers
        root.setLevel(level)


def partitioner(*, force_fp16: bool = False, small_texture_limits: bool = False):
    """A VulkanPartitioner for Android GPUs.

    force_fp16: keep activations in fp16 on the GPU (half the memory traffic; the manifest's
    precision becomes fp16). small_texture_limits: 2048-texel textures, for GPUs below the
    mobile default of 16384 (mostly desktop ones). Everything else is the delegate's default:
    3-D texture storage, width-packed, int64/fp64 downcast to 32 bits."""
    with _root_logging():
        from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanPartitioner

    options = {"force_fp16": bool(force_fp16), "small_texture_limits": bool(small_texture_limits)}
    return VulkanPartitioner(compile_options=options)


def runtime_note() -> str | None:
    """Why no runtime on this machine runs a Vulkan .pte; None when one does (then validate)."""
    import ctypes.util
    import importlib.metadata

    with _root_logging():
        from executorch.runtime import Runtime

        registry = Runtime.get().backend_registry
        names = list(registry.registered_backend_names)
        available = registry.is_available(BACKEND_ID) if BACKEND_ID in names else False
    loader = ctypes.util.find_library("vulkan")
    if available and loader:
        return None
    version = importlib.metadata.version("executorch")
    why = []
    if not available:
        why.append(f"the executorch {version} pybindings register {', '.join(names) or 'no backend'} "
                   f"but not {BACKEND_ID} (the wheel is built without EXECUTORCH_BUILD_VULKAN)")
    if not loader:
        why.append("this machine has no Vulkan loader (libvulkan) or GPU driver")
    return ("needs an ExecuTorch runtime built with EXECUTORCH_BUILD_VULKAN=ON on a Vulkan GPU: "
            + "; ".join(why))


# ------------------------------------------------------------------------------------ rewrites
def split_batched_conv2d(gm) -> int:
    """Every 2-D convolution on a batch of N > 1 (N, C, H, W) as N convolutions on (1, C, H, W)
    and a cat over dim 0: the same function (equal up to float rounding), in a form the Vulkan
    conv2d takes. A graph pass like converters/graph_rewrites.py's (a torch.export GraphModule
    in, the count out); it costs N conv nodes per conv, so lowering time grows with the frames."""
    import operator

    import torch

    aten = torch.ops.aten
    convs = (aten.conv2d.default, aten.convolution.default)
    count = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in convs:
            continue
        x = node.args[0]
        val = x.meta.get("val") if hasattr(x, "meta") else None
        if not isinstance(val, torch.Tensor) or val.dim() != 4 or not isinstance(val.shape[0], int):
            continue
        n = val.shape[0]
        if n == 1:
            continue
        g = gm.graph
        with g.inserting_before(node):
            parts = g.call_function(aten.split.Tensor, (x, 1, 0))
            outs = []
            for i in range(n):
                xi = g.call_function(operator.getitem, (parts, i))
                outs.append(g.call_function(node.target, (xi, *node.args[1:]), dict(node.kwargs)))
            new = g.call_function(aten.cat.default, (outs, 0))
        for made in [parts, *outs, new]:
            if "nn_module_stack" in node.meta:
                made.meta["nn_module_stack"] = node.meta["nn_module_stack"]
        new.meta["val"] = node.meta.get("val")
        node.replace_all_uses_with(new)
        g.erase_node(node)
        count += 1
    if count:
        gm.graph.lint()
        gm.recompile()
    return count


def rewritten(model, example_input):
    """(`model` with split_batched_conv2d applied, convs split), exported non-strict as the
    project's graph passes are; the model itself when no conv needs it."""
    import torch

    with torch.no_grad():
        gm = torch.export.export(model, (example_input,), strict=False).module()
    n = split_batched_conv2d(gm)
    return (gm, n) if n else (model, 0)


# ------------------------------------------------------------------------------------ lowering
def _op_name(node) -> str:
    from converters.compat.report import op_name

    return op_name(node)


def _is_op(node) -> bool:
    from converters.compat.report import is_compute

    return is_compute(node)


def _module_path(node) -> str:
    from converters.compat.report import where

    return where(node)


def _probe(exported_program, inner) -> dict[str, str]:
    """Node name -> why the Vulkan partitioner refuses it, asked of the partitioner's own
    operator-support check with the same limits (VulkanPartitioner.partition)."""
    import executorch.backends.vulkan.patterns as vk_patterns
    import executorch.backends.vulkan.utils as vk_utils
    from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanSupportedOperators

    options = inner.options
    if "texture_limits" in options:
        limits = options["texture_limits"]
    elif options.get("small_texture_limits", False):
        limits = vk_utils.SMALL_TEXTURE_LIMITS
    else:
        limits = vk_utils.DEFAULT_TEXTURE_LIMITS
    gm = exported_program.graph_module
    support = VulkanSupportedOperators(
        limits, options.get("buffer_limit", vk_utils.DEFAULT_BUFFER_LIMIT),
        require_dynamic_shape=options.get("require_dynamic_shapes", False),
        skip_bool_tensors=options.get("skip_bool_tensors", False),
        operator_blocklist=inner.operator_blocklist, operator_allowlist=inner.operator_allowlist,
        fusable_subgraphs=vk_patterns.get_all_fusable_subgraphs(gm),
        nn_module_blocklist=inner.nn_module_blocklist, nn_module_allowlist=inner.nn_module_allowlist)
    reasons: dict[str, str] = {}
    support.log_skip = lambda node, reason: reasons.setdefault(node.name, str(reason))
    for node in gm.graph.nodes:
        if node.op == "call_function":
            support.is_node_supported({}, node)
    return reasons


def _recording(inner):
    """`inner` (a VulkanPartitioner) that also keeps why it refused each node."""
    from executorch.exir.backend.partitioner import Partitioner

    class _Recording(Partitioner):
        def __init__(self):
            super().__init__()
            self.reasons: dict[str, str] = {}

        def ops_to_not_decompose(self, ep):
            return inner.ops_to_not_decompose(ep)

        def partition(self, exported_program):
            self.reasons = _probe(exported_program, inner)
            return inner.partition(exported_program)

    return _Recording()


def lower_program(model, example_input, *, force_fp16: bool = False):
    """The backend's one lowering (lower.py) with the Vulkan partitioner: (the edge program
    manager, why each refused node was refused, by node name)."""
    from converters.backends.executorch.lower import lower_program as lower_with

    with _root_logging():
        part = _recording(partitioner(force_fp16=force_fp16))
        edge, _ = lower_with(model, example_input, part)
    return edge, part.reasons


def delegation(graph_module) -> dict:
    """How much of the lowered graph the Vulkan delegate took: the backend's one summary."""
    from converters.backends.executorch.lower import delegation_summary

    return delegation_summary(graph_module)


def _why(op: str, nodes, reasons: dict[str, str]) -> str:
    base = op.rsplit(".", 1)[0] if op.count(".") >= 2 else op
    said = [r for r in dict.fromkeys(reasons.get(n.name, "") for n in nodes) if r]
    if base == "aten.convolution":
        batches = sorted({n.args[0].meta["val"].shape[0] for n in nodes
                          if "val" in n.args[0].meta and n.args[0].meta["val"].dim() == 4})
        if batches and batches != [1]:
            return (f"{_WHY[base]}; here the batch is {'/'.join(map(str, batches))} (frames folded "
                    "into the batch): split_batched_conv2d makes it one conv per frame")
    text = _WHY.get(base, "")
    if said:
        text = f"{text} (partitioner: {said[0]})" if text else f"partitioner: {', '.join(said[:3])}"
    return text or "supported, but left out of the Vulkan partitions"


def _ops_left(graph_module, reasons: dict[str, str]) -> list[dict]:
    groups: dict[str, list] = {}
    for node in graph_module.graph.nodes:
        if _is_op(node):
            groups.setdefault(_op_name(node), []).append(node)
    out = []
    for op, nodes in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        paths = list(dict.fromkeys(_module_path(n) for n in nodes))
        out.append({"op": op, "nodes": len(nodes), "why": _why(op, nodes, reasons),
                    "modules": paths[:10], "more_modules": max(0, len(paths) - 10)})
    return out


def _delegated_ops(graph_module) -> dict[str, int]:
    counts: Counter = Counter()
    for _, mod in graph_module.named_modules():
        original = getattr(mod, "original_module", None)  # a LoweredBackendModule's program
        if original is not None:
            counts.update(_op_name(n) for n in original.graph.nodes if _is_op(n))
    return dict(counts.most_common())


def partition_summary(model, example_input) -> dict:
    """What the Vulkan partitioner takes of `model` (as given: apply rewrites first):

    delegated_subgraphs, delegated_nodes, non_delegated_nodes, share (of compute nodes, no
    getitems), delegated_ops {op: nodes}, ops_left [{op, nodes, why, modules (module path and
    class, from nn_module_stack), more_modules}], suggested_rewrites, host_runtime (why the
    host cannot run it, or None), tool."""
    import importlib.metadata

    edge, reasons = lower_program(model, example_input)
    gm = edge.exported_program().graph_module
    summary = delegation(gm)
    left = _ops_left(gm, reasons)
    rewrites = ["split_batched_conv2d"] if any("split_batched_conv2d" in o["why"] for o in left) else []
    return {
        "tool": f"ExecuTorch {importlib.metadata.version('executorch')} VulkanPartitioner",
        "delegated_subgraphs": summary["delegated_subgraphs"],
        "delegated_nodes": summary["delegated_nodes"],
        "non_delegated_nodes": summary["non_delegated_nodes"],
        "share": summary["share"],
        "delegated_ops": _delegated_ops(gm),
        "ops_left": left,
        "suggested_rewrites": rewrites,
        "host_runtime": runtime_note(),
    }


def check(model, example_input, *, profile: bool = False):
    """partition_summary() as the compatibility check's TargetReport (converters.compat.report):
    one finding per op left to the CPU, with its module paths and the rewrite that fixes it;
    accelerated_share weighs ops by FLOPs. `profile` needs a runtime: there is none here."""
    import importlib.metadata

    from converters.compat.report import Finding, TargetReport, is_compute, node_flops, verdict_for

    edge, reasons = lower_program(model, example_input)
    gm = edge.exported_program().graph_module
    left = _ops_left(gm, reasons)
    left_nodes = [n for n in gm.graph.nodes if is_compute(n)]
    delegated_nodes = [n for _, mod in gm.named_modules() if getattr(mod, "original_module", None) is not None
                       for n in mod.original_module.graph.nodes if is_compute(n)]
    left_flops = sum(node_flops(n) for n in left_nodes)
    total_flops = left_flops + sum(node_flops(n) for n in delegated_nodes)
    from converters.graph_rewrites import fix_for

    by_op: dict[str, list] = {}
    for n in left_nodes:
        by_op.setdefault(_op_name(n), []).append(n)
    findings = []
    for o in left:
        fix = fix_for(o["op"], by_op.get(o["op"], ()), "vulkan")
        findings.append(Finding(op=o["op"], count=o["nodes"], modules=o["modules"], why=o["why"],
                                rewrite=f"`mobilekit check --fix` / {fix}" if fix else None,
                                placement="portable", fix=fix))
    n_total = len(left_nodes) + len(delegated_nodes)
    summary = delegation(gm)
    report = TargetReport(
        target="vulkan", verdict=verdict_for(findings),
        accelerated_share=round(1 - left_flops / total_flops, 4) if total_flops else None,
        share_basis="flops", op_share=round(len(delegated_nodes) / n_total, 4) if n_total else None,
        findings=findings, tool=f"ExecuTorch {importlib.metadata.version('executorch')} VulkanPartitioner")
    report.notes.append(f"{summary['delegated_subgraphs']} delegated subgraph(s); "
                        f"{len(delegated_nodes)} of {n_total} ops delegated")
    report.notes.append(f"not run here: running it {runtime_note() or HOST_REASON}"
                        + ("; no profile without a Vulkan runtime" if profile else ""))
    return report


def to_pte(model, example_input, path: Path, *, force_fp16: bool = False) -> dict:
    """Lower `model` for the Vulkan delegate and write the .pte to `path`; returns manifest
    extras: notes and the delegation figures."""
    from converters.backends.executorch.lower import write_program

    edge, _ = lower_program(model, example_input, force_fp16=force_fp16)
    summary = delegation(edge.exported_program().graph_module)
    if not summary["delegated_nodes"]:
        from mobilekit.errors import MobilekitError

        raise MobilekitError("the Vulkan partitioner took no op of this model",
                             "run `mobilekit check --target vulkan` to see why, or convert for xnnpack")
    with _root_logging():
        extras = write_program(edge, path)
    extras["delegation"] = summary
    return extras


def lower(job) -> dict:
    """The backend's lower(job): job.model, job.example_inputs (a streaming step's state too)
    -> job.path (a .pte)."""
    inputs = job.example_inputs
    return to_pte(job.model, inputs[0] if len(inputs) == 1 else inputs, job.path)


def pte_delegates(path: Path) -> list[str]:
    """The backend ids of the delegate blobs in a written .pte (its forward plan), read from
    the flatbuffer without a runtime: a Vulkan artifact holds at least one VulkanBackend."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(Path(path).read_bytes()).program
    return [d.id for plan in program.execution_plan for d in plan.delegates]


__all__ = ["BACKEND_ID", "COMPUTE_UNITS", "DELEGATE", "HOST_REASON", "TOOL", "check", "delegation", "lower",
           "lower_program", "partition_summary", "partitioner", "pte_delegates", "rewritten", "runtime_note",
           "split_batched_conv2d", "to_pte"]
