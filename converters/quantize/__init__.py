"""Quantization passes, one module per target family, behind one entry point.

    from converters.quantize import quantize
    art = quantize("vlf_b0", "xnnpack", "int8", calibration="data/clips", samples=64)
    art.manifest["quantization"]["report"]   # size / latency before-after, top-1 agreement, cosine

Each target's schemes are declared by its backend (converters.backends: `Target.schemes`)
and carried out by the backend's quantize.py; this package holds what they share: the
entry point (api.py), calibration and held-out clips (calibration.py), PT2E (pt2e.py) and
the agreement report (report.py).
"""

from __future__ import annotations

from converters.quantize.api import QuantizationFailed, quantize
from converters.backends import Scheme, get_scheme, schemes_for

__all__ = ["QuantizationFailed", "Scheme", "get_scheme", "quantize", "schemes_for"]
