"""LiteRT (.tflite, the successor of TensorFlow Lite): `tflite`, converted by litert-torch.
On the device it runs on the CPU (XNNPACK inside the interpreter) or, for the same file,
LiteRT's GPU delegate (`mobilekit android run --compute-unit gpu`).

    lower.py     litert_torch.convert -> .tflite
    runtime.py   ai-edge-litert's Interpreter
    compat.py    builtin vs custom / Flex ops, the GPU delegate's analyzer
    quantize.py  PT2E int8 (static, dynamic range) with litert-torch's quantizer
"""

from __future__ import annotations

from converters.backends.base import Backend, Scheme, Target

_SCHEMES = (
    Scheme("int8", "litert-torch PT2EQuantizer (static)", True, "int8",
           "full int8 calibrated on clips; the model's input and output are int8 (scale and zero "
           "point in the manifest)", float_layers=True, tools=("torchao",)),
    Scheme("int8-dynamic", "litert-torch PT2EQuantizer (dynamic range)", False, "mixed",
           "dynamic-range int8: int8 weights, activations quantized at run time",
           float_layers=True, tools=("torchao",)),
)

BACKEND = Backend(
    name="litert", runtime="litert", tools=("litert-torch", "ai-edge-litert"),
    runtime_modules=("ai_edge_litert.interpreter",),
    targets=(
        # litert-torch 0.10 crashes the whole process (a segfault in libLiteRTCompilerMLIR) on
        # a plain conv3d (x3d_xs, measured); the conv2d-sum form converts and validates.
        Target("tflite", "litert", "tflite", "litert", "cpu", "fp32", None,
               "LiteRT flatbuffer (Android CPU, XNNPACK inside the interpreter; GPU delegate on the device)",
               rewrites=("freeze_weight_derived", "rewrite_conv3d"), schemes=_SCHEMES,
               graph_passes=("conv3d_as_conv2d", "batch_norm_5d_as_4d"),
               device_compute_units=("cpu", "gpu"), apps=("android",)),
    ),
)
