"""`ptl`: TorchScript for the PyTorch Lite interpreter (legacy; the benchmark paper's Android path).

torch.export (a gate only) -> trace -> freeze -> optimize_for_mobile (only where this torch
build has XNNPACK; the CPU build used here does not) -> _save_for_lite_interpreter.

torch.jit.trace records the branch the example input took through data-dependent Python
control flow (`if x.sum() > 0:`) and saves that one silently; torch.export refuses such a
model. Exporting first makes ptl refuse exactly what every other target refuses, with the
same one-line error (converters/diagnose.py).
"""

from __future__ import annotations

import torch

from converters.job import ConversionJob


def xnnpack_available() -> bool:
    import torch.backends.xnnpack

    return bool(torch.backends.xnnpack.enabled)


def lower(job: ConversionJob) -> dict:
    notes = []
    with torch.no_grad():
        torch.export.export(job.model, job.example_inputs, strict=False)  # the gate; raises
        traced = torch.jit.trace(job.model, job.example_inputs, strict=False)
        frozen = torch.jit.freeze(traced.eval())
    if xnnpack_available():
        from torch.utils.mobile_optimizer import optimize_for_mobile

        frozen = optimize_for_mobile(frozen)
        optimize = "used"
    else:
        optimize = "unavailable"
        notes.append("optimize_for_mobile skipped: this torch build has no XNNPACK")
    frozen._save_for_lite_interpreter(str(job.path))
    return {"notes": notes, "optimize_for_mobile": optimize}
