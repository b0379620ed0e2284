"""`ptl`: does the model pass the torch.export gate, trace, freeze and save for the PyTorch Lite
interpreter, and does the lite interpreter load and run the file (it lacks some operators the
full runtime has). The converter exports first (lower.py), so a failure is
diagnosed like every other target's."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import torch

from converters.compat.conversion import as_args, convert_or_report
from converters.compat.report import ACCELERATED, CANNOT_CONVERT, Finding, TargetReport


def check(model, example_input) -> TargetReport:
    tool = f"torch.jit trace + lite interpreter {torch.__version__.split('+')[0]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.ptl"
        extras, failed = convert_or_report(model, example_input, "ptl", tool, path)
        if failed is not None:
            return failed
        try:
            from torch.jit.mobile import _load_for_lite_interpreter

            with torch.no_grad():
                _load_for_lite_interpreter(str(path))(*as_args(example_input))
        except Exception as e:
            text = str(e)
            op = re.search(r"(?:operator|Unknown builtin op:?)\s*[`']?([\w:.]+)", text)
            return TargetReport(target="ptl", verdict=CANNOT_CONVERT, tool=tool, findings=[Finding(
                op=op.group(1) if op else "(runtime)", count=1, modules=[], placement="none",
                why=f"the lite interpreter cannot run it: {text.splitlines()[0][:300] if text else type(e).__name__}",
                rewrite="use the xnnpack target (ExecuTorch), PyTorch Lite's successor")])
    report = TargetReport(target="ptl", verdict=ACCELERATED, accelerated_share=1.0, share_basis="ops", op_share=1.0,
                          tool=tool)
    if extras.get("optimize_for_mobile") == "unavailable":
        report.notes.append("runs on the lite interpreter's CPU kernels; optimize_for_mobile (XNNPACK "
                            "prepacking) is unavailable in this torch build")
    return report
