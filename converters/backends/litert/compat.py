"""`tflite`: builtin vs custom / Flex ops in the LiteRT flatbuffer litert-torch writes, and
the GPU delegate's compatibility from the LiteRT model analyzer (ai_edge_litert ships it as
`_pywrap_analyzer_wrapper.ModelAnalyzer`, the engine behind tf.lite.experimental.Analyzer).

Builtin ops run in the interpreter's CPU kernels (XNNPACK takes the float ones); a custom op
needs its kernel linked into the app, a Flex op the TensorFlow ops library (+ ~MBs).
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path

from converters.compat.conversion import convert_or_report
from converters.compat.report import ACCELERATED, CANNOT_CONVERT, FALLBACKS, Finding, TargetReport


def _op_names(path: Path) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    return [d["op_name"] for d in interp._get_ops_details()]


def _builtin_names() -> set[str]:
    from ai_edge_litert import schema_py_generated as schema

    return {k for k in vars(schema.BuiltinOperator) if k.isupper()}


def gpu_incompatible(path: Path) -> list[tuple[str, str]]:
    """(op, reason) for each op the LiteRT GPU delegate cannot take, from the model analyzer."""
    try:
        from ai_edge_litert import _pywrap_analyzer_wrapper as analyzer
    except ImportError:
        return []
    text = analyzer.ModelAnalyzer(str(path), True, True)
    found = []
    for line in text.splitlines():
        m = re.search(r"GPU COMPATIBILITY WARNING: (?:Not supported (?:op|custom op) )?(\w+)[:,]?\s*(.*)", line)
        if m:
            found.append((m.group(1), m.group(2).strip() or "not supported by the GPU delegate"))
    return found


def check(model, example_input) -> TargetReport:
    import importlib.metadata

    tool = f"litert-torch {importlib.metadata.version('litert-torch')}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        _, failed = convert_or_report(model, example_input, "tflite", tool, path)
        if failed is not None:
            return failed
        try:
            names = _op_names(path)
        except ValueError as e:  # converted, but the LiteRT runtime has no kernel for an op
            text = str(e)
            op = re.search(r"opcode '(\w+)'|custom op '?(\w+)", text)
            return TargetReport(target="tflite", verdict=CANNOT_CONVERT, tool=tool, findings=[Finding(
                op=(op.group(1) or op.group(2)) if op else "(runtime)", count=1, modules=[], placement="none",
                why=f"converts, but the LiteRT interpreter cannot load it: {text.splitlines()[0][:200]}",
                rewrite="replace the torch op it comes from (e.g. sort/topk) or use another target")])
        gpu = gpu_incompatible(path)
    builtin = _builtin_names()
    counts = Counter(names)
    findings = []
    for op, n in counts.items():
        if op in builtin:
            continue
        flex = op.startswith("Flex")
        findings.append(Finding(op=op, count=n, modules=[], placement="flex" if flex else "custom",
                                why=("a Flex (TensorFlow) op: the app must link the TF ops library"
                                     if flex else "a custom op: the app must register its kernel"),
                                rewrite="replace the torch op it comes from with builtin-friendly ops"))
    gpu_counts = Counter(op for op, _ in gpu)
    reasons = {op: r for op, r in gpu}
    for op, n in gpu_counts.items():
        findings.append(Finding(op=op, count=n, modules=[], placement="gpu-delegate", evidence="LiteRT analyzer",
                                severity="perf", why=f"GPU delegate: {reasons[op]} (runs on CPU with the GPU delegate)"))
    n_ok = sum(n for op, n in counts.items() if op in builtin)
    share = round(n_ok / len(names), 4) if names else None
    report = TargetReport(target="tflite", verdict=FALLBACKS if any(f.severity == "fallback" for f in findings)
                          else ACCELERATED, accelerated_share=share, share_basis="ops", op_share=share,
                          findings=findings, tool=tool + " + LiteRT analyzer")
    report.notes.append(f"{len(names)} ops, {len(counts)} kinds; builtin ops run on the CPU kernels "
                        f"(XNNPACK for float); GPU-delegate findings are warnings")
    return report
