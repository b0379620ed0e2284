"""`ane`, `coreml-gpu`, `coreml-cpu`: whether coremltools converts the model, and, for the
Neural Engine, rules from Apple's guidance checked on the converted ML program.

What is certain: conversion (an op coremltools cannot convert is "cannot convert", with its
module path). What is a heuristic: where Core ML will run each op. Only Core ML itself decides
that, on the device; on macOS `MLComputePlan` reports its plan per op and is used here instead
of the rules. On Linux the rules below are labelled `heuristic` in every report.
"""

from __future__ import annotations

import platform
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

from converters.compat.conversion import as_args
from converters.compat.report import ACCELERATED, CANNOT_CONVERT, FALLBACKS, Finding, TargetReport, where
from converters.graph_rewrites import fix_for

# --- ANE rules (heuristics). Sources:
# [A] Apple, "Deploying Transformers on the Apple Neural Engine" (2022) and
#     github.com/apple/ml-ane-transformers: (B, C, 1, S) layout, 1x1 conv instead of Linear,
#     avoid reshapes/transposes that move the last (contiguous, 64-byte aligned) axis.
# [H] github.com/hollance/neural-engine, "Unsupported layers" and "Model surgery": tensors of
#     rank > 5 and dimensions > 16384 run off the ANE; gather/embedding lookups, RNN/LSTM/GRU,
#     custom layers, dilated/3-D convolutions and some pooling variants fall back to GPU/CPU.
# [C] coremltools guide "Typed Execution" / "Flexible input shapes": fp16 compute on ANE/GPU
#     (max 65504: sums of squares and exp overflow), and flexible shapes (ranges) are not
#     ANE-resident - enumerated shapes are.
MAX_RANK = 5          # [H]
MAX_DIM = 16384       # [H]
OFF_ANE_OPS = {       # [H]: MIL op types that run off the Neural Engine
    "gather": "gather / embedding lookup", "gather_nd": "gather", "gather_along_axis": "gather",
    "scatter": "scatter", "scatter_nd": "scatter", "scatter_along_axis": "scatter",
    "topk": "top-k (data-dependent selection)", "argsort": "sort", "non_zero": "data-dependent shape",
    "lstm": "RNN", "gru": "RNN", "rnn": "RNN", "cumsum": "cumulative sum",
    "custom_op": "custom layer",
}
RANK5_OFF_ANE = {"conv": "3-D convolution", "conv_transpose": "3-D transposed convolution",
                 "avg_pool": "3-D pooling", "max_pool": "3-D pooling"}   # [H] "some 3D ops"
FP16_RISK_OPS = {"reduce_sum_square", "reduce_l2_norm", "pow", "exp"}   # [C]
FP16_LONG_REDUCTION = 4096   # [C]: a softmax / norm / sum over this many fp16 values may overflow
def _precision(target: str) -> str:
    from converters.backends import get_target

    return get_target(target).precision


def _mil_ops(spec) -> list:
    """Every MIL operation of the main function, nested blocks included."""
    fn = spec.mlProgram.functions["main"]
    block = fn.block_specializations[fn.opset] if fn.opset in fn.block_specializations else \
        next(iter(fn.block_specializations.values()))
    ops, stack = [], [block]
    while stack:
        b = stack.pop()
        for op in b.operations:
            ops.append(op)
            stack.extend(op.blocks)
    return ops


def _out_shapes(op) -> list[list[int]]:
    shapes = []
    for o in op.outputs:
        t = o.type.tensorType
        dims = [d.constant.size if d.WhichOneof("dimension") == "constant" else -1 for d in t.dimensions]
        shapes.append(dims)
    return shapes


def _in_shape(op, shapes_by_name: dict) -> list[int] | None:
    arg = op.inputs.get("x")
    if arg is None or not arg.arguments:
        return None
    return shapes_by_name.get(arg.arguments[0].name)


def _node_index(exported) -> dict[str, torch.fx.Node]:
    return {n.name: n for n in exported.graph.nodes if n.op == "call_function"}


def _locate(mil_name: str, nodes: dict[str, torch.fx.Node]) -> torch.fx.Node | None:
    """coremltools names a MIL op after the fx node it came from plus suffixes
    (topk -> topk_cast_fp16_cast_int16_0): the longest `_`-prefix that names a node."""
    parts = mil_name.split("_")
    for i in range(len(parts), 0, -1):
        node = nodes.get("_".join(parts[:i]))
        if node is not None:
            return node
    return None


def convert_for_check(model, example_input, target: str, path: Path):
    """Convert with the converter's own code (lower.py) to `path`."""
    from converters.backends import get_target
    from converters.backends.coreml.lower import lower
    from converters.job import ConversionJob, quiet
    from converters.source import INPUT_NAME

    args = as_args(example_input)
    with torch.no_grad():
        n_out = len(model(*args))
    job = ConversionJob(model=model, example_input=args[0], target=get_target(target), path=path,
                        input_name=INPUT_NAME, output_names=[f"output_{i}" for i in range(n_out)],
                        extra_inputs=args[1:], extra_input_names=[f"input_{i}" for i in range(1, len(args))])
    with quiet():
        lower(job)


def check(model, example_input, targets: list[str], cache: dict | None = None) -> list[TargetReport]:
    """One report per Core ML target in `targets`. Conversion runs once per precision (fp16 for
    ane and coreml-gpu, fp32 for coreml-cpu); `cache` keeps the results between calls."""
    import coremltools as ct

    from converters.compat.conversion import conversion_finding
    from converters.diagnose import unsupported_op_error

    cache = cache if cache is not None else {}
    reports = []
    with torch.no_grad():
        exported = torch.export.export(model, as_args(example_input)).run_decompositions({})
    nodes = _node_index(exported)
    with tempfile.TemporaryDirectory() as tmp:
        for target in targets:
            precision = _precision(target)
            if precision not in cache:
                path = Path(tmp) / f"{precision}.mlpackage"
                try:
                    convert_for_check(model, example_input, target, path)
                    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
                    cache[precision] = ("ok", spec, path)
                except Exception as e:
                    cache[precision] = ("error", unsupported_op_error(e, model, example_input, target, []), None)
            status, spec, path = cache[precision]
            if status == "error":
                err = spec.for_target(target)  # the conversion is shared between Core ML targets
                finding = conversion_finding(err, "?", rewrite="replace the op, or convert to another target")
                reports.append(TargetReport(target=target, verdict=CANNOT_CONVERT, findings=[finding],
                                            tool=f"coremltools {ct.__version__}"))
                continue
            reports.append(_placement_report(target, spec, path, nodes, ct.__version__))
    return reports


def _placement_report(target: str, spec, path, nodes, ct_version: str) -> TargetReport:
    ops = [op for op in _mil_ops(spec) if op.type not in ("const",)]
    if platform.system() == "Darwin" and path is not None and target != "coreml-cpu":
        try:
            return _compute_plan_report(target, path, ops, nodes)
        except Exception as e:  # an older macOS without MLComputePlan: fall back to the rules
            note = f"MLComputePlan unavailable ({type(e).__name__}: {e}); heuristics used"
        else:
            note = ""
    else:
        note = ""
    report = TargetReport(target=target, verdict=ACCELERATED, share_basis="ops",
                          tool=f"coremltools {ct_version} conversion" + (" + ANE heuristics" if target == "ane" else ""))
    if note:
        report.notes.append(note)
    findings = _rules(target, spec, ops, nodes)
    off = {id(op) for f in findings if f.severity == "fallback" for op in getattr(f, "_ops", [])}
    report.findings = findings
    report.op_share = round(1 - len(off) / len(ops), 4) if ops else None
    report.accelerated_share = report.op_share
    if any(f.severity == "fallback" for f in findings):
        report.verdict = FALLBACKS
    if target == "ane":
        report.notes.append("ANE placement is a heuristic on Linux (rules from Apple's ANE guidance; "
                            "MLComputePlan on macOS gives the real plan)")
    elif target == "coreml-gpu":
        report.notes.append("GPU placement is not checked on Linux: conversion and fp16 risks only")
    for f in findings:
        f.__dict__.pop("_ops", None)
    return report


def _add(groups, key, op, nodes, **info):
    g = groups.setdefault(key, {"ops": [], "nodes": [], **info})
    g["ops"].append(op)
    node = _locate(op.outputs[0].name if op.outputs else "", nodes)
    if node is not None:
        g["nodes"].append(node)


def _rules(target: str, spec, ops, nodes) -> list[Finding]:
    """The ANE rules (ane), fp16 overflow risks (ane, coreml-gpu), dynamic shapes (all)."""
    groups: dict[tuple, dict] = {}
    shapes_by_name = {o.name: s for op in ops for o, s in zip(op.outputs, _out_shapes(op))}
    for op in ops:
        shapes = _out_shapes(op)
        if target == "ane":
            if op.type in OFF_ANE_OPS:
                _add(groups, ("fallback", op.type), op, nodes, why=f"{OFF_ANE_OPS[op.type]} runs off the ANE [H]",
                     rewrite=_REWRITE.get(op.type))
            in_shape = _in_shape(op, shapes_by_name)
            if op.type in RANK5_OFF_ANE and in_shape is not None and len(in_shape) == 5:
                _add(groups, ("fallback", op.type + " (5-D)"), op, nodes,
                     why=f"{RANK5_OFF_ANE[op.type]} runs off the ANE [H]",
                     rewrite=_fix_advice(target, op.type + " (5-D)") or "fold time into the batch or channels")
            if any(len(s) > MAX_RANK for s in shapes):
                _add(groups, ("fallback", op.type + " (rank>5)"), op, nodes,
                     why=f"a tensor of rank > {MAX_RANK} [H]", rewrite="keep tensors at rank <= 5 (fold dims)")
            if any(d > MAX_DIM for s in shapes for d in s):
                _add(groups, ("fallback", op.type + " (dim>16384)"), op, nodes,
                     why=f"a dimension > {MAX_DIM} [H]", rewrite="split the long axis (e.g. tokens) into chunks")
            if op.type == "transpose":
                _add(groups, ("perf", "transpose"), op, nodes,
                     why="layout change on the ANE costs a copy; prefer (B, C, 1, S) throughout [A]",
                     rewrite="keep channels in dim 1 (B, C, 1, S) and avoid permutes [A]")
            if op.type == "linear":
                _add(groups, ("perf", "linear"), op, nodes,
                     why="Linear on (B, S, C) forces transposes around it on the ANE [A]",
                     rewrite="1x1 conv2d on (B, C, 1, S) (ml-ane-transformers) [A]")
        if target in ("ane", "coreml-gpu"):
            if op.type in FP16_RISK_OPS:
                _add(groups, ("numeric", op.type), op, nodes,
                     why="fp16 overflow risk: squares / exp of unbounded activations exceed 65504 [C]",
                     rewrite="clamp before, or normalise (x / max|x|) first; coreml-cpu runs fp32")
            in_shape = _in_shape(op, shapes_by_name)
            if op.type in ("softmax", "layer_norm", "reduce_sum", "reduce_mean") and in_shape and \
                    max(in_shape) >= FP16_LONG_REDUCTION:
                _add(groups, ("numeric", op.type + " (long)"), op, nodes,
                     why=f"fp16 reduction over >= {FP16_LONG_REDUCTION} values may overflow or lose precision [C]",
                     rewrite="reduce in chunks, or subtract the max / scale first")
        if any(d < 0 for s in shapes for d in s):
            _add(groups, ("fallback", op.type + " (dynamic)"), op, nodes,
                 why="dynamic (flexible) shape: ranges run off the ANE, and slow everywhere [C]",
                 rewrite="export with static shapes (the zoo does), or enumerated shapes")
    findings = []
    for (severity, key), g in groups.items():
        paths = list(dict.fromkeys(where(n) for n in g["nodes"]))
        f = Finding(op=key, count=len(g["ops"]), modules=paths, why=g["why"], rewrite=g.get("rewrite"),
                    placement="cpu/gpu" if severity == "fallback" else "ane", evidence="heuristic",
                    severity=severity, fix=fix_for(key, g["nodes"]) if severity == "fallback" else None)
        f.__dict__["_ops"] = g["ops"]
        findings.append(f)
    findings.sort(key=lambda f: (f.severity != "fallback", -f.count))
    return findings


def _fix_advice(target: str, key: str) -> str | None:
    from converters.compat.rewrites import fix_advice

    name = fix_for(key)
    return fix_advice(target, name) if name else None


_REWRITE = {
    "gather": "static slices + cat where the indices are fixed; else accept the CPU hop",
    "gather_along_axis": "static slices + cat where the indices are fixed; else accept the CPU hop",
    "topk": "no ANE equivalent; a fixed frame selection avoids it",
    "cumsum": "matmul with a lower-triangular ones matrix",
}


def _compute_plan_report(target: str, path: Path, ops, nodes) -> TargetReport:
    """macOS: Core ML's own plan per MIL op (coremltools.models.compute_plan.MLComputePlan)."""
    import coremltools as ct
    from coremltools.models.compute_plan import MLComputePlan

    from converters.backends import get_target
    from converters.backends.coreml.lower import compute_unit

    units = compute_unit(ct, get_target(target).compute_units)
    want = "MLNeuralEngineComputeDevice" if target == "ane" else "MLGPUComputeDevice"
    compiled = ct.models.MLModel(str(path), compute_units=units).get_compiled_model_path()
    plan = MLComputePlan.load_from_path(path=compiled, compute_units=units)
    main = plan.model_structure.program.functions["main"]
    off: dict[str, dict] = defaultdict(lambda: {"count": 0, "nodes": [], "device": ""})
    total = kept = 0
    for op in main.block.operations:
        if op.operator_name == "const":
            continue
        total += 1
        usage = plan.get_compute_device_usage_for_mlprogram_operation(op)
        device = type(usage.preferred_compute_device).__name__ if usage else "unknown"
        if device == want:
            kept += 1
            continue
        g = off[op.operator_name]
        g["count"] += 1
        g["device"] = device.removeprefix("ML").removesuffix("ComputeDevice")
        node = _locate(op.outputs[0].name if op.outputs else "", nodes)
        if node is not None:
            g["nodes"].append(node)
    findings = [Finding(op=name, count=g["count"], modules=list(dict.fromkeys(where(n) for n in g["nodes"])),
                        why=f"MLComputePlan places it on {g['device']}", placement=g["device"].lower(),
                        evidence="MLComputePlan", rewrite=_REWRITE.get(name))
                for name, g in sorted(off.items(), key=lambda kv: -kv[1]["count"])]
    share = round(kept / total, 4) if total else None
    return TargetReport(target=target, verdict=FALLBACKS if findings else ACCELERATED, accelerated_share=share,
                        share_basis="ops", op_share=share, findings=findings,
                        tool=f"coremltools {ct.__version__} MLComputePlan")
