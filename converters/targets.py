"""The targets mobilekit converts to, in one place: which converter module builds each one,
the file it writes, the runtime that runs it on the device, compute units and precision.

Names and runtimes match the wire format (mobilekit.collector.wire.TARGETS / RUNTIMES).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mobilekit.errors import MobilekitError


@dataclass(frozen=True)
class Target:
    name: str
    module: str            # converters.<module> has `convert(job) -> dict`
    extension: str         # the artifact file's extension, without the dot
    runtime: str           # wire-format runtime on the device
    compute_units: str     # Core ML MLComputeUnits name, or "cpu"
    precision: str         # fp32 / fp16 (quantization is a separate pass)
    delegate: str | None   # ExecuTorch backend, where there is one
    host_runtime: bool     # a runtime for this file runs on Linux hosts (validation, bench)
    description: str


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("ane", "coreml", "mlpackage", "coreml", "cpuAndNeuralEngine", "fp16", None, False,
           "Core ML ML program for the iPhone Neural Engine"),
    Target("coreml-gpu", "coreml", "mlpackage", "coreml", "cpuAndGPU", "fp16", None, False,
           "Core ML ML program for the iPhone GPU"),
    Target("coreml-cpu", "coreml", "mlpackage", "coreml", "cpuOnly", "fp32", None, False,
           "Core ML ML program on the CPU, fp32"),
    Target("xnnpack", "executorch", "pte", "executorch", "cpu", "fp32", "xnnpack", True,
           "ExecuTorch with the XNNPACK delegate (Android / iOS CPU)"),
    Target("ptl", "torchscript", "ptl", "pytorch-lite", "cpu", "fp32", None, True,
           "PyTorch Lite interpreter (legacy; what the benchmark paper used on Android)"),
    Target("tflite", "litert", "tflite", "litert", "cpu", "fp32", None, True,
           "LiteRT flatbuffer (Android CPU, XNNPACK inside the interpreter)"),
    Target("onnx", "onnx", "onnx", "onnxruntime", "cpu", "fp32", None, True,
           "ONNX for ONNX Runtime (reference, desktop)"),
    Target("et-coreml", "executorch", "pte", "executorch", "all", "fp16", "coreml", False,
           "ExecuTorch with the Core ML delegate (iOS apps that embed ExecuTorch)"),
)}


def target_names() -> list[str]:
    return list(TARGETS)


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(TARGETS), n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise MobilekitError(f"unknown target {name!r}",
                             f"{hint}choose one of {', '.join(TARGETS)} (or all)") from None
