"""Shared by the checks that are a real conversion (tflite, ptl, onnx): run the converter's
own code on a private copy to a temporary file; a failure becomes a `cannot convert` report
naming the op and its module path (converters/diagnose.py)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import torch

from converters.compat.report import CANNOT_CONVERT, Finding, TargetReport


def run_converter(model, example_input, target: str, path: Path) -> dict:
    from converters.backends import backend_of, get_target
    from converters.job import ConversionJob, quiet
    from converters.source import INPUT_NAME

    tgt = get_target(target)
    with torch.no_grad():
        n_out = len(model(example_input))
    job = ConversionJob(model=copy.deepcopy(model), example_input=example_input, target=tgt, path=path,
                        input_name=INPUT_NAME, output_names=[f"output_{i}" for i in range(n_out)])
    with quiet():
        return backend_of(tgt).lower(job) or {}


def failure_report(exc: BaseException, model, example_input, target: str, tool: str) -> TargetReport:
    from converters.diagnose import unsupported_op_error
    from converters.job import quiet

    with quiet():
        err = unsupported_op_error(exc, model, example_input, target, [])
    m = re.search(r"cannot convert op (\S+)(?: in `([^`]*)` \((\w+)\))?", err.problem)
    finding = Finding(op=m.group(1) if m else type(exc).__name__, count=1,
                      modules=[f"{m.group(2)} ({m.group(3)})"] if m and m.group(2) else [],
                      why=err.problem, rewrite="replace that op in the model, or use another target",
                      placement="none")
    return TargetReport(target=target, verdict=CANNOT_CONVERT, findings=[finding], tool=tool)
