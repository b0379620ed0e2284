"""Quantization passes, one module per target family, behind one entry point.

    from converters.quantize import quantize
    art = quantize("vlf_b0", "xnnpack", "int8", calibration="data/clips", samples=64)
    art.manifest["quantization"]["report"]   # size / latency before-after, top-1 agreement, cosine

Schemes (converters.quantize.schemes.SCHEMES): xnnpack int8, int8-dynamic (xnnpack.py);
ane / coreml-gpu / coreml-cpu w8, palettize4, palettize6, w8a8 (coreml.py, w8a8 on macOS);
tflite int8, int8-dynamic (tflite.py); onnx int8, int8-dynamic (onnx.py). Calibration and
held-out clips come from a dataset folder or the synthetic dataset (calibration.py).
Heavy libraries are imported inside each pass.
"""

from __future__ import annotations

from converters.quantize.api import QuantizationFailed, quantize
from converters.quantize.schemes import SCHEMES, Scheme, get_scheme, schemes_for

__all__ = ["QuantizationFailed", "SCHEMES", "Scheme", "get_scheme", "quantize", "schemes_for"]
