"""TorchScript for the PyTorch Lite interpreter (.ptl): `ptl`, the legacy Android path the
benchmark paper measured. No quantization schemes.

    lower.py     torch.export (a gate) -> trace -> freeze -> _save_for_lite_interpreter
    runtime.py   torch's own lite interpreter
    compat.py    the same conversion + one run
"""

from __future__ import annotations

from converters.backends.base import Backend, Target

BACKEND = Backend(
    name="torchscript", runtime="pytorch-lite", tools=(), runtime_modules=("torch.jit.mobile",),
    targets=(
        Target("ptl", "torchscript", "ptl", "pytorch-lite", "cpu", "fp32", None,
               "PyTorch Lite interpreter (legacy; what the benchmark paper used on Android)",
               rewrites=("freeze_weight_derived",), apps=("android",)),
    ),
)
