"""`onnx`: does the torch.onnx dynamo exporter take the model (ops that fail to export, with
the module path), and does ONNX Runtime's CPU provider have a kernel for every node."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import torch

from converters.compat.conversion import convert_or_report
from converters.compat.report import ACCELERATED, CANNOT_CONVERT, FALLBACKS, Finding, TargetReport

STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}


def check(model, example_input) -> TargetReport:
    import onnx
    import onnxruntime as ort

    tool = f"torch.onnx (dynamo) {torch.__version__.split('+')[0]} + onnxruntime {ort.__version__}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        _, failed = convert_or_report(model, example_input, "onnx", tool, path)
        if failed is not None:
            return failed
        proto = onnx.load(str(path))
        try:
            ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            return TargetReport(target="onnx", verdict=CANNOT_CONVERT, tool=tool, findings=[Finding(
                op="(session)", count=1, modules=[], why=f"onnxruntime cannot load it: {first[:300]}",
                placement="none")])
    nodes = list(proto.graph.node)
    for fn in proto.functions:  # onnxscript may keep functions; their bodies are what runs
        nodes += list(fn.node)
    counts = Counter((n.domain or "", n.op_type) for n in nodes)
    local = {(f.domain, f.name) for f in proto.functions}
    findings = [Finding(op=f"{dom}::{op}", count=n, modules=[], placement="custom",
                        why="an op outside the standard ONNX domains: runtimes other than ORT may lack it",
                        rewrite="replace the torch op it comes from")
                for (dom, op), n in counts.items() if dom not in STANDARD_DOMAINS and (dom, op) not in local]
    total = sum(n for key, n in counts.items() if key not in local)
    bad = sum(f.count for f in findings)
    share = round(1 - bad / total, 4) if total else None
    return TargetReport(target="onnx", verdict=FALLBACKS if findings else ACCELERATED, accelerated_share=share,
                        share_basis="ops", op_share=share, findings=findings, tool=tool)
