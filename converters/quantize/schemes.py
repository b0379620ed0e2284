"""Which quantization schemes each target supports, in one place.

Scheme names are shared across targets where they mean the same thing: `int8` is static int8
(weights and activations, activation ranges calibrated on clips), `int8-dynamic` quantizes
weights to int8 and activations at run time (no calibration). Core ML's schemes are its own
weight-compression modes (`w8`, `palettize4`, `palettize6`) and `w8a8`.
"""

from __future__ import annotations

from dataclasses import dataclass

from converters.targets import get_target
from mobilekit.errors import MobilekitError


@dataclass(frozen=True)
class Scheme:
    name: str
    module: str              # converters.quantize.<module> has `quantize(job) -> QuantResult`
    tool: str                # the library that quantizes, for the manifest
    calibrated: bool         # needs calibration clips (activation ranges)
    precision: str           # the manifest's precision after quantization
    description: str


_XNNPACK = (
    Scheme("int8", "xnnpack", "torchao pt2e + ExecuTorch XNNPACKQuantizer", True, "int8",
           "static int8: per-channel weights, per-tensor activations calibrated on clips"),
    Scheme("int8-dynamic", "xnnpack", "torchao pt2e + ExecuTorch XNNPACKQuantizer", False, "mixed",
           "int8 weights and run-time activation ranges, Linear layers only (convolutions stay fp32: "
           "whole-model dynamic quantization fails on the 5-D video input in ExecuTorch 1.5.1)"),
)
_COREML = (
    Scheme("w8", "coreml", "coremltools.optimize linear_quantize_weights", False, "mixed",
           "int8 weights (linear symmetric, per channel), fp16/fp32 compute"),
    Scheme("palettize4", "coreml", "coremltools.optimize palettize_weights", False, "mixed",
           "4-bit k-means lookup tables for the weights (16 values per tensor)"),
    Scheme("palettize6", "coreml", "coremltools.optimize palettize_weights", False, "mixed",
           "6-bit k-means lookup tables for the weights (64 values per tensor)"),
    Scheme("w8a8", "coreml", "coremltools.optimize linear_quantize_activations + linear_quantize_weights",
           True, "int8", "int8 weights and activations calibrated on clips (needs macOS: Core ML predictions)"),
)
_TFLITE = (
    Scheme("int8", "tflite", "litert-torch PT2EQuantizer (static)", True, "int8",
           "full int8 calibrated on clips; the model's input and output are int8 (scale and zero "
           "point in the manifest)"),
    Scheme("int8-dynamic", "tflite", "litert-torch PT2EQuantizer (dynamic range)", False, "mixed",
           "dynamic-range int8: int8 weights, activations quantized at run time"),
)
_ONNX = (
    Scheme("int8", "onnx", "onnxruntime.quantization quantize_static (QDQ)", True, "int8",
           "static int8 QDQ, per-channel weights, activation ranges calibrated on clips"),
    Scheme("int8-dynamic", "onnx", "onnxruntime.quantization quantize_dynamic", False, "mixed",
           "dynamic int8 for MatMul/Gemm only (ConvInteger is slower than fp32 convolutions)"),
)

SCHEMES: dict[str, tuple[Scheme, ...]] = {
    "xnnpack": _XNNPACK, "ane": _COREML, "coreml-gpu": _COREML, "coreml-cpu": _COREML,
    "tflite": _TFLITE, "onnx": _ONNX,
}


def schemes_for(target: str) -> list[str]:
    """Scheme names a target supports (empty for targets without a quantization pass)."""
    return [s.name for s in SCHEMES.get(get_target(target).name, ())]


def get_scheme(target: str, scheme: str) -> Scheme:
    """The scheme, or a MobilekitError listing what the target supports."""
    tgt = get_target(target)
    options = SCHEMES.get(tgt.name, ())
    for s in options:
        if s.name == scheme:
            return s
    if not options:
        with_schemes = ", ".join(t for t in SCHEMES)
        raise MobilekitError(f"target {tgt.name} has no quantization schemes",
                             f"quantize for one of {with_schemes}")
    raise MobilekitError(f"scheme {scheme!r} is not supported for {tgt.name}",
                         f"{tgt.name} supports {', '.join(s.name for s in options)}")
