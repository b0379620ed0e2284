"""ONNX Runtime: `int8` (static QDQ, per-channel int8 weights, uint8 activations calibrated on
clips with a CalibrationDataReader) and `int8-dynamic` (MatMul/Gemm only).

Activations are uint8 (U8S8), not int8, because that is what ONNX Runtime's CPU provider
runs as integer kernels on x86: with int8 activations (S8S8) onnxruntime 1.32 fused only 27
of tsn_b0's 81 QDQ convolutions into QLinearConv and ran the other 54 as fp32 Conv between a
DequantizeLinear and a QuantizeLinear (372 + 206 of them per run), 3.9x slower than fp32 at
8x112, 1 thread (onnxruntime's profiler; issue #20). U8S8 fuses all 81; on ARM the same
U8S8 model runs on the provider's integer kernels too. What stays slow there is elementwise:
SiLU and squeeze-excite gates become QLinearSigmoid + QLinearMul, which cost about what
fp32's fused x*sigmoid(x) does (keeping them in float adds a DequantizeLinear/QuantizeLinear
pair per gate and was no faster).

Works on the fp32 .onnx the converter wrote (the baseline). Dynamic quantization is limited to
MatMul/Gemm because on convolutions it produces ConvInteger, which ONNX Runtime runs slower
than fp32 convolutions; static QDQ covers convolutions properly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from converters.quantize.job import QuantJob, QuantResult


def _clip_reader(input_name: str, clips: list[np.ndarray]):
    from onnxruntime.quantization import CalibrationDataReader

    class ClipReader(CalibrationDataReader):
        """Feeds the calibration clips one at a time."""

        def __init__(self):
            self._clips = iter(clips)

        def get_next(self):
            clip = next(self._clips, None)
            return None if clip is None else {input_name: clip}

    return ClipReader()


def _preprocessed(baseline: Path, work: Path, notes: list[str]) -> Path:
    """The model after ONNX Runtime's recommended pre-processing (shape inference and graph
    optimisation, so quantization sees fused ops); the original if that step fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = work / "preprocessed.onnx"
    try:
        quant_pre_process(str(baseline), str(out))
        return out
    except Exception as e:  # the pre-processing is an optimisation, not a requirement
        notes.append(f"onnxruntime pre-processing skipped ({type(e).__name__}: {str(e)[:80]})")
        return baseline


def quantize(job: QuantJob) -> QuantResult:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mobilekit-onnx-q-") as tmp:
        source = _preprocessed(job.baseline, Path(tmp), notes)
        if job.scheme.name == "int8-dynamic":
            quantize_dynamic(source, job.path, op_types_to_quantize=["MatMul", "Gemm"],
                             per_channel=False, weight_type=QuantType.QInt8)
            notes.append("dynamic int8 on MatMul/Gemm only; convolutions stay fp32 (ConvInteger is slower)")
        else:
            quantize_static(source, job.path, _clip_reader(job.input_name, job.calibration),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            notes.append("static QDQ with uint8 activations and per-channel int8 weights (U8S8: what ONNX "
                         "Runtime's CPU provider fuses into integer convolutions)")
    return QuantResult(notes=notes)
