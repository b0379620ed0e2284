"""Shared by the checks that are a real conversion (tflite, ptl, onnx): run the converter's
own code on a private copy to a temporary file; a failure becomes a `cannot convert` report
naming the op and its module path (converters/diagnose.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from converters.compat.report import CANNOT_CONVERT, Finding, TargetReport


def as_args(example_input) -> tuple:
    """A check's example input as call arguments: a tensor, or a tuple of them for a program
    of several inputs (a streaming step: the frame, then its state)."""
    return tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)


def input_names(model, n: int) -> list[str]:
    """The names of a program's n inputs as its forward names them (LiteRT feeds them by
    keyword); input_<i> where the signature does not say."""
    import inspect

    params = [p.name for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return params[:n] if len(params) >= n else [f"input_{i}" for i in range(n)]


def run_converter(model, example_input, target: str, path: Path) -> dict:
    from converters.backends import backend_of, get_target
    from converters.job import ConversionJob, quiet
    from converters.source import INPUT_NAME

    tgt = get_target(target)
    args = as_args(example_input)
    with torch.no_grad():
        n_out = len(model(*args))
    job = ConversionJob(model=copy.deepcopy(model), example_input=args[0], target=tgt, path=path,
                        input_name=INPUT_NAME, output_names=[f"output_{i}" for i in range(n_out)],
                        extra_inputs=args[1:], extra_input_names=input_names(model, len(args))[1:])
    with quiet():
        return backend_of(tgt).lower(job) or {}


def convert_or_report(model, example_input, target: str, tool: str, path: Path) -> tuple[dict | None,
                                                                                     TargetReport | None]:
    """The converter's own code to `path`: (its extras, None), or (None, the `cannot convert`
    report naming the op) when it fails."""
    try:
        return run_converter(model, example_input, target, path), None
    except Exception as e:
        return None, failure_report(e, model, example_input, target, tool)


def failure_report(exc: BaseException, model, example_input, target: str, tool: str) -> TargetReport:
    from converters.diagnose import unsupported_op_error
    from converters.job import quiet

    with quiet():
        err = unsupported_op_error(exc, model, example_input, target, [])
    return TargetReport(target=target, verdict=CANNOT_CONVERT, findings=[conversion_finding(err, type(exc).__name__)],
                        tool=tool)


def conversion_finding(err, unnamed: str, rewrite: str = "replace that op in the model, or use another target") \
        -> Finding:
    """The finding for a diagnosed conversion failure (a converters.diagnose.ConversionError, its
    facts read as data); `unnamed` stands for the op when the tool named none."""
    from converters.graph_rewrites import fix_for

    return Finding(op=err.op or unnamed, count=1, modules=err.modules, why=err.problem, rewrite=rewrite,
                   placement="none", fix=fix_for(err.op) if err.op else None)
