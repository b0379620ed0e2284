"""Core ML (`ane`, `coreml-gpu`, `coreml-cpu`): weight compression of the converted ML program
with coremltools.optimize.coreml.

- `w8`: linear_quantize_weights, int8 symmetric per channel;
- `palettize4` / `palettize6`: palettize_weights, k-means lookup tables of 16 / 64 values;
- `w8a8`: linear_quantize_activations (calibrated on clips) then linear_quantize_weights.
  Calibrating activations runs Core ML predictions, so it needs macOS; elsewhere it is a
  MobilekitError that says so.

Works on the package the converter wrote (the baseline), so compute precision, deployment
target and I/O names stay the converter's. Weights under `weight_threshold` elements (biases,
norms, small projections) stay uncompressed, as coremltools recommends.
"""

from __future__ import annotations

import platform
import shutil
from collections import Counter
from pathlib import Path

from converters.quantize.job import QuantJob, QuantResult
from mobilekit.errors import MobilekitError

# Compression ops a compressed ML program holds instead of plain const weights (iOS 16/17
# constexpr ops; iOS 18's blockwise/lut forms for completeness).
COMPRESSED_OPS = ("constexpr_affine_dequantize", "constexpr_lut_to_dense", "constexpr_blockwise_shift_scale")
WEIGHT_THRESHOLD = 2048


def require_platform(scheme: str) -> None:
    """W8A8 calibrates activations with Core ML predictions: a clear error off macOS."""
    if scheme == "w8a8" and platform.system() != "Darwin":
        raise MobilekitError("Core ML w8a8 calibrates activations with Core ML predictions, which need macOS",
                             "run `mobilekit quantize --scheme w8a8` on a Mac, or use w8, palettize4 or "
                             "palettize6 here")


def _weight_config(cto, scheme: str):
    if scheme in ("w8", "w8a8"):
        op = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                         weight_threshold=WEIGHT_THRESHOLD)
    else:
        op = cto.OpPalettizerConfig(mode="kmeans", nbits=int(scheme.removeprefix("palettize")),
                                    granularity="per_tensor", weight_threshold=WEIGHT_THRESHOLD)
    return cto.OptimizationConfig(global_config=op)


def op_counts(package: str | Path) -> Counter:
    """Op types in a saved ML program's main function (read from the spec; works on Linux)."""
    import coremltools as ct

    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    counts: Counter = Counter()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            counts.update(op.type for op in block.operations)
    return counts


def quantize(job: QuantJob) -> QuantResult:
    require_platform(job.scheme.name)
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    # Activation calibration runs predict (macOS): load the model only when it is needed.
    mlmodel = ct.models.MLModel(str(job.baseline), skip_model_load=job.scheme.name != "w8a8")
    notes: list[str] = []
    if job.scheme.name == "w8a8":
        act = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
        mlmodel = cto.linear_quantize_activations(mlmodel, act, [{job.input_name: c} for c in job.calibration])
    compressed = (cto.linear_quantize_weights if job.scheme.name in ("w8", "w8a8") else cto.palettize_weights)(
        mlmodel, _weight_config(cto, job.scheme.name))
    if job.path.exists():
        shutil.rmtree(job.path)
    compressed.save(str(job.path))
    ops = op_counts(job.path)
    n_compressed = sum(ops[o] for o in COMPRESSED_OPS)
    if n_compressed == 0:
        notes.append(f"no weight tensor has {WEIGHT_THRESHOLD} or more elements: nothing was compressed")
    else:
        notes.append(f"{n_compressed} weight tensors compressed "
                     f"({', '.join(f'{o} x{ops[o]}' for o in COMPRESSED_OPS if ops[o])})")
    return QuantResult(notes=notes)
