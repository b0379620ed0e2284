"""ONNX (.onnx) for ONNX Runtime: `onnx`, the reference and desktop target.

    lower.py     the torch.onnx dynamo exporter
    runtime.py   onnxruntime's CPU execution provider
    compat.py    export + a session; ops ONNX Runtime's CPU provider lacks
    quantize.py  onnxruntime.quantization (static QDQ, dynamic)
"""

from __future__ import annotations

from converters.backends.base import Backend, Scheme, Target

_SCHEMES = (
    Scheme("int8", "onnxruntime.quantization quantize_static (QDQ)", True, "int8",
           "static int8 QDQ, per-channel weights, activation ranges calibrated on clips"),
    Scheme("int8-dynamic", "onnxruntime.quantization quantize_dynamic", False, "mixed",
           "dynamic int8 for MatMul/Gemm only (ConvInteger is slower than fp32 convolutions)"),
)

BACKEND = Backend(
    name="onnx", runtime="onnxruntime", tools=("onnx", "onnxscript", "onnxruntime"),
    runtime_modules=("onnxruntime",),
    targets=(
        Target("onnx", "onnx", "onnx", "onnxruntime", "cpu", "fp32", None,
               "ONNX for ONNX Runtime (reference, desktop)",
               rewrites=("freeze_weight_derived",), schemes=_SCHEMES),
    ),
)
