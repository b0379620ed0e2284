"""`xnnpack`: what ExecuTorch's real XNNPACK partitioner delegates, and what it leaves to the
portable kernels, op by op with the module path it comes from.

The model goes through the converter's own lowering (lower.py): its
rewrites (decompose_layer_norms), torch.export, to_edge_transform_and_lower(XnnpackPartitioner).
The partitioner says why it rejects a node through `WhyNoPartition` debug log records; they
are collected here and shown next to our notes on the op. Full delegation is a diagnostic,
not the goal: `profile=True` runs the .pte with ETDump and reports the Inspector's per-op p50.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch

from converters.compat.conversion import as_args
from converters.compat.report import (CANNOT_CONVERT, FindingGroups, TargetReport, is_compute, node_flops, op_name,
                                      verdict_for, where)
from converters.compat.rewrites import suggest_rewrite
from converters.graph_rewrites import fix_for
from converters.source import model_module_name
from mobilekit.errors import MobilekitError

TOOL = "ExecuTorch XnnpackPartitioner"

# Why an op stays on portable kernels, measured with executorch 1.5.1 and the
# partitioner's configs (executorch/backends/xnnpack/partition/config/*.py). The partitioner's own
# reason, where it logs one, is appended.
_WHY = {
    "aten.convolution": "a 5-D (3D) convolution: XNNPACK has no conv3d, nor do the portable kernels' fast paths",
    "aten.native_layer_norm": "XNNPACK 1.5.1 never delegates native_layer_norm",
    "aten.topk": "no XNNPACK kernel for topk (data-dependent selection)",
    "aten.sort": "no XNNPACK kernel for sort",
    "aten.gather": "no XNNPACK kernel for gather (data-dependent indexing)",
    "aten.index": "no XNNPACK kernel for advanced indexing",
    "aten.expand_copy": "XNNPACK has no broadcast-copy; comes from expand/broadcasting (e.g. a 4-D matmul)",
    "aten.select_copy": "XNNPACK does not delegate select (x[:, i]); a slice + reshape delegates",
    "aten.alias_copy": "a no-op view XNNPACK does not delegate",
    "aten._adaptive_avg_pool2d": "adaptive average pooling with output size > 1",
    "aten.mean": "only a keepdim 4-D mean over dims (2, 3) is delegated",
    "aten.var": "no XNNPACK kernel for var / std",
    "aten.cumsum": "no XNNPACK kernel for cumsum",
    "aten.any": "no XNNPACK kernel (attention-mask leftovers of SDPA / MultiheadAttention)",
    "aten.eq": "no XNNPACK kernel for comparisons (mask leftovers)",
    "aten.ge": "no XNNPACK kernel for comparisons",
    "aten.logical_not": "no XNNPACK kernel (mask leftovers of SDPA / MultiheadAttention)",
    "aten.where": "no XNNPACK kernel for where (mask leftovers)",
    "aten.full_like": "constant creation is not delegated (mask leftovers)",
    "aten.arange": "constant creation is not delegated",
    "aten.split_with_sizes_copy": "split is not delegated; static slices are",
    "aten._native_batch_norm_legit_no_training": "batch norm on a rank-5 input (BatchNorm3d) or not next to a conv",
    "aten.avg_pool3d": "no 3-D pooling in XNNPACK",
    "aten._softmax": "XNNPACK takes softmax over the last dim only",
    "aten.max_pool3d_with_indices": "no 3-D pooling in XNNPACK",
    "aten.unsqueeze_copy": "left over between non-delegated ops (follows its neighbours)",
    "dim_order_ops._to_dim_order_copy": "a dtype/layout copy next to non-delegated ops",
}


def _base(name: str) -> str:
    return name.rsplit(".", 1)[0] if name.count(".") >= 2 else name


def why_not(op: str, partitioner_reasons: list[str]) -> str:
    text = _WHY.get(_base(op), "no XNNPACK partitioner config takes this op in ExecuTorch 1.5.1")
    reasons = [r for r in dict.fromkeys(partitioner_reasons) if r]
    if reasons:
        text += f" (partitioner: {reasons[0].rstrip('.')})"
    return text


def _delegated_nodes(graph_module) -> list[torch.fx.Node]:
    """The compute nodes inside every lowered (delegated) submodule."""
    nodes = []
    for _, mod in graph_module.named_modules():
        original = getattr(mod, "original_module", None)  # LoweredBackendModule keeps the program
        if original is not None:
            nodes += [n for n in original.graph.nodes if is_compute(n)]
    return nodes


def lower(model: torch.nn.Module, example_input: torch.Tensor, etrecord: bool = False):
    """The converter's own lowering (lower.py) with the XNNPACK partitioner.
    Returns (edge program manager, partitioner reasons by node name)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    from converters.backends.executorch.lower import lower_program

    return lower_program(model, example_input, XnnpackPartitioner(), etrecord=etrecord)


def check(model: torch.nn.Module, example_input: torch.Tensor, profile: bool = False,
          profile_runs: int = 10, run: bool = True) -> TargetReport:
    """`model` is a private copy with the converter's and the user's rewrites already applied.
    With `run`, the program also runs once on the host: ops the partitioner leaves behind can
    still fail there (the portable convolution takes 3-D/4-D inputs only)."""
    edge, reasons = lower(model, example_input, etrecord=profile)
    gm = edge.exported_program().graph_module
    left = [n for n in gm.graph.nodes if is_compute(n)]
    delegated = _delegated_nodes(gm)
    left_flops = sum(node_flops(n) for n in left)
    total_flops = left_flops + sum(node_flops(n) for n in delegated)
    groups = FindingGroups(total_flops)
    for n in left:
        groups.add(op_name(n), n)
    findings = groups.findings(
        why=lambda op, nodes: why_not(op, [reasons.get(n.name, "") for n in nodes]),
        rewrite=lambda op, nodes: suggest_rewrite("xnnpack", op, nodes),
        fix=fix_for, placement="portable")
    n_total = len(left) + len(delegated)
    report = TargetReport(
        target="xnnpack", verdict=verdict_for(findings),
        accelerated_share=round(1 - left_flops / total_flops, 4) if total_flops else None,
        share_basis="flops", op_share=round(len(delegated) / n_total, 4) if n_total else None,
        findings=findings, tool="ExecuTorch XnnpackPartitioner (get_delegation_info)")
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(gm)
    report.notes.append(f"{info.num_delegated_subgraphs} delegated subgraph(s); "
                        f"{len(delegated)} of {n_total} ops delegated")
    program = None
    if run or profile:
        with torch.no_grad():  # out-variant kernels refuse tensors that require grad (cumsum.out)
            program = edge.to_executorch()   # once: a second call fails in memory planning
    failure = run_once(program.buffer, example_input) if run else None
    if failure:
        # Lowered, but the portable kernels reject what was left to them (e.g. a 5-D conv):
        # the .pte fails on the device as it does here.
        report.verdict = CANNOT_CONVERT
        op, message = failure
        for f in report.findings:
            if op and _base(f.op) == _base(op):
                f.why += f"; the .pte fails at run time here: {message}"
        if not any(op and _base(f.op) == _base(op) for f in report.findings):
            report.notes.append(f"the .pte fails at run time on the host: {message}")
    elif profile:
        report.profile = profile_program(program, example_input, profile_runs)
    return report


def run_once(buffer: bytes, example_input: torch.Tensor) -> tuple[str | None, str] | None:
    """Run the lowered program once on the host runtime; None if it runs, else (the failing
    operator as aten.<name>, the runtime's message)."""
    import re

    from executorch.runtime import Runtime

    from converters.job import quiet
    from converters.backends.executorch.runtime import OPERATOR_MISSING, executorch_error_code, missing_operators

    with quiet() as log:
        try:
            Runtime.get().load_program(buffer).load_method("forward").execute(list(as_args(example_input)))
            return None
        except Exception as e:  # the runtime raises RuntimeError with an error code only
            error = e
    text = log.getvalue()
    missing = missing_operators(text)
    if missing or executorch_error_code(error) == OPERATOR_MISSING:
        # "aten::avg_pool3d.out" -> "aten.avg_pool3d", as the findings name ops
        name = missing[0].split(".")[0].replace("::", ".") if missing else None
        return name, (f"{', '.join(missing) or 'an operator'} has no kernel in the ExecuTorch runtime "
                      "(error 0x14, OperatorMissing)")
    op = re.search(r"in operator (\w+::\w+)", text)
    check = re.search(r"Check failed \(.*?\): (.*)", text)
    name = op.group(1).replace("::", ".") if op else None
    detail = check.group(1).strip() if check else str(error)
    return name, f"{name or 'an operator'}: {detail}"


def profile_program(program, example_input: torch.Tensor, runs: int = 10) -> list[dict]:
    """Run the lowered program on the host with ETDump; the Inspector's per-op p50 (ms), the
    delegated (XNNPACK) or portable flag and the module path, slowest first."""
    with tempfile.TemporaryDirectory() as tmp:
        pte, etrecord = Path(tmp) / "model.pte", Path(tmp) / "etrecord.bin"
        pte.write_bytes(program.buffer)
        program.get_etrecord().save(str(etrecord))
        return profile_pte(pte, example_input, runs, etrecord)


def profile_pte(pte: Path, example_input: torch.Tensor, runs: int = 10, etrecord: Path | None = None,
                debug_buffer_size: int = 0) -> list[dict]:
    """profile_program for a .pte file. Without its ETRecord the rows have the XNNPACK
    operator names (e.g. "Convolution (NHWC, QC8) DWConv #3") but no module paths.

    ETDump records timings only: `debug_buffer_size` 0 stores no intermediate outputs, which
    timing does not need (a fixed 16 MB buffer made the runtime abort on vlf_b0 at 16x224).
    The program runs in a child process, so a runtime that aborts ends the child, not the
    caller: its signal becomes a MobilekitError naming the runtime's reason."""
    import subprocess
    import sys

    from executorch.devtools import Inspector

    with tempfile.TemporaryDirectory() as tmp:
        etdump, example = Path(tmp) / "etdump.etdp", Path(tmp) / "input.pt"
        torch.save(example_input.detach().contiguous(), example)
        child = Path(__file__).with_name("etdump.py")
        # -P: the script's folder (onnx.py, coreml.py, ...) must not shadow the real packages
        proc = subprocess.run([sys.executable, "-P", str(child), str(pte), str(example), str(etdump), str(runs),
                               str(debug_buffer_size)], capture_output=True, text=True)
        if proc.returncode != 0 or not etdump.is_file():
            raise profile_failure(Path(pte), proc.returncode, proc.stderr)
        with warnings.catch_warnings():  # tensor values were not asked for, only timings
            warnings.simplefilter("ignore")
            inspector = Inspector(etdump_path=str(etdump), etrecord=str(etrecord) if etrecord else None)
            frame = inspector.to_dataframe()
    rows = []
    for _, r in frame.iterrows():
        name = str(r.get("event_name", ""))
        if name.startswith(("Method::", "Program::")):  # whole-method / load events, not ops
            continue
        p50 = r.get("p50 (ms)")
        if p50 is None or p50 != p50:  # NaN: no timing for this event
            continue
        ops = r.get("op_types")
        rows.append({"event": name, "p50_ms": float(p50), "delegated": bool(r.get("is_delegated_op")),
                     "delegate": r.get("delegate_backend_name") or None,
                     "ops": [str(o) for o in ops] if isinstance(ops, (list, tuple)) else [],
                     "module": _hierarchy_path(r.get("module_hierarchy"))})
    return sorted(rows, key=lambda r: -r["p50_ms"])


def profile_failure(pte: Path, returncode: int, log: str) -> MobilekitError:
    """The profiling child's end as one line: a signal (a native abort in the runtime) with the
    runtime's last log lines as the reason, or the Python error it raised."""
    import re
    import signal

    from converters.backends.executorch.runtime import OPERATOR_MISSING, executorch_error_code, missing_operators, \
        operator_missing_error

    lines = [line.strip() for line in log.splitlines() if line.strip()]
    if executorch_error_code(log) == OPERATOR_MISSING or missing_operators(log):
        return operator_missing_error(pte, missing_operators(log, pte))
    if returncode < 0:
        try:
            how = signal.Signals(-returncode).name
        except ValueError:
            how = f"signal {-returncode}"
        # ExecuTorch logs "[file.cpp:47] message" before it aborts; those lines are the reason.
        said = [re.sub(r"^\[[\w.]+:\d+\]\s*", "", line).rstrip(".") for line in lines
                if re.match(r"^\[[\w.]+:\d+\]", line)]
        said = [line for line in said if not line.startswith(("Reading file", "Failed to open midr", "CPU info"))]
        reason = "; ".join(said[-2:]) or "no message from the runtime"
        if "Ran out of space" in reason:
            fix = ("profile with timings only (debug_buffer_size=0, what `mobilekit check --profile` "
                   "uses) or a smaller input (--frames/--size)")
        else:
            fix = ("check it without --profile, or with a smaller input (--frames/--size); if it "
                   "still aborts, report the model with the .pte")
        return MobilekitError(f"the ExecuTorch runtime aborted ({how}) while profiling {pte.name}: {reason}", fix)
    last = next((line for line in reversed(lines) if not line.startswith(("File ", "^", "~"))), "")
    return MobilekitError(f"profiling {pte.name} on the ExecuTorch runtime failed: {last[:300] or f'exit {returncode}'}",
                          "check it without --profile to see which operator fails")


def _hierarchy_path(hierarchy) -> str:
    """The module an Inspector row's module_hierarchy points to: the innermost path of an
    nn_module_stack; for the Inspector's {node name: nn_module_stack} (one entry per op of
    the event), the module that holds all of them ("" for a delegate call of the whole model)."""
    if isinstance(hierarchy, str):
        import ast

        try:
            hierarchy = ast.literal_eval(hierarchy)
        except (ValueError, SyntaxError):
            return ""
    if isinstance(hierarchy, list):
        hierarchy = hierarchy[0] if hierarchy else None
    if isinstance(hierarchy, dict) and hierarchy:
        last = list(hierarchy.values())[-1]
        if isinstance(last, dict):  # {node name: nn_module_stack}
            paths = [_hierarchy_path(stack).split(".") for stack in hierarchy.values()]
            common = []
            for parts in zip(*paths):
                if len(set(parts)) > 1:
                    break
                common.append(parts[0])
            return ".".join(common)
        path = last[0] if isinstance(last, (tuple, list)) else last
        return model_module_name(str(path).removeprefix("L['self']."))
    return ""


__all__ = ["check", "lower", "profile_failure", "profile_program", "profile_pte", "why_not", "where"]
